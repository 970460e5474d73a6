#!/usr/bin/env node
/**
 * `npm run bench`: the same workloads on do-workflows and on miniflare's built-in Workflows
 * engine, in one run, against bare Durable Object floors. It bundles bench/worker.ts (which binds
 * both engines and the floor object) with esbuild, and for every round of every workload starts
 * one fresh Miniflare (workerd) per engine; round 0 is a warm-up. It prints medians and ratios.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_ONLY (comma-separated workload keys),
 * BENCH_ENGINES (a subset of ours,native,floor), BENCH_JSON (a path to write the raw results to).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ONLY = process.env.BENCH_ONLY?.split(",").filter(Boolean);

/** Workloads, in the order of priority. `floor`: the storage floor it is measured against. */
const WORKLOADS = [
	{
		key: "steps",
		label: "1. 1,000 sequential step.do, one instance",
		workload: "steps",
		n: 1000,
		floor: true,
	},
	{
		key: "journal",
		label: "1b. floor shaped like a step's journal calls, 1,000 times",
		workload: "journal",
		n: 1000,
		only: "floor",
	},
	{
		key: "journal-timer",
		label: "1c. as 1b, plus a timeout timer per attempt",
		workload: "journal-timer",
		n: 1000,
		only: "floor",
	},
	{
		key: "instances",
		label: "2. 1,000 two-step instances (createBatch 10x100)",
		workload: "instances",
		n: 1000,
		floor: true,
		warmN: 100,
	},
	{ key: "sleepy10", label: "4. 10 steps, 1 ms sleep after each", workload: "sleepy", n: 10 },
	{ key: "sleepy100", label: "4. 100 steps, 1 ms sleep after each", workload: "sleepy", n: 100 },
	{
		key: "wake",
		label: "3. 200 instances sleeping 1 s: wake lateness",
		workload: "wake",
		n: 200,
		warmN: 100,
	},
];

const dir = mkdtempSync(join(tmpdir(), "do-workflows-bench-"));
const bundle = join(dir, "worker.js");
await build({
	entryPoints: [join(ROOT, "bench", "worker.ts")],
	outfile: bundle,
	bundle: true,
	format: "esm",
	platform: "neutral",
	target: "es2022",
	mainFields: ["module", "main"],
	conditions: ["workerd", "worker", "import"],
	external: ["cloudflare:*", "node:*"],
	logLevel: "warning",
});

/**
 * A fresh runtime (one workerd process, state on disk in a temporary directory, as `wrangler dev`
 * stores it) for each engine in each round of each workload: thousands of SQLite-backed objects accumulating in
 * one workerd made it fail with SQLITE_NOMEM, in memory and on disk alike, and a fresh runtime
 * also keeps one round's leftovers (objects, alarms, timers) out of the next round's figures.
 */
async function withRuntime(fn) {
	const state = mkdtempSync(join(dir, "state-"));
	const mf = new Miniflare({
		modules: true,
		scriptPath: bundle,
		modulesRoot: dir,
		compatibilityDate: "2026-04-01",
		compatibilityFlags: ["nodejs_compat"],
		durableObjects: {
			OURS: { className: "OursEngine", useSQLite: true },
			FLOOR: { className: "Floor", useSQLite: true },
		},
		workflows: { NATIVE: { name: "bench", className: "NativeBench" } },
		defaultPersistRoot: state,
		durableObjectsPersist: true,
		workflowsPersist: true,
	});
	try {
		await mf.ready;
		return await fn(mf);
	} finally {
		await mf.dispose();
		rmSync(state, { recursive: true, force: true });
	}
}

let seq = 0;
async function run(mf, workload, engine, n) {
	const tag = `${engine}-${seq++}`;
	const url = `http://bench/run?workload=${workload}&engine=${engine}&n=${n}&tag=${tag}`;
	const response = await mf.dispatchFetch(url, { method: "POST" });
	const body = await response.json();
	if (!response.ok || body.error)
		throw new Error(`${workload}/${engine}: ${body.error ?? response.status}`);
	return body;
}

