/**
 * The bench harness (bench/run.mjs) must not rot: it drives miniflare directly, so a change of
 * miniflare's options or of its workerd processes breaks it without any other test noticing. This
 * runs it as `npm run bench` does, in its smoke mode (BENCH_SMOKE: every workload at a tiny size,
 * one round), and checks what it produced: raw results of the right shape for every workload and
 * engine, the table, the chart, and nothing left running or left behind. The figures themselves
 * are not judged (a shared machine makes timings meaningless at this size), only their sanity.
 *
 * Everything runs locally: Miniflare's workerd listens on 127.0.0.1 and the bench talks to it
 * through Miniflare's dispatchFetch.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { delay, liveInGroup, ROOT, removeDir, tempDir, waitFor } from "./wrangler";

/** The workloads the smoke run covers: every code path of run.mjs but the tmpfs and sleepy variants. */
const ONLY = ["steps", "journal", "instances", "memory", "capacity", "wake", "queued", "drain"];
/** Its sizes (bench/run.mjs, `smoke`): what the figures are checked against. */
const MEMORY_INSTANCES = 20;
const MEMORY_RUNTIMES = 2;
const CAPACITY_INSTANCES = 100;
const DRAIN_INSTANCES = 200;

const RUN_TIMEOUT_MS = 150_000;

interface Result {
	ms: number;
	createdMs?: number;
	p50?: number;
	p99?: number;
	max?: number;
	runtimes?: number;
	idleMiB?: number;
	peakMiB?: number;
	rssMiB?: number;
	databases?: number;
	perInstanceKiB?: number;
	started?: number;
	failed?: boolean;
	createdWallMs?: number;
	queuedAtOnce?: number;
	peakOpenCreating?: number;
	peakOpenDraining?: number;
}
type Saved = Record<string, Record<string, Result[]>> & {
	_meta: { rounds: number; smoke?: boolean };
};

interface Run {
	code: number | null;
	signal: NodeJS.Signals | null;
	output: string;
	pgid: number;
}

/**
 * Runs `node bench/<script>` with `env`, in its own process group (so that its workerd processes
 * can be found, and killed if it hangs), and resolves when it has exited.
 */
function runBench(env: Record<string, string>, script = "run.mjs"): Promise<Run> {
	const child: ChildProcess = spawn(process.execPath, [join(ROOT, "bench", script)], {
		cwd: ROOT,
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
		env: { ...process.env, ...env },
	});
	const pgid = child.pid;
	if (pgid === undefined) throw new Error(`could not spawn node bench/${script}`);
	let output = "";
	child.stdout?.on("data", (chunk: Buffer) => {
		output += chunk.toString("utf8");
	});
	child.stderr?.on("data", (chunk: Buffer) => {
		output += chunk.toString("utf8");
	});
	return new Promise((resolveRun, reject) => {
		const timer = setTimeout(() => {
			try {
				process.kill(-pgid, "SIGKILL");
			} catch {
				// already gone
			}
			reject(new Error(`bench/${script} did not finish in ${RUN_TIMEOUT_MS} ms\n${output}`));
		}, RUN_TIMEOUT_MS);
		child.once("error", (error) => {
			clearTimeout(timer);
			reject(error);
		});
		child.once("close", (code, signal) => {
			clearTimeout(timer);
			resolveRun({ code, signal, output: stripVTControlCharacters(output), pgid });
		});
	});
}

/** Kills what is left of a run's process group, if anything is. */
async function killLeftovers(run: Run): Promise<void> {
	if (liveInGroup(run.pgid).length === 0) return;
	try {
		process.kill(-run.pgid, "SIGKILL");
	} catch {
		// gone meanwhile
	}
	await delay(100);
}

