#!/usr/bin/env node
/**
 * `npm run bench`: the same workloads on do-workflows and on miniflare's built-in Workflows
 * engine, in one run, against bare Durable Object floors. It bundles bench/worker.ts (which binds
 * both engines and the floor object) with esbuild, and for every round of every workload starts
 * one fresh Miniflare (workerd) per engine; round 0 is a warm-up. It prints medians and ratios.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_ONLY (comma-separated workload keys),
 * BENCH_ENGINES (a subset of ours,native,floor), BENCH_JSON (a path to write the raw results to),
 * BENCH_FROM_JSON (print the table and draw the chart from raw results saved before, running
 * nothing), BENCH_SVG (where to write the chart; by default docs/performance.svg, and only after
 * a run of every workload on every engine).
 */
import {
	existsSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	readlinkSync,
	rmSync,
	writeFileSync,
} from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { chart } from "./chart.mjs";
import { bundleWorker, median, runtimeOptions, workerdPids } from "./runtime.mjs";

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
		label: "1b. floor shaped like a step's journal calls (insert, KV put, update), 1,000 times",
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
	{
		key: "instances-tmpfs",
		label: "2t. as 2, state in memory (tmpfs, /dev/shm)",
		workload: "instances",
		n: 1000,
		floor: true,
		warmN: 100,
		// On disk, creating each object's SQLite files and syncing them takes most of workload 2's
		// time, whatever the engine; in memory, what is left is the engines' own work.
		stateRoot: "/dev/shm",
	},
	{ key: "sleepy10", label: "4. 10 steps, 1 ms sleep after each", workload: "sleepy", n: 10 },
	{ key: "sleepy100", label: "4. 100 steps, 1 ms sleep after each", workload: "sleepy", n: 100 },
	{
		key: "sleepy1000",
		label: "4. 1,000 steps, 1 ms sleep after each",
		workload: "sleepy",
		n: 1000,
	},
	{
		key: "memory",
		label: "6. 10,000 waiting instances: workerd memory",
		workload: "idle",
		n: 10_000,
		floor: true,
		memory: true,
		perRuntime: 1000,
		rounds: 1,
	},
	{
		key: "capacity",
		label: "6b. waiting instances one workerd holds before a creation fails",
		workload: "idle",
		n: 10_000,
		floor: true,
		capacity: true,
		rounds: 1,
	},
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
await bundleWorker(join(ROOT, "bench", "worker.ts"), bundle, { logLevel: "warning" });

/**
 * A fresh runtime (one workerd process, state on disk in a temporary directory, as `wrangler dev`
 * stores it) for each engine in each round of each workload, so one round's leftovers (objects,
 * alarms, timers) stay out of the next round's figures. One workerd also holds only so many open
 * SQLite-backed objects at once (workload 6b). `stateRoot`: where to keep the state instead of
 * the temporary directory. `stderr`: a function that takes workerd's output lines instead of
 * printing them. Returns the runtime and the pid of its workerd process.
 */
async function startRuntime({ stderr, stateRoot } = {}) {
	const before = new Set(workerdPids());
	const state = mkdtempSync(join(stateRoot ?? dir, "do-workflows-bench-state-"));
	const mf = new Miniflare({
		...runtimeOptions({ scriptPath: bundle, modulesRoot: dir, state }),
		...(stderr && {
			handleRuntimeStdio(out, err) {
				out.resume();
				err.setEncoding("utf8");
				err.on("data", (chunk) => {
					for (const line of chunk.split("\n")) if (line) stderr(line);
				});
			},
		}),
	});
	const dispose = async () => {
		await mf.dispose();
		rmSync(state, { recursive: true, force: true });
	};
	try {
		await mf.ready;
	} catch (error) {
		await dispose();
		throw error;
	}
	return { mf, pid: workerdPids().find((pid) => !before.has(pid)), dispose };
}

async function withRuntime(fn, options) {
	const runtime = await startRuntime(options);
	try {
		return await fn(runtime.mf, runtime.pid);
	} finally {
		await runtime.dispose();
	}
}

let seq = 0;
/** One request to the bench Worker; `params`: more query parameters (workload 6's tag, offset, timeout). */
async function run(mf, workload, engine, n, params = {}) {
	const query = new URLSearchParams({ workload, engine, n, tag: `${engine}-${seq++}`, ...params });
	const response = await mf.dispatchFetch(`http://bench/run?${query}`, { method: "POST" });
	const body = await response.json();
	if (!response.ok || body.error)
		throw new Error(`${workload}/${engine}: ${body.error ?? response.status}`);
	return body;
}

/**
 * A workerd process's resident memory now (VmRSS) and its peak so far (VmHWM), in MiB, and the
 * SQLite databases it has open (each SQLite-backed object in memory holds its file open).
 */
function memoryOf(pid) {
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	const mib = (field) =>
		Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? Number.NaN) / 1024;
	let databases = 0;
	for (const fd of readdirSync(`/proc/${pid}/fd`)) {
		try {
			if (readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith(".sqlite")) databases++;
		} catch {
			// Closed while we looked.
		}
	}
	return { rss: mib("VmRSS"), hwm: mib("VmHWM"), databases };
}