const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = {};
try {
	const selected = WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.key));
	for (const w of selected) {
		const engines = (w.only ? [w.only] : ["ours", "native", ...(w.floor ? ["floor"] : [])]).filter(
			(e) => !process.env.BENCH_ENGINES || process.env.BENCH_ENGINES.split(",").includes(e),
		);
		results[w.key] = Object.fromEntries(engines.map((e) => [e, []]));
		process.stderr.write(`${w.label}: rounds`);
		// Round 0 is a warm-up whose figures are dropped.
		for (let r = 0; r <= ROUNDS; r++) {
			// Each engine gets its own fresh runtime, warms up in it on a tenth of the workload (at
			// least 100 instances for the batched ones), then runs it once, measured. Sharing one
			// runtime made whichever engine ran first after the warm-ups about 2 s slower on workload
			// 2, whatever the engine. The order alternates between rounds.
			const order = r % 2 ? [...engines].reverse() : engines;
			for (const e of order) {
				await withRuntime(async (mf) => {
					await run(mf, w.workload, e, w.warmN ?? Math.max(1, w.n / 10));
					const result = await run(mf, w.workload, e, w.n);
					if (r > 0) results[w.key][e].push(result);
				});
			}
			process.stderr.write(r === 0 ? " warm-up" : ` ${r}`);
		}
		process.stderr.write("\n");
	}
} finally {
	rmSync(dir, { recursive: true, force: true });
}

// ---- the table ----
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const ratio = (a, b) =>
	Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${fmt(b / a, 1)}x` : "-";
const rows = [];
for (const w of WORKLOADS) {
	const r = results[w.key];
	if (!r) continue;
	if (w.only === "floor" && r.floor) {
		const floor = median(r.floor.map((x) => x.ms));
		const steps = results.steps?.ours ? median(results.steps.ours.map((x) => x.ms)) : Number.NaN;
		rows.push({
			workload: w.label,
			ours: "-",
			builtin: "-",
			floor: `${fmt(floor)} ms`,
			"built-in / ours": "",
			"ours / floor": Number.isFinite(steps) ? `${fmt(steps / floor, 1)}x` : "-",
		});
		continue;
	}
	if (!r.ours || !r.native) continue;
	const ours = median(r.ours.map((x) => x.ms));
	const native = median(r.native.map((x) => x.ms));
	const floor = r.floor ? median(r.floor.map((x) => x.ms)) : Number.NaN;
	rows.push({
		workload: w.label,
		ours: `${fmt(ours)} ms`,
		builtin: `${fmt(native)} ms`,
		floor: r.floor ? `${fmt(floor)} ms` : "-",
		"built-in / ours": ratio(ours, native),
		"ours / floor": r.floor ? `${fmt(ours / floor, 1)}x` : "-",
	});
	if (w.workload === "steps") {
		rows.push({
			workload: "   per step",
			ours: `${fmt((ours * 1000) / w.n, 0)} µs`,
			builtin: `${fmt((native * 1000) / w.n, 0)} µs`,
			floor: `${fmt((floor * 1000) / w.n, 0)} µs`,
			"built-in / ours": "",
			"ours / floor": "",
		});
	}
	if (w.workload === "instances") {
		rows.push({
			workload: "   instances / s",
			ours: fmt((w.n * 1000) / ours, 0),
			builtin: fmt((w.n * 1000) / native, 0),
			floor: fmt((w.n * 1000) / floor, 0),
			"built-in / ours": "",
			"ours / floor": "",
		});
	}
	if (w.workload === "wake") {
		for (const p of ["p50", "p99", "max"]) {
			const o = median(r.ours.map((x) => x[p]));
			const b = median(r.native.map((x) => x[p]));
			rows.push({
				workload: `   lateness ${p}`,
				ours: `${fmt(o, 0)} ms`,
				builtin: `${fmt(b, 0)} ms`,
				floor: "-",
				"built-in / ours": "",
				"ours / floor": "",
			});
		}
	}
}

const cols = Object.keys(rows[0] ?? {});
const widths = cols.map((c) => Math.max(c.length, ...rows.map((row) => String(row[c]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
console.log(
	`\nMedians of ${ROUNDS} rounds after a warm-up; ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ` +
		`${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString()}\n`,
);
console.log(line(cols));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(cols.map((c) => row[c])));
console.log(
	"\nbuilt-in / ours: how many times faster ours is than miniflare's built-in engine (higher is better).\n" +
		"ours / floor: how many times slower ours is than bare Durable Object storage (1x is the floor).",
);
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
