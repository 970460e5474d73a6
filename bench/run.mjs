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
 * a run of every workload on every engine), BENCH_SMOKE=1 (a check of the harness, not a
 * measurement: every workload at a tiny size, its `smoke` below, and no warm-ups; it never
 * writes docs/performance.svg; tests/e2e/bench.test.ts runs it from `npm test`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { chart } from "./chart.mjs";
import { bundleWorker, median, memoryOf, startRuntime as startBenchRuntime } from "./runtime.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ONLY = process.env.BENCH_ONLY?.split(",").filter(Boolean);

const FROM_JSON = process.env.BENCH_FROM_JSON;
/**
 * Raw results saved by an earlier run (BENCH_JSON) also say when, where and with how many rounds
 * they were measured, and whether that was a smoke run.
 * @typedef {{ rounds?: number, date?: string, machine?: string, smoke?: boolean }} Meta
 */
/** @type {Results & { _meta?: Meta }} */
const saved = FROM_JSON ? JSON.parse(readFileSync(FROM_JSON, "utf8")) : {};
const { _meta: meta = {}, ...loaded } = saved;
/** @type {Results} */
const results = loaded;
/** A smoke run (BENCH_SMOKE): tiny sizes, no measurement. */
const SMOKE = FROM_JSON ? Boolean(meta.smoke) : Boolean(process.env.BENCH_SMOKE);

/** @typedef {import("./runtime.mjs").Engine} Engine */

/**
 * A workload of the table.
 * @typedef {object} Workload
 * @property {string} key what BENCH_ONLY selects it by, and its key in the raw results
 * @property {string} label
 * @property {string} workload the bench Worker's workload it runs
 * @property {number} n its size: steps, instances
 * @property {boolean} [floor] also run on the floor object, the storage floor it is measured against
 * @property {Engine} [only] run on this engine only
 * @property {number} [warmN] the warm-up's size (default: a tenth of `n`, at least 1)
 * @property {string} [stateRoot] where its runtimes keep their state (skipped if it does not exist)
 * @property {boolean} [memory] workload 6: memory of `n` waiting instances
 * @property {number} [perRuntime] workload 6: instances per runtime
 * @property {number} [settleMs] workload 6: the pause before the memory is read
 * @property {boolean} [capacity] workload 6b: how many waiting instances one runtime holds
 * @property {boolean} [drain] workload 7b: `n` instances queued at once, then drained
 * @property {number} [chunk] workload 7b: instances created per request
 * @property {number} [maxOpen] workload 7b: the next request waits until fewer databases are open
 * @property {number} [stepWaitMs] workload 7b: how long each queued instance's last step waits
 * @property {number} [rounds] at most this many rounds
 * @property {Partial<Workload>} [smoke] what BENCH_SMOKE changes: a tiny size
 */

/** @typedef {import("./runtime.mjs").Result} Result */
/** @typedef {import("./runtime.mjs").Results} Results */

/**
 * Workloads, in the order of priority.
 * @type {Workload[]}
 */
const ALL_WORKLOADS = [
	{
		key: "steps",
		label: "1. 1,000 sequential step.do, one instance",
		workload: "steps",
		n: 1000,
		floor: true,
		smoke: { n: 20 },
	},
	{
		key: "journal",
		label: "1b. floor shaped like a step's journal calls (insert, KV put, update), 1,000 times",
		workload: "journal",
		n: 1000,
		only: "floor",
		smoke: { n: 20 },
	},
	{
		key: "journal-timer",
		label: "1c. as 1b, plus a timeout timer per attempt",
		workload: "journal-timer",
		n: 1000,
		only: "floor",
		smoke: { n: 20 },
	},
	{
		key: "instances",
		label: "2. 1,000 two-step instances (createBatch 10x100)",
		workload: "instances",
		n: 1000,
		floor: true,
		warmN: 100,
		// The Worker creates them 100 at a time: one batch.
		smoke: { n: 100 },
	},
	{
		key: "instances-tmpfs",
		label: "2t. as 2, state in memory (tmpfs, /dev/shm)",
		workload: "instances",
		n: 1000,
		floor: true,
		warmN: 100,
		smoke: { n: 100 },
		// On disk, creating each object's SQLite files and syncing them takes most of workload 2's
		// time, whatever the engine; in memory, what is left is the engines' own work.
		stateRoot: "/dev/shm",
	},
	{
		key: "sleepy10",
		label: "4. 10 steps, 1 ms sleep after each",
		workload: "sleepy",
		n: 10,
		smoke: { n: 5 },
	},
	{
		key: "sleepy100",
		label: "4. 100 steps, 1 ms sleep after each",
		workload: "sleepy",
		n: 100,
		smoke: { n: 5 },
	},
	{
		key: "sleepy1000",
		label: "4. 1,000 steps, 1 ms sleep after each",
		workload: "sleepy",
		n: 1000,
		smoke: { n: 5 },
	},
	{
		key: "memory",
		label: "6. 10,000 waiting instances: workerd memory",
		workload: "idle",
		n: 10_000,
		floor: true,
		memory: true,
		perRuntime: 1000,
		settleMs: 2000,
		rounds: 1,
		// Two runtimes, so the sums over runtimes are exercised.
		smoke: { n: 20, perRuntime: 10, settleMs: 0 },
	},
	{
		key: "capacity",
		label: "6b. waiting instances one workerd holds before a creation fails",
		workload: "idle",
		n: 10_000,
		floor: true,
		capacity: true,
		rounds: 1,
		// Well below what one runtime holds: all of them start.
		smoke: { n: 100 },
	},
	{
		key: "queued",
		label: "7. 5,000 two-step instances at a concurrency limit of 100",
		workload: "queued",
		// Not 10,000: created in one burst, that many objects are open at once, and one workerd
		// opens at most ~6,600 SQLite-backed objects here (3 file descriptors each, 20,000
		// allowed); the built-in engine stops there too (workload 6b). Workload 7b queues 10,000.
		n: 5_000,
		only: "ours",
		warmN: 500,
		rounds: 3,
		smoke: { n: 200 },
	},
	{
		key: "drain",
		label: "7b. 10,000 queued instances draining at a concurrency limit of 100",
		workload: "drain",
		n: 10_000,
		only: "ours",
		drain: true,
		chunk: 500,
		maxOpen: 2000,
		stepWaitMs: 1,
		rounds: 1,
		smoke: { n: 200, chunk: 100 },
	},
	{
		key: "wake",
		label: "3. 200 instances sleeping 1 s: wake lateness",
		workload: "wake",
		n: 200,
		warmN: 100,
		smoke: { n: 10 },
	},
];
/** The workloads as this run sizes them. */
const WORKLOADS = ALL_WORKLOADS.map((w) => (SMOKE ? { ...w, ...w.smoke } : w));

const dir = mkdtempSync(join(tmpdir(), "do-workflows-bench-"));
const bundle = join(dir, "worker.js");
await bundleWorker(join(ROOT, "bench", "worker.ts"), bundle, { logLevel: "warning" });

/**
 * A fresh runtime of the bench Worker (runtime.mjs startRuntime) for each engine in each round of
 * each workload, so one round's leftovers (objects, alarms, timers) stay out of the next round's
 * figures.
 * @param {Omit<import("./runtime.mjs").RuntimeOptions, "scriptPath" | "modulesRoot">} [options]
 */
const startRuntime = (options) =>
	startBenchRuntime({ ...options, scriptPath: bundle, modulesRoot: dir });

/**
 * Runs `fn` in a fresh runtime, then disposes of it.
 * @template T
 * @param {(mf: Miniflare, pid: string) => Promise<T>} fn
 * @param {Omit<import("./runtime.mjs").RuntimeOptions, "scriptPath" | "modulesRoot">} [options]
 * @returns {Promise<T>}
 */
async function withRuntime(fn, options) {
	const runtime = await startRuntime(options);
	try {
		return await fn(runtime.mf, runtime.pid);
	} finally {
		await runtime.dispose();
	}
}

let seq = 0;
/**
 * One request to the bench Worker; `params`: more query parameters (workload 6's tag, offset, timeout).
 * @param {Miniflare} mf
 * @param {string} workload
 * @param {Engine} engine
 * @param {number} n
 * @param {Record<string, string | number>} [params]
 * @returns {Promise<import("./runtime.mjs").Answer>}
 */
async function run(mf, workload, engine, n, params = {}) {
	const query = new URLSearchParams({
		workload,
		engine,
		n: String(n),
		tag: `${engine}-${seq++}`,
		...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
	});
	const response = await mf.dispatchFetch(`http://bench/run?${query}`, { method: "POST" });
	const body = /** @type {import("./runtime.mjs").Answer} */ (await response.json());
	if (!response.ok || body.error)
		throw new Error(`${workload}/${engine}: ${body.error ?? response.status}`);
	return body;
}

/**
 * Workload 6: `w.n` waiting instances (bare objects with two writes each, for the floor), spread
 * over runtimes of `w.perRuntime` each, all alive at once: one workerd cannot hold 10,000
 * (workload 6b). Each runtime is filled in turn, 1,000 instances per request, after its idle
 * memory is read; once all are filled, every runtime's peak is read. Per instance: the sum of the
 * peaks above each runtime's idle memory, divided by the number of instances.
 * @param {Workload} w
 * @param {Engine} engine
 * @returns {Promise<Result>}
 */
async function measureMemory(w, engine) {
	const perRuntime = w.perRuntime ?? w.n;
	/** @type {(import("./runtime.mjs").Runtime & { idle: number, tag: string, count: number })[]} */
	const runtimes = [];
	try {
		const t0 = Date.now();
		for (let first = 0; first < w.n; first += perRuntime) {
			const runtime = Object.assign(await startRuntime(), {
				idle: 0,
				tag: `${engine}-${seq++}`,
				count: Math.min(perRuntime, w.n - first),
			});
			runtimes.push(runtime);
			await run(runtime.mf, "noop", engine, 0);
			runtime.idle = memoryOf(runtime.pid).rss;
			for (let offset = 0; offset < runtime.count; offset += 1000) {
				const n = Math.min(1000, runtime.count - offset);
				await run(runtime.mf, "idle-create", engine, n, { tag: runtime.tag, offset });
			}
			const { arrived = 0 } = await run(runtime.mf, "idle-wait", engine, runtime.count, {
				tag: runtime.tag,
			});
			if (arrived < runtime.count)
				throw new Error(`memory/${engine}: ${arrived} of ${runtime.count} instances started`);
		}
		const ms = Date.now() - t0;
		await new Promise((resolve) => setTimeout(resolve, w.settleMs ?? 0));
		const result = {
			ms,
			runtimes: runtimes.length,
			idleMiB: 0,
			peakMiB: 0,
			rssMiB: 0,
			databases: 0,
			perInstanceKiB: 0,
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
 * creates them 500 per request (fewer if `w.n` is smaller), as fast as it can, until a creation
 * fails or some instances never start (the built-in engine accepts them, and its objects fail in
 * the background), or `w.n` started, and reports how many had started, how many SQLite databases
 * the process had open then (each object in memory holds its file open), and the first SQLite
 * error workerd logged.
 * @param {Workload} w
 * @param {Engine} engine
 * @returns {Promise<Result>}
 */
async function measureCapacity(w, engine) {
	const chunk = Math.min(500, w.n);
	/** @type {string | undefined} */
	let firstError;
	return withRuntime(
		async (mf, pid) => {
			const tag = `${engine}-${seq++}`;
			let started = 0;
			let failed = false;
			while (!failed && started < w.n) {
				try {
					await run(mf, "idle-create", engine, chunk, { tag, offset: started });
				} catch {
					failed = true;
				}
				const { arrived = 0 } = await run(mf, "idle-wait", engine, started + chunk, {
					tag,
					timeout: 10_000,
				});
				if (arrived < started + chunk) failed = true;
				started = engine === "floor" && failed ? started : arrived;
			}
			const { databases, hwm } = memoryOf(pid);
			return { ms: 0, started, databases, peakMiB: hwm, failed, error: firstError };
		},
		{
			logs(line) {
				firstError ??= line.match(/SQLITE_(?!OK\b)\w+|Too many open files/)?.[0];
			},
		},
	);
}

/**
 * Workload 7b: `w.n` instances queued at once behind a concurrency limit of 100, then drained, in
 * one runtime. 100 holder instances take every slot (their step runs until the bench opens their
 * hold); then the `w.n` are created, `w.chunk` per request, and after each request the bench waits
 * until workerd has fewer than `w.maxOpen` SQLite databases open before it sends the next. A
 * queued instance is idle, and workerd evicts it (closing its database) 10 s after its last
 * request, but only once its event loop has a moment without work: created in one burst (workload
 * 7), they would all be open at once, which one workerd here cannot hold beyond about 6,600.
 * Once the gate reports all `w.n` queued and a sample of them says `queued`, the hold opens; the
 * drain lasts until the last instance's last step has counted it in (the counter notes when).
 * Then the gate must be empty and a sample of the instances complete with their output. The open
 * databases are read every 500 ms throughout (peaks while creating and while draining).
 * @param {Workload} w
 * @param {Engine} engine
 * @returns {Promise<Result>}
 */
async function measureDrain(w, engine) {
	const chunk = Math.min(w.chunk ?? 500, w.n);
	const maxOpen = w.maxOpen ?? Number.POSITIVE_INFINITY;
	return withRuntime(async (mf, pid) => {
		const tag = `${engine}-${seq++}`;
		let open = 0;
		let peakCreating = 0;
		let peakDraining = 0;
		let draining = false;
		const sample = () => {
			try {
				open = memoryOf(pid).databases;
			} catch {
				return; // a file closed while it was read: the next sample counts it
			}
			if (draining) peakDraining = Math.max(peakDraining, open);
			else peakCreating = Math.max(peakCreating, open);
		};
		const sampler = setInterval(sample, 500);
		try {
			await run(mf, "drain-hold", engine, 0, { tag });
			const held = await run(mf, "drain-summary", engine, 0, { tag });
			if (held.running !== 100 || held.queued !== 0)
				throw new Error(`drain: the holders hold ${held.running} slots, ${held.queued} queue`);
			let createdMs = 0;
			const t0 = Date.now();
			for (let offset = 0; offset < w.n; offset += chunk) {
				const n = Math.min(chunk, w.n - offset);
				const params = { tag, offset, waitMs: w.stepWaitMs ?? 0 };
				createdMs += (await run(mf, "drain-create", engine, n, params)).ms;
				sample();
				while (open >= maxOpen && offset + n < w.n) {
					await new Promise((resolve) => setTimeout(resolve, 500));
					sample();
				}
			}
			const createdWallMs = Date.now() - t0;
			const { queued = 0, running = 0 } = await run(mf, "drain-summary", engine, 0, { tag });
			if (queued !== w.n || running !== 100)
				throw new Error(`drain: ${queued} of ${w.n} queued, ${running} running`);
			const { bad } = await run(mf, "drain-check", engine, w.n, {
				tag,
				offset: Math.max(1, Math.floor(w.n / 50)),
			});
			if (bad) throw new Error(`drain: ${bad} sampled instances are not queued`);
			sample();
			draining = true;
			const { at: opened = 0 } = await run(mf, "drain-release", engine, w.n, { tag });
			/** @type {import("./runtime.mjs").Answer} */
			let ended = { ms: 0, done: 0, at: 0 };
			const deadline = Date.now() + 1_800_000;
			while ((ended.done ?? 0) < w.n) {
				if (Date.now() > deadline) throw new Error(`drain: ${ended.done} of ${w.n} ended`);
				ended = await run(mf, "drain-done", engine, w.n, { tag });
			}
			sample();
			draining = false;
			const after = await run(mf, "drain-summary", engine, 0, { tag });
			if (after.queued !== 0 || after.running !== 0)
				throw new Error(`drain: ${after.running} running, ${after.queued} queued at the end`);
			const { bad: wrong } = await run(mf, "drain-verify", engine, w.n, {
				tag,
				offset: Math.max(1, Math.floor(w.n / 1000)),
			});
			if (wrong)
				throw new Error(`drain: ${wrong} sampled instances are not complete with output 3`);
			return {
				ms: (ended.at ?? 0) - opened,
				createdMs,
				createdWallMs,
				queuedAtOnce: queued,
				peakOpenCreating: peakCreating,
				peakOpenDraining: peakDraining,
			};
		} finally {
			clearInterval(sampler);
		}
	});
}

try {
	const selected = FROM_JSON
		? []
		: WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.key)).filter(
				(w) => !w.stateRoot || existsSync(w.stateRoot),
			);
	for (const w of selected) {
		/** @type {Engine[]} */
		const all = w.only
			? [w.only]
			: ["ours", "native", ...(w.floor ? /** @type {const} */ (["floor"]) : [])];
		const engines = all.filter(
			(e) => !process.env.BENCH_ENGINES || process.env.BENCH_ENGINES.split(",").includes(e),
		);
		/** @type {Map<Engine, Result[]>} */
		const runs = new Map(engines.map((e) => [e, []]));
		results[w.key] = Object.fromEntries(runs);
		process.stderr.write(`${w.label}: rounds`);
		// Round 0 is a warm-up whose figures are dropped; workloads 6 and 6b measure a fresh
		// runtime, so they have none, and neither has a smoke run (whose figures mean nothing: it
		// skips the warm-up in each runtime too).
		const once = w.memory || w.capacity || w.drain || SMOKE;
		const rounds = Math.min(w.rounds ?? ROUNDS, ROUNDS);
		for (let r = once ? 1 : 0; r <= rounds; r++) {
			// Each engine gets its own fresh runtime, warms up in it on a tenth of the workload (at
			// least 100 instances for the batched ones), then runs it once, measured. Sharing one
			// runtime made whichever engine ran first after the warm-ups about 2 s slower on workload
			// 2, whatever the engine. The order alternates between rounds.
			const order = r % 2 ? [...engines].reverse() : engines;
			for (const e of order) {
				const measured = /** @type {Result[]} */ (runs.get(e));
				if (w.memory) {
					measured.push(await measureMemory(w, e));
					continue;
				}
				if (w.capacity) {
					measured.push(await measureCapacity(w, e));
					continue;
				}
				if (w.drain) {
					measured.push(await measureDrain(w, e));
					continue;
				}
				await withRuntime(
					async (mf) => {
						if (!SMOKE) await run(mf, w.workload, e, w.warmN ?? Math.max(1, w.n / 10));
						const result = await run(mf, w.workload, e, w.n);
						if (r > 0) measured.push(result);
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
/**
 * @param {number} x
 * @param {number} [digits]
 */
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
/**
 * @param {number} a
 * @param {number} b
 */
const ratio = (a, b) =>
	Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${fmt(b / a, 1)}x` : "-";
/** @typedef {"ms" | "createdMs" | "p50" | "p99" | "max" | "idleMiB" | "peakMiB" | "perInstanceKiB"} Figure */
/**
 * The median of one figure over an engine's runs; NaN if the engine did not run.
 * @param {Result[] | undefined} runs
 * @param {Figure} [figure]
 */
const med = (runs, figure = "ms") =>
	runs ? median(runs.map((x) => x[figure] ?? Number.NaN)) : Number.NaN;
/**
 * A line of the table.
 * @typedef {{ workload: string, ours: string, builtin: string, floor: string, "built-in / ours": string, "ours / floor": string }} Row
 */
/** @type {Row[]} */
const rows = [];
for (const w of WORKLOADS) {
	const r = results[w.key];
	if (!r) continue;
	if (w.only === "floor" && r.floor) {
		const floor = med(r.floor);
		const steps = med(results.steps?.ours);
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
	if (w.drain && r.ours) {
		// Workload 7b: one run; its figures are that run's.
		const [x] = r.ours;
		if (!x) continue;
		/** @param {string} workload @param {string} ours */
		const row = (workload, ours) =>
			rows.push({
				workload,
				ours,
				builtin: "-",
				floor: "-",
				"built-in / ours": "",
				"ours / floor": "",
			});
		row(w.label, `${fmt(x.ms)} ms`);
		row("   queued at once (the gate's count)", String(x.queuedAtOnce));
		row(
			`   created / s (${w.chunk ?? 500} a request, paced; time in requests only)`,
			fmt((w.n * 1000) / (x.createdMs ?? Number.NaN), 0),
		);
		row("   completed / s, draining at 100", fmt((w.n * 1000) / x.ms, 0));
		row(
			"   peak SQLite databases open: creating, draining",
			`${x.peakOpenCreating}, ${x.peakOpenDraining}`,
		);
		continue;
	}
	if (w.only === "ours" && r.ours) {
		// Workload 7: ours only (the built-in engine ignores concurrency limits locally).
		const ms = med(r.ours);
		const created = med(r.ours, "createdMs");
		rows.push({
			workload: w.label,
			ours: `${fmt(ms)} ms`,
			builtin: "-",
			floor: "-",
			"built-in / ours": "",
			"ours / floor": "",
		});
		rows.push({
			workload: "   created / s with the limit (workload 2: without)",
			ours: fmt((w.n * 1000) / created, 0),
			builtin: "-",
			floor: "-",
			"built-in / ours": "",
			"ours / floor": "",
		});
		rows.push({
			workload: "   completed / s, draining at 100",
			ours: fmt((w.n * 1000) / ms, 0),
			builtin: "-",
			floor: "-",
			"built-in / ours": "",
			"ours / floor": "",
		});
		continue;
	}
	if (!r.ours || !r.native) continue;
	if (w.memory) {
		// Lower is better here: built-in / ours is how many times more memory the built-in uses.
		/** @param {Engine} e */
		const peak = (e) => med(r[e], "peakMiB");
		/** @param {Engine} e */
		const per = (e) => med(r[e], "perInstanceKiB");
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
		const idle = med(r.ours, "idleMiB");
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
		/** @param {Engine} e */
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
	const ours = med(r.ours);
	const native = med(r.native);
	const floor = med(r.floor);
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
		for (const p of /** @type {const} */ (["p50", "p99", "max"])) {
			const o = med(r.ours, p);
			const b = med(r.native, p);
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

/** @type {(keyof Row)[]} */
const cols = ["workload", "ours", "builtin", "floor", "built-in / ours", "ours / floor"];
const widths = cols.map((c) => Math.max(c.length, ...rows.map((row) => row[c].length)));
/** @param {string[]} cells */
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
const when = meta.date ?? new Date().toISOString().slice(0, 10);
const machine =
	meta.machine ??
	`${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const rounds = meta.rounds ?? ROUNDS;
console.log(
	SMOKE
		? `\nSmoke run, ${rounds} round(s) and no warm-ups, every workload cut down to a tiny size ` +
				`(its \`smoke\` in bench/run.mjs, not the size its label says): it checks the harness, ` +
				`its figures measure nothing; ${machine}, ${when}\n`
		: `\nMedians of ${rounds} rounds after a warm-up (workloads 6 and 6b: one run, no warm-up); ` +
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
	/** @type {Meta} */
	const _meta = { rounds, date: when, machine, ...(SMOKE && { smoke: true }) };
	writeFileSync(process.env.BENCH_JSON, JSON.stringify({ ...results, _meta }, null, 2));
}

// ---- the chart ----
// docs/performance.svg only from a full run; a smoke run's chart goes only where BENCH_SVG says.
const complete =
	!ONLY &&
	!process.env.BENCH_ENGINES &&
	!SMOKE &&
	WORKLOADS.every((w) => results[w.key]) &&
	!FROM_JSON;
const svgPath = process.env.BENCH_SVG ?? (complete ? join(ROOT, "docs", "performance.svg") : "");
if (svgPath) {
	const caption = [
		SMOKE
			? `a smoke run of npm run bench (tiny sizes: these figures measure nothing), ${when}`
			: `npm run bench, ${when}, medians of ${rounds} rounds (bars: the medians)`,
		`${machine}, a shared and noisy VM: read the ratios, not the absolute times`,
	];
	writeFileSync(svgPath, chart(results, WORKLOADS, caption));
	console.log(`\nChart: ${svgPath}`);
}