/**
 * Workload 6: `w.n` waiting instances (bare objects with two writes each, for the floor), spread
 * over runtimes of `w.perRuntime` each, all alive at once: one workerd cannot hold 10,000
 * (workload 6b). Each runtime is filled in turn, 1,000 instances per request, after its idle
 * memory is read; once all are filled, every runtime's peak is read. Per instance: the sum of the
 * peaks above each runtime's idle memory, divided by the number of instances.
 */
async function measureMemory(w, engine) {
	const runtimes = [];
	try {
		const t0 = Date.now();
		for (let first = 0; first < w.n; first += w.perRuntime) {
			const runtime = await startRuntime();
			runtimes.push(runtime);
			await run(runtime.mf, "noop", engine, 0);
			runtime.idle = memoryOf(runtime.pid).rss;
			runtime.tag = `${engine}-${seq++}`;
			runtime.count = Math.min(w.perRuntime, w.n - first);
			for (let offset = 0; offset < runtime.count; offset += 1000) {
				const n = Math.min(1000, runtime.count - offset);
				await run(runtime.mf, "idle-create", engine, n, { tag: runtime.tag, offset });
			}
			const { arrived } = await run(runtime.mf, "idle-wait", engine, runtime.count, {
				tag: runtime.tag,
			});
			if (arrived < runtime.count)
				throw new Error(`memory/${engine}: ${arrived} of ${runtime.count} instances started`);
		}
		const ms = Date.now() - t0;
		await new Promise((resolve) => setTimeout(resolve, 2000));
		const result = {
			ms,
			runtimes: runtimes.length,
			idleMiB: 0,
			peakMiB: 0,
			rssMiB: 0,
			databases: 0,
		};
		for (const runtime of runtimes) {
			const m = memoryOf(runtime.pid);
			result.idleMiB += runtime.idle;
			result.peakMiB += m.hwm - runtime.idle;
			result.rssMiB += m.rss - runtime.idle;
			result.databases += m.databases;
		}
		result.idleMiB /= runtimes.length;
		result.perInstanceKiB = (result.peakMiB * 1024) / w.n;
		if (engine !== "floor") {
			// Every 100th instance must still be waiting: the figures are for waiting instances.
			for (const runtime of runtimes) {
				const { bad } = await run(runtime.mf, "idle-check", engine, runtime.count, {
					tag: runtime.tag,
					offset: 100,
				});
				if (bad) throw new Error(`memory/${engine}: ${bad} sampled instances are not waiting`);
			}
		}
		return result;
	} finally {
		for (const runtime of runtimes) await runtime.dispose();
	}
}

/**
 * Workload 6b: how many waiting instances (bare objects for the floor) one workerd holds. It
 * creates them 500 per request, as fast as it can, until a creation fails or some instances never
 * start (the built-in engine accepts them, and its objects fail in the background), and reports
 * how many had started, how many SQLite databases the process had open then (each object in
 * memory holds its file open), and the first SQLite error workerd logged.
 */
async function measureCapacity(w, engine) {
	let firstError;
	return withRuntime(
		async (mf, pid) => {
			const tag = `${engine}-${seq++}`;
			let started = 0;
			let failed = false;
			while (!failed && started < w.n) {
				try {
					await run(mf, "idle-create", engine, 500, { tag, offset: started });
				} catch {
					failed = true;
				}
				const { arrived } = await run(mf, "idle-wait", engine, started + 500, {
					tag,
					timeout: 10_000,
				});
				if (arrived < started + 500) failed = true;
				started = engine === "floor" && failed ? started : arrived;
			}
			const { databases, hwm } = memoryOf(pid);
			return { ms: 0, started, databases, peakMiB: hwm, failed, error: firstError };
		},
		{
			stderr(line) {
				firstError ??= line.match(/SQLITE_(?!OK\b)\w+|Too many open files/)?.[0];
			},
		},
	);
}

