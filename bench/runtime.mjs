/**
 * What the bench scripts (run.mjs, compare.mjs, profile.mjs, chart.mjs) share: how the bench
 * Worker is bundled, its runtime options (our engine, the floor object and the built-in engine),
 * finding the workerd processes they start, and the median.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

/**
 * Bundles a bench Worker entry point for workerd into `outfile`.
 * @param {string} entry
 * @param {string} outfile
 * @param {{ nodePaths?: string[], logLevel?: import("esbuild").LogLevel }} [options]
 */
export async function bundleWorker(entry, outfile, { nodePaths, logLevel = "error" } = {}) {
	await build({
		entryPoints: [entry],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2022",
		mainFields: ["module", "main"],
		conditions: ["workerd", "worker", "import"],
		external: ["cloudflare:*", "node:*"],
		nodePaths,
		logLevel,
	});
}

/** The bench Worker's name in its runtime. */
const WORKER = "bench";

/**
 * The bench Worker's runtime options, in miniflare 5's shape: one Worker whose only module is the
 * bundle at `scriptPath` (named relative to `modulesRoot`), bound to our engine's and the floor's
 * SQLite-backed Durable Objects and to the built-in Workflows engine, with all its state on disk
 * under `state` (Durable Objects and workflows alike, as `wrangler dev --persist-to` keeps them).
 * It listens on 127.0.0.1 only, and the dev registry, on by default in miniflare 5, is off: a
 * bench runtime neither advertises its Worker to other local sessions nor looks for theirs.
 * @param {{ scriptPath: string, modulesRoot: string, state: string }} where
 * @returns {import("miniflare").MiniflareOptions}
 */
export function runtimeOptions({ scriptPath, modulesRoot, state }) {
	const mainModule = relative(modulesRoot, scriptPath);
	return {
		host: "127.0.0.1",
		resourcePersistencePath: state,
		enableDevRegistry: false,
		workers: [
			{
				config: {
					name: WORKER,
					compatibilityDate: "2026-04-01",
					compatibilityFlags: ["nodejs_compat"],
					manifest: {
						mainModule,
						modulesRoot,
						modules: { [mainModule]: { type: "esm", contents: readFileSync(scriptPath, "utf8") } },
					},
					env: {
						OURS: { type: "durable-object", worker: WORKER, exportName: "OursEngine" },
						OURS_LIMITED: {
							type: "durable-object",
							worker: WORKER,
							exportName: "OursLimitedEngine",
						},
						FLOOR: { type: "durable-object", worker: WORKER, exportName: "Floor" },
						NATIVE: { type: "workflow", name: "bench", worker: WORKER, exportName: "NativeBench" },
					},
					exports: {
						OursEngine: { type: "durable-object", storage: "sqlite" },
						OursLimitedEngine: { type: "durable-object", storage: "sqlite" },
						Floor: { type: "durable-object", storage: "sqlite" },
					},
				},
			},
		],
	};
}

/** @typedef {"ours" | "native" | "floor"} Engine */

/**
 * What the bench Worker answers for one run of a workload (bench/worker.ts `runWorkload`): the
 * elapsed time and, for some workloads, more figures; `error` if the run failed.
 * @typedef {object} Answer
 * @property {number} ms
 * @property {number} [createdMs] workload 2: until the last batch was created
 * @property {number} [p50] workload 3: wake lateness, median
 * @property {number} [p99] workload 3: wake lateness, 99th percentile
 * @property {number} [max] workload 3: wake lateness, worst
 * @property {number} [arrived] `idle-wait`: how many instances reached their wait
 * @property {number} [bad] `idle-check`: sampled instances that were not waiting (and 7b's checks)
 * @property {number} [limit] workload 7b: the gate's limit (`drain-summary`)
 * @property {number} [running] workload 7b: instances holding a slot
 * @property {number} [queued] workload 7b: instances queued
 * @property {number} [done] workload 7b: instances that have ended (`drain-done`)
 * @property {number} [at] workload 7b: when the hold opened, or the last instance ended
 * @property {string} [error]
 */

/**
 * One measured run of a workload on one engine: the bench Worker's answer, or for workloads 6 and
 * 6b what run.mjs measured.
 * @typedef {Answer & MemoryFigures & CapacityFigures & DrainFigures} Result
 */

