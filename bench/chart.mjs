/**
 * The bench's chart: plain SVG bars, built by hand (no dependencies), from the raw results of
 * bench/run.mjs. One panel per measure that was run: per-step cost, instance throughput, growth
 * with the number of steps, memory per waiting instance, wake lateness.
 */

import { median } from "./runtime.mjs";

/** @typedef {import("./runtime.mjs").Engine} Engine */
/** @typedef {import("./runtime.mjs").Results} Results */
/** @typedef {Pick<import("./run.mjs").Workload, "key" | "workload" | "n">} Workload */
/** @typedef {{ label: string, value: number, color: string, text: string }} Bar */
/** @typedef {{ title: string, note: string, bars: Bar[] }} Panel */

/** @type {Record<Engine, string>} */
const COLORS = { ours: "#f6821f", native: "#5f6b7a", floor: "#b8c0cc" };
/** @type {Record<Engine, string>} */
const NAMES = { ours: "do-workflows", native: "built-in engine", floor: "floor" };

const WIDTH = 760;
const LABEL = 210;
const BAR_AREA = 430;
const BAR = 18;
const GAP = 6;

/** @param {string} text */
const xml = (text) =>
	String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** @param {number} x */
function number(x) {
	if (x >= 100) return Math.round(x).toLocaleString("en-US");
	if (x >= 10) return x.toFixed(1);
	return x.toFixed(2);
}

/**
 * The median of field `field` of engine `engine` in workload `key`, or NaN.
 * @param {Results} results
 * @param {string} key
 * @param {Engine} engine
 * @param {"ms" | "p50" | "perInstanceKiB"} [field]
 */
function med(results, key, engine, field = "ms") {
	const runs = results[key]?.[engine];
	return runs?.length ? median(runs.map((r) => r[field] ?? Number.NaN)) : Number.NaN;
}

/**
 * The panels the results allow.
 * @param {Results} results
 * @param {readonly Workload[]} workloads
 * @returns {Panel[]}
 */
function panels(results, workloads) {
	/** @type {Panel[]} */
	const out = [];
	/** @param {string} key */
	const n = (key) => workloads.find((w) => w.key === key)?.n ?? Number.NaN;
	/**
	 * @param {string} label
	 * @param {Engine} engine
	 * @param {number} value
	 * @param {string} unit
	 * @returns {Bar}
	 */
	const bar = (label, engine, value, unit, color = COLORS[engine]) => ({
		label,
		value,
		color,
		text: `${number(value)} ${unit}`,
	});
	/** @param {Bar[]} bars */
	const keep = (bars) => bars.filter((b) => Number.isFinite(b.value));

	if (results.steps) {
		/** @param {Engine} engine */
		const per = (engine) => (med(results, "steps", engine) * 1000) / n("steps");
		const journal = (med(results, "journal", "floor") * 1000) / n("journal");
		out.push({
			title: "1. Cost of one step.do (1,000 sequential steps, one instance)",
			note: "µs per step, lower is better",
			bars: keep([
				bar(NAMES.ours, "ours", per("ours"), "µs"),
				bar(NAMES.native, "native", per("native"), "µs"),
				bar("floor: a step's journal calls", "floor", journal, "µs"),
				bar("floor: one SQLite write", "floor", per("floor"), "µs"),
			]),
		});
	}
	if (results.instances) {
		/**
		 * @param {string} key
		 * @param {Engine} engine
		 */
		const rate = (key, engine) => (n(key) * 1000) / med(results, key, engine);
		/** @type {Bar[]} */
		const bars = [];
		for (const [key, where] of [
			["instances", "state on disk"],
			["instances-tmpfs", "state in memory"],
		]) {
			if (!results[key]) continue;
			bars.push(
				bar(`${NAMES.ours}, ${where}`, "ours", rate(key, "ours"), "/s"),
				bar(`${NAMES.native}, ${where}`, "native", rate(key, "native"), "/s"),
				bar(`floor, ${where}`, "floor", rate(key, "floor"), "/s"),
			);
		}
		out.push({
			title: "2. Throughput: 1,000 two-step instances (createBatch 10×100) until all complete",
			note: "instances per second, higher is better; floor: new bare objects, two writes each",
			bars: keep(bars),
		});
	}
	if (results.wake) {
		out.push({
			title: "3. Wake lateness: 200 instances sleeping 1 s",
			note: "ms late, median, lower is better",
			bars: keep([
				bar(NAMES.ours, "ours", med(results, "wake", "ours", "p50"), "ms"),
				bar(NAMES.native, "native", med(results, "wake", "native", "p50"), "ms"),
			]),
		});
	}
	const sleepy = workloads.filter((w) => w.workload === "sleepy" && results[w.key]);
	if (sleepy.length) {
		/** @type {Bar[]} */
		const bars = [];
		for (const engine of /** @type {const} */ (["ours", "native"])) {
			for (const w of sleepy) {
				const label = `${NAMES[engine]}, N = ${w.n.toLocaleString("en-US")}`;
				bars.push(bar(label, engine, med(results, w.key, engine) / w.n, "ms"));
			}
		}
		out.push({
			title: "4. N steps with a 1 ms sleep after each: time per step + sleep",
			note: "ms per step, lower is better; flat as N grows means linear total time",
			bars: keep(bars),
		});
	}
	if (results.memory) {
		/** @param {Engine} engine */
		const per = (engine) => med(results, "memory", engine, "perInstanceKiB");
		const count = n("memory").toLocaleString("en-US");
		out.push({
			title: `6. Memory: ${count} instances waiting for an event (workerd peak RSS)`,
			note: "KiB per waiting instance, lower is better",
			bars: keep([
				bar(NAMES.ours, "ours", per("ours"), "KiB"),
				bar(NAMES.native, "native", per("native"), "KiB"),
				bar("floor: bare objects, two writes", "floor", per("floor"), "KiB"),
			]),
		});
	}
	return out.filter((p) => p.bars.length);
}