const FROM_JSON = process.env.BENCH_FROM_JSON;
const results = FROM_JSON ? JSON.parse(readFileSync(FROM_JSON, "utf8")) : {};
try {
	const selected = FROM_JSON
		? []
		: WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.key)).filter(
				(w) => !w.stateRoot || existsSync(w.stateRoot),
			);
	for (const w of selected) {
		const engines = (w.only ? [w.only] : ["ours", "native", ...(w.floor ? ["floor"] : [])]).filter(
			(e) => !process.env.BENCH_ENGINES || process.env.BENCH_ENGINES.split(",").includes(e),
		);
		results[w.key] = Object.fromEntries(engines.map((e) => [e, []]));
		process.stderr.write(`${w.label}: rounds`);
		// Round 0 is a warm-up whose figures are dropped; workloads 6 and 6b measure a fresh
		// runtime, so they have none.
		const once = w.memory || w.capacity;
		const rounds = Math.min(w.rounds ?? ROUNDS, ROUNDS);
		for (let r = once ? 1 : 0; r <= rounds; r++) {
			// Each engine gets its own fresh runtime, warms up in it on a tenth of the workload (at
			// least 100 instances for the batched ones), then runs it once, measured. Sharing one
			// runtime made whichever engine ran first after the warm-ups about 2 s slower on workload
			// 2, whatever the engine. The order alternates between rounds.
			const order = r % 2 ? [...engines].reverse() : engines;
			for (const e of order) {
				if (w.memory) {
					results[w.key][e].push(await measureMemory(w, e));
					continue;
				}
				if (w.capacity) {
					results[w.key][e].push(await measureCapacity(w, e));
					continue;
				}
				await withRuntime(
					async (mf) => {
						await run(mf, w.workload, e, w.warmN ?? Math.max(1, w.n / 10));
						const result = await run(mf, w.workload, e, w.n);
						if (r > 0) results[w.key][e].push(result);
					},
					{ stateRoot: w.stateRoot },
				);
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
	if (w.memory) {
		// Lower is better here: built-in / ours is how many times more memory the built-in uses.
		const peak = (e) => (r[e] ? median(r[e].map((x) => x.peakMiB)) : Number.NaN);
		const per = (e) => (r[e] ? median(r[e].map((x) => x.perInstanceKiB)) : Number.NaN);
		rows.push({
			workload: w.label,
			ours: `${fmt(peak("ours"), 0)} MiB`,
			builtin: `${fmt(peak("native"), 0)} MiB`,
			floor: r.floor ? `${fmt(peak("floor"), 0)} MiB` : "-",
			"built-in / ours": ratio(peak("ours"), peak("native")),
			"ours / floor": r.floor ? `${fmt(peak("ours") / peak("floor"), 1)}x` : "-",
		});
		rows.push({
			workload: "   per instance",
			ours: `${fmt(per("ours"), 0)} KiB`,
			builtin: `${fmt(per("native"), 0)} KiB`,
			floor: r.floor ? `${fmt(per("floor"), 0)} KiB` : "-",
			"built-in / ours": "",
			"ours / floor": "",
		});
		const runtimes = r.ours[0]?.runtimes;
		const idle = median(r.ours.map((x) => x.idleMiB));
		rows.push({
			workload: `   (${runtimes} runtimes of ${w.perRuntime}; idle runtime ${fmt(idle, 0)} MiB)`,
			ours: "",
			builtin: "",
			floor: "",
			"built-in / ours": "",
			"ours / floor": "",
		});
		continue;
	}
	if (w.capacity) {
		const cell = (e) => {
			const x = r[e]?.[0];
			if (!x) return "-";
			return x.failed
				? `${x.started} started, ${x.databases} open (${x.error ?? "?"})`
				: `all ${x.started}`;
		};
		rows.push({
			workload: w.label,
			ours: cell("ours"),
			builtin: cell("native"),
			floor: cell("floor"),
			"built-in / ours": "",
			"ours / floor": "",
		});
		continue;
	}
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
	if (w.workload === "sleepy") {
		// Time per step-plus-sleep: flat from N = 10 to 1,000 if the cost grows linearly with N.
		rows.push({
			workload: "   per step + sleep",
			ours: `${fmt(ours / w.n, 2)} ms`,
			builtin: `${fmt(native / w.n, 2)} ms`,
			floor: "-",
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
// Raw results saved by an earlier run say when, where and with how many rounds they were measured.
const meta = results._meta ?? {};
const when = meta.date ?? new Date().toISOString().slice(0, 10);
const machine =
	meta.machine ??
	`${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const rounds = meta.rounds ?? ROUNDS;
console.log(
	`\nMedians of ${rounds} rounds after a warm-up (workloads 6 and 6b: one run, no warm-up); ` +
		`${machine}, ${when}\n`,
);
console.log(line(cols));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(cols.map((c) => row[c])));
console.log(
	"\nbuilt-in / ours: how many times faster ours is than miniflare's built-in engine (higher is better);\n" +
		"  for memory, how many times more memory the built-in engine takes.\n" +
		"ours / floor: how many times slower ours is than bare Durable Object storage (1x is the floor);\n" +
		"  for memory, how many times more memory ours takes than bare objects.",
);
if (process.env.BENCH_JSON) {
	const saved = { ...results, _meta: { rounds, date: when, machine } };
	writeFileSync(process.env.BENCH_JSON, JSON.stringify(saved, null, 2));
}

// ---- the chart ----
const complete =
	!ONLY && !process.env.BENCH_ENGINES && WORKLOADS.every((w) => results[w.key]) && !FROM_JSON;
const svgPath = process.env.BENCH_SVG ?? (complete ? join(ROOT, "docs", "performance.svg") : "");
if (svgPath) {
	const caption = [
		`npm run bench, ${when}, medians of ${rounds} rounds (bars: the medians)`,
		`${machine}, a shared and noisy VM: read the ratios, not the absolute times`,
	];
	writeFileSync(svgPath, chart(results, WORKLOADS, caption));
	console.log(`\nChart: ${svgPath}`);
}