describe("bench/run.mjs (smoke mode)", () => {
	// Its state and miniflare's temporary files go to a directory of their own, in memory where
	// the machine has /dev/shm (creating SQLite files on a busy disk is slow and says nothing here).
	let dir = "";
	let tmp = "";
	let run: Run;
	let saved: Saved;
	let svg: string;
	const chartOfDocs = join(ROOT, "docs", "performance.svg");
	let docsChartMtime = 0;

	beforeAll(async () => {
		dir = existsSync("/dev/shm")
			? mkdtempSync(join("/dev/shm", "do-workflows-e2e-bench-smoke-"))
			: tempDir("bench-smoke");
		tmp = join(dir, "tmp");
		mkdirSync(tmp);
		docsChartMtime = existsSync(chartOfDocs) ? statSync(chartOfDocs).mtimeMs : 0;
		const json = join(dir, "results.json");
		const chart = join(dir, "chart.svg");
		run = await runBench({
			BENCH_SMOKE: "1",
			BENCH_ROUNDS: "1",
			BENCH_ONLY: ONLY.join(","),
			BENCH_JSON: json,
			BENCH_SVG: chart,
			TMPDIR: tmp,
		});
		if (run.code !== 0) {
			throw new Error(
				`bench/run.mjs exited with code ${run.code} (signal ${run.signal})\n${run.output}`,
			);
		}
		saved = JSON.parse(readFileSync(json, "utf8")) as Saved;
		svg = readFileSync(chart, "utf8");
	}, RUN_TIMEOUT_MS + 30_000);

	afterAll(async () => {
		// Only if something was left running (the first test then fails): nothing leaks either way.
		if (run) await killLeftovers(run);
		if (dir) removeDir(dir);
	});

	it("stops every workerd it started and removes its temporary files", async () => {
		// run.mjs disposes of each runtime before it exits: nothing of its process group lives on.
		await waitFor(
			async () => liveInGroup(run.pgid),
			(live) => live.length === 0,
			{
				timeoutMs: 10_000,
				what: "the bench's process group to be gone",
			},
		);
		expect(liveInGroup(run.pgid)).toEqual([]);
		expect(readdirSync(tmp)).toEqual([]);
		// A smoke run never redraws the documentation's chart.
		expect(existsSync(chartOfDocs) ? statSync(chartOfDocs).mtimeMs : 0).toBe(docsChartMtime);
	});

	it("saves one result per selected workload and engine, marked as a smoke run", () => {
		expect(saved._meta).toMatchObject({ rounds: 1, smoke: true });
		const shape = Object.fromEntries(
			Object.entries(saved)
				.filter(([key]) => key !== "_meta")
				.map(([key, engines]) => [
					key,
					Object.fromEntries(Object.entries(engines).map(([e, runs]) => [e, runs.length])),
				]),
		);
		expect(shape).toEqual({
			steps: { ours: 1, native: 1, floor: 1 },
			journal: { floor: 1 },
			instances: { ours: 1, native: 1, floor: 1 },
			memory: { ours: 1, native: 1, floor: 1 },
			capacity: { ours: 1, native: 1, floor: 1 },
			wake: { ours: 1, native: 1 },
			queued: { ours: 1 },
			drain: { ours: 1 },
		});
		for (const key of ONLY) {
			for (const [engine, runs] of Object.entries(saved[key] ?? {})) {
				for (const result of runs) {
					expect(Number.isFinite(result.ms), `${key}/${engine}: ms = ${result.ms}`).toBe(true);
					expect(result.ms, `${key}/${engine}`).toBeGreaterThanOrEqual(0);
				}
			}
		}
	});

	it("has sane figures for the timed workloads", () => {
		for (const engine of ["ours", "native"]) {
			const [instances] = saved.instances?.[engine] ?? [];
			// Creating them is part of the time until all complete.
			expect(instances?.createdMs).toBeGreaterThanOrEqual(0);
			expect(instances?.createdMs).toBeLessThanOrEqual(instances?.ms ?? -1);

			const [wake] = saved.wake?.[engine] ?? [];
			for (const p of [wake?.p50, wake?.p99, wake?.max]) expect(Number.isFinite(p)).toBe(true);
			expect(wake?.p50).toBeLessThanOrEqual(wake?.p99 ?? Number.NaN);
			expect(wake?.p99).toBeLessThanOrEqual(wake?.max ?? Number.NaN);
		}
	});

	it("queues every instance of 7b at once, then drains them, counting open databases", () => {
		const [drain] = saved.drain?.ours ?? [];
		expect(drain?.queuedAtOnce).toBe(DRAIN_INSTANCES);
		expect(drain?.createdMs).toBeGreaterThan(0);
		expect(drain?.createdMs).toBeLessThanOrEqual(drain?.createdWallMs ?? -1);
		// The holders' and the queued instances' databases, at least some of them, were open.
		expect(drain?.peakOpenCreating).toBeGreaterThan(100);
		expect(drain?.peakOpenDraining).toBeGreaterThan(0);
	});

	it("measures memory from each runtime's workerd process", () => {
		for (const engine of ["ours", "native", "floor"]) {
			const [memory] = saved.memory?.[engine] ?? [];
			expect(memory?.runtimes, engine).toBe(MEMORY_RUNTIMES);
			// A live workerd has resident memory; its peak is never below what it had before.
			expect(memory?.idleMiB, engine).toBeGreaterThan(0);
			expect(memory?.peakMiB, engine).toBeGreaterThanOrEqual(0);
			expect(memory?.perInstanceKiB, engine).toBeCloseTo(
				((memory?.peakMiB ?? Number.NaN) * 1024) / MEMORY_INSTANCES,
				6,
			);
			expect(Number.isInteger(memory?.databases), engine).toBe(true);

			const [capacity] = saved.capacity?.[engine] ?? [];
			expect(capacity, engine).toMatchObject({ failed: false, started: CAPACITY_INSTANCES });
			expect(capacity?.peakMiB, engine).toBeGreaterThan(0);
		}
	});

	it("prints the table and draws the chart", () => {
		expect(run.output).toContain("Smoke run, 1 round(s)");
		const table = run.output.split("\n").filter((line) => line.startsWith("| "));
		expect(table[0]).toMatch(
			/^\| workload +\| ours +\| builtin +\| floor +\| built-in \/ ours \| ours \/ floor \|$/,
		);
		for (const label of [
			"1. 1,000 sequential step.do",
			"1b. floor shaped like a step's journal calls",
			"2. 1,000 two-step instances",
			"7. 5,000 two-step instances at a concurrency limit of 100",
			"7b. 10,000 queued instances draining at a concurrency limit of 100",
			"6. 10,000 waiting instances",
			"6b. waiting instances one workerd holds",
			"3. 200 instances sleeping 1 s",
		]) {
			expect(
				table.some((line) => line.startsWith(`| ${label}`)),
				label,
			).toBe(true);
		}
		expect(table).toContainEqual(
			expect.stringMatching(/^\| 6b\. .*\| all 100 +\| all 100 +\| all 100 +\|/),
		);
		expect(svg.startsWith("<svg ")).toBe(true);
		expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
		expect(svg).toContain("a smoke run of npm run bench");
		expect(svg).toContain("1. Cost of one step.do");
	});
});