/**
 * The chart as an SVG document; `caption`: lines under the title (date, machine).
 * @param {Results} results
 * @param {readonly Workload[]} workloads
 * @param {readonly string[]} caption
 * @returns {string}
 */
export function chart(results, workloads, caption) {
	/** @type {string[]} */
	const parts = [];
	let y = 28;
	parts.push(
		`<text x="16" y="${y}" class="h1">do-workflows vs miniflare's built-in Workflows engine</text>`,
	);
	y += 4;
	for (const text of caption) {
		y += 16;
		parts.push(`<text x="16" y="${y}" class="note">${xml(text)}</text>`);
	}
	y += 16;
	for (const panel of panels(results, workloads)) {
		y += 24;
		parts.push(`<text x="16" y="${y}" class="h2">${xml(panel.title)}</text>`);
		y += 16;
		parts.push(`<text x="16" y="${y}" class="note">${xml(panel.note)}</text>`);
		y += 10;
		const max = Math.max(...panel.bars.map((b) => b.value));
		for (const b of panel.bars) {
			const width = max > 0 ? Math.max(1, (b.value / max) * BAR_AREA) : 1;
			parts.push(
				`<text x="${LABEL - 8}" y="${y + BAR - 5}" class="label" text-anchor="end">${xml(b.label)}</text>`,
				`<rect x="${LABEL}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${b.color}"/>`,
				`<text x="${(LABEL + width + 6).toFixed(1)}" y="${y + BAR - 5}" class="value">${xml(b.text)}</text>`,
			);
			y += BAR + GAP;
		}
	}
	y += 16;
	return [
		`<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
		"<title>Per-step cost, throughput, wake lateness, growth with N and memory: do-workflows vs the built-in engine</title>",
		"<style>.h1{font-size:17px;font-weight:700;fill:#1f2328}.h2{font-size:14px;font-weight:600;fill:#1f2328}.note{font-size:12px;fill:#59636e}.label{font-size:12px;fill:#1f2328}.value{font-size:12px;font-weight:600;fill:#1f2328}</style>",
		`<rect width="${WIDTH}" height="${y}" fill="#ffffff"/>`,
		...parts,
		"</svg>",
		"",
	].join("\n");
}