/**
 * Workload 6's figures, summed over its runtimes.
 * @typedef {object} MemoryFigures
 * @property {number} [runtimes]
 * @property {number} [idleMiB] one idle runtime's RSS (their average)
 * @property {number} [peakMiB] the peaks above idle, summed (6b: the one runtime's peak)
 * @property {number} [rssMiB] the RSS above idle once all instances wait, summed
 * @property {number} [databases] SQLite databases open
 * @property {number} [perInstanceKiB]
 */

/**
 * Workload 6b's figures.
 * @typedef {object} CapacityFigures
 * @property {number} [started] instances that started
 * @property {boolean} [failed] whether a creation failed, or some instances never started
 * @property {string} [error] the first SQLite error workerd logged
 */

/**
 * Workload 7b's figures.
 * @typedef {object} DrainFigures
 * @property {number} [createdWallMs] creating them, with the pauses between requests
 * @property {number} [queuedAtOnce] the gate's queue once all were created
 * @property {number} [peakOpenCreating] SQLite databases workerd had open, at most, while creating
 * @property {number} [peakOpenDraining] the same while draining
 */

/**
 * Every workload's measured runs, by workload key and engine (run.mjs's raw results, BENCH_JSON).
 * @typedef {Record<string, Partial<Record<Engine, Result[]>>>} Results
 */

/**
 * The median of a list of numbers (NaN for an empty list).
 * @param {readonly number[]} xs
 * @returns {number}
 */
export function median(xs) {
	if (xs.length === 0) return Number.NaN;
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The workerd processes this Node process started (their pids): Miniflare spawns one per runtime.
 * @returns {string[]}
 */
export function workerdPids() {
	/** @type {Map<string, string>} */
	const parents = new Map();
	/** @type {Map<string, string>} */
	const names = new Map();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			const close = stat.lastIndexOf(")");
			names.set(entry, stat.slice(stat.indexOf("(") + 1, close));
			parents.set(entry, stat.slice(close + 2).split(" ")[1]);
		} catch {
			// The process ended while we looked.
		}
	}
	const mine = new Set([String(process.pid)]);
	for (let grew = true; grew; ) {
		grew = false;
		for (const [pid, ppid] of parents) {
			if (!mine.has(pid) && mine.has(ppid)) {
				mine.add(pid);
				grew = true;
			}
		}
	}
	return [...mine].filter((pid) => names.get(pid) === "workerd");
}

/**
 * A fresh runtime of the bench Worker bundled at `scriptPath`: one workerd process, its state on
 * disk in a new directory under `stateRoot` (default: `modulesRoot`), as `wrangler dev` stores it.
 * One workerd holds only so many open SQLite-backed objects at once (workload 6b). `logs`: a
 * function that takes workerd's log lines (its stdout and stderr, through miniflare) instead of
 * printing them. Returns the runtime and the pid of its workerd process.
 * @typedef {{ scriptPath: string, modulesRoot: string, logs?: (line: string) => void, stateRoot?: string }} RuntimeOptions
 * @typedef {{ mf: import("miniflare").Miniflare, pid: string, dispose: () => Promise<void> }} Runtime
 * @param {RuntimeOptions} options
 * @returns {Promise<Runtime>}
 */
export async function startRuntime({ scriptPath, modulesRoot, logs, stateRoot }) {
	const before = new Set(workerdPids());
	const state = mkdtempSync(join(stateRoot ?? modulesRoot, "do-workflows-bench-state-"));
	const mf = new Miniflare({
		...runtimeOptions({ scriptPath, modulesRoot, state }),
		...(logs && {
			handleStructuredLogs({ message }) {
				for (const line of message.split("\n")) if (line) logs(line);
			},
		}),
	});
	const dispose = async () => {
		await mf.dispose();
		rmSync(state, { recursive: true, force: true });
	};
	try {
		await mf.ready;
		const pid = workerdPids().find((p) => !before.has(p));
		if (!pid)
			throw new Error("the runtime's workerd process was not found among this process's children");
		return { mf, pid, dispose };
	} catch (error) {
		await dispose();
		throw error;
	}
}

/**
 * A workerd process's resident memory now (VmRSS) and its peak so far (VmHWM), in MiB, and the
 * SQLite databases it has open (each SQLite-backed object in memory holds its file open).
 * @param {string} pid
 */
export function memoryOf(pid) {
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	/** @param {string} field */
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