describe("bench/memory-parts.mjs (tiny)", () => {
	let dir = "";
	let run: Run;

	beforeAll(async () => {
		dir = existsSync("/dev/shm")
			? mkdtempSync(join("/dev/shm", "do-workflows-e2e-memory-parts-"))
			: tempDir("memory-parts");
		run = await runBench(
			{ MEMORY_PARTS_ROUNDS: "1", MEMORY_PARTS_N: "5", TMPDIR: dir },
			"memory-parts.mjs",
		);
	}, RUN_TIMEOUT_MS + 30_000);

	afterAll(async () => {
		if (run) await killLeftovers(run);
		if (dir) removeDir(dir);
	});

	it("measures every shape in a runtime of its own, and leaves nothing behind", async () => {
		expect(run.code, run.output).toBe(0);
		const rows = run.output.split("\n").filter((line) => /^\| [a-z]+ \| /.test(line));
		const shapes = rows.map((line) => line.split("|")[1]?.trim());
		expect(shapes).toEqual(["empty", "lookup", "floor", "journal", "done", "waiting"]);
		for (const line of rows) {
			// A live workerd's peak is never below its idle memory: every figure is a number >= 0.
			const perObject = Number(line.split("|")[2]?.trim().split(" ")[0]);
			expect(perObject, line).toBeGreaterThanOrEqual(0);
		}
		expect(rows[5]).toMatch(/KiB over done \|$/);
		await waitFor(
			async () => liveInGroup(run.pgid),
			(live) => live.length === 0,
			{ timeoutMs: 10_000, what: "memory-parts.mjs's process group to be gone" },
		);
		expect(readdirSync(dir)).toEqual([]);
	});
});
