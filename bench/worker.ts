/**
 * The bench Worker: the same workflow body on two engines, plus bare Durable Objects for the
 * storage floors. `bench/run.mjs` bundles it with esbuild and drives it through Miniflare.
 * - `NATIVE`: miniflare's built-in Workflows engine (`workflows` binding, `NativeBench`).
 * - `OURS`: do-workflows (`OursEngine`, a SQLite-backed Durable Object per instance).
 * - `FLOOR`: a bare SQLite-backed Durable Object (writes in a loop; creation with two writes; or
 *   a shape bench/memory-worker.ts adds, for bench/memory-parts.mjs).
 *
 * It imports only the package's public entry point, so that bench/compare.mjs can run it over
 * the src/ of older commits.
 *
 * Each `POST /run?workload=...&engine=...&round=...` runs one whole workload and answers JSON with
 * the elapsed milliseconds, measured here around awaited I/O (workerd only advances Date.now() on
 * I/O, so the time around awaited calls is real time).
 */
import {
	DurableObject,
	WorkflowEntrypoint as NativeEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
} from "cloudflare:workers";
import {
	createWorkflowEngine,
	type WorkflowEngine,
	WorkflowEntrypoint,
	workflowBinding,
} from "../src";

export interface BenchEnv {
	NATIVE: Workflow<Params>;
	OURS: DurableObjectNamespace<WorkflowEngine>;
	/** The same workflow under a concurrency limit of 100 (workload "queued"). */
	OURS_LIMITED: DurableObjectNamespace<WorkflowEngine>;
	FLOOR: DurableObjectNamespace<Floor>;
}

/** What a bench instance does. */
export type Params =
	| { kind: "steps"; n: number; mark: string }
	| { kind: "two" }
	| { kind: "sleepy"; n: number; sleepMs: number; mark: string }
	| { kind: "wake"; sleepMs: number }
	| { kind: "idle" | "idle-done"; counter: string }
	| { kind: "hold"; hold: string; counter: string }
	| { kind: "drained"; counter: string; waitMs: number };

/**
 * The last step of workloads 1 and 4: tells a separate object the run is done, and that object
 * notes the time. The bench waits for that note instead of polling status() every millisecond:
 * the built-in engine's status() reads the instance's whole log, so polling it that often made
 * its runs slower the longer they were.
 */
async function finished(env: BenchEnv, mark: string, step: WorkflowStep): Promise<void> {
	await step.do("finished", async () => {
		await env.FLOOR.get(env.FLOOR.idFromName(mark)).mark();
	});
}

/** The one workflow body, run by both engines. */
async function body(
	event: WorkflowEvent<Params>,
	step: WorkflowStep,
	env: BenchEnv,
): Promise<unknown> {
	const p = event.payload;
	switch (p.kind) {
		case "steps": {
			let sum = 0;
			for (let i = 0; i < p.n; i++) sum += await step.do(`s${i}`, async () => i);
			await finished(env, p.mark, step);
			return sum;
		}
		case "two": {
			const a = await step.do("a", async () => 1);
			const b = await step.do("b", async () => 2);
			return a + b;
		}
		case "sleepy": {
			for (let i = 0; i < p.n; i++) {
				await step.do(`s${i}`, async () => i);
				await step.sleep(`z${i}`, p.sleepMs);
			}
			await finished(env, p.mark, step);
			return p.n;
		}
		case "wake": {
			// The sleep starts right after this step: its value is when the sleep was asked for.
			const start = await step.do("start", async () => Date.now());
			await step.sleep("nap", p.sleepMs);
			const woke = await step.do("woke", async () => Date.now());
			return woke - start - p.sleepMs;
		}
		case "idle":
		case "idle-done": {
			// Counts itself in, then waits for an event that never comes (within the bench): a
			// waiting instance, as most instances of a real deployment are most of the time.
			// "idle-done" ends instead (bench/memory-parts.mjs: an instance without its run).
			const counter = env.FLOOR.get(env.FLOOR.idFromName(p.counter));
			await step.do("arrive", async () => counter.hit());
			if (p.kind === "idle-done") return 1;
			await step.waitForEvent("go", { type: "go", timeout: "1 hour" });
			return 1;
		}
		case "drained": {
			// Workload 7b's queued instances: workload 2's two steps, the second of which waits
			// `waitMs` (1 in the bench: a step's I/O, at its least) and then counts the instance in at
			// a counter, which notes when. With no wait for a timer or I/O anywhere, a drain is one
			// long chain of calls between objects of the same process, and workerd neither evicts an
			// idle object nor answers a request until the chain ends, so every instance drained stays
			// open (docs/performance.md, workload 7).
			const counter = env.FLOOR.get(env.FLOOR.idFromName(p.counter));
			const a = await step.do("a", async () => 1);
			const b = await step.do("b", async () => {
				if (p.waitMs > 0) await sleep(p.waitMs);
				await counter.hit();
				return 2;
			});
			return a + b;
		}
		case "hold": {
			// Workload 7b's slot holders: a step that runs until the bench opens the hold (a step in
			// flight keeps the instance running, so it keeps its slot; a sleep or a wait would give it
			// back). It counts itself in first, so the bench knows every slot is held.
			const counter = env.FLOOR.get(env.FLOOR.idFromName(p.counter));
			await step.do("arrive", async () => counter.hit());
			return step.do("held", { retries: { limit: 0, delay: 0 }, timeout: "1 hour" }, async () => {
				const hold = env.FLOOR.get(env.FLOOR.idFromName(p.hold));
				// In slices, so that no single call waits on the hold for long.
				while (!(await hold.held(10_000))) {}
				return 2;
			});
		}
	}
}

export class NativeBench extends NativeEntrypoint<BenchEnv, Params> {
	override async run(event: WorkflowEvent<Params>, step: WorkflowStep) {
		return body(event, step, this.env);
	}
}

export class OursBench extends WorkflowEntrypoint<BenchEnv, Params> {
	async run(event: WorkflowEvent<Params>, step: WorkflowStep) {
		return body(event, step, this.env);
	}
}

export const OursEngine = createWorkflowEngine(OursBench, { name: "bench" });
/** The same, with a concurrency limit of 100: instances over it queue (docs/limits.md). */
export const OursLimitedEngine = limitedEngine();

function limitedEngine() {
	try {
		return createWorkflowEngine(OursBench, { name: "bench-limited", concurrency: { limit: 100 } });
	} catch {
		// The src/ of a commit before concurrency limits (bench/compare.mjs): it refuses the option,
		// and workload 7 cannot run on it; every other workload can.
		return createWorkflowEngine(OursBench, { name: "bench-limited" });
	}
}

/** The floors: a bare SQLite-backed Durable Object. */
export class Floor extends DurableObject {
	/** `n` single-row inserts, each followed by an await (as `await step.do` is). */
	async writes(n: number): Promise<number> {
		const sql = this.ctx.storage.sql;
		sql.exec("CREATE TABLE IF NOT EXISTS t (i INTEGER PRIMARY KEY, v INTEGER)");
		for (let i = 0; i < n; i++) {
			sql.exec("INSERT OR REPLACE INTO t (i, v) VALUES (?, ?)", i, i);
			await Promise.resolve();
		}
		return n;
	}

	/**
	 * The storage work a do-workflows step does, without the engine: per iteration the journal's
	 * calls for one new `step.do` in a run (an insert that records the first attempt, returning the
	 * row; a KV put of the output; an update that marks it done), and, with `timer`, the per-attempt
	 * timeout timer (set, then cleared).
	 */
	async journal(n: number, timer: boolean): Promise<number> {
		const sql = this.ctx.storage.sql;
		const kv = this.ctx.storage.kv;
		sql.exec(
			"CREATE TABLE IF NOT EXISTS steps (seq INTEGER PRIMARY KEY, name TEXT, count INTEGER, state INTEGER, attempts INTEGER, started_at INTEGER, ended_at INTEGER, UNIQUE (name, count))",
		);
		for (let i = 0; i < n; i++) {
			const seq = sql
				.exec<{ seq: number }>(
					"INSERT INTO steps (name, count, state, attempts, started_at) VALUES (?, 1, 1, 1, ?) RETURNING *",
					`s${i}`,
					Date.now(),
				)
				.one().seq;
			const handle = timer ? setTimeout(() => {}, 600_000) : undefined;
			await Promise.resolve(i);
			if (handle !== undefined) clearTimeout(handle);
			kv.put(`out:${seq}`, i);
			sql.exec("UPDATE steps SET state = 5, ended_at = ? WHERE seq = ?", Date.now(), seq);
			await Promise.resolve();
		}
		return n;
	}

	/** Notes the time of a run's end (workloads 1 and 4); the first call counts. */
	async mark(): Promise<void> {
		if (this.ctx.storage.kv.get("at") === undefined) this.ctx.storage.kv.put("at", Date.now());
	}

	/** The time noted by mark(), if any. */
	async marked(): Promise<number | undefined> {
		return this.ctx.storage.kv.get("at") as number | undefined;
	}

	#holders: (() => void)[] = [];

	/**
	 * Workload 7b's hold: true once the bench has opened it (release()), false if it is still
	 * closed after `ms` (the caller asks again).
	 */
	async held(ms: number): Promise<boolean> {
		if (this.ctx.storage.kv.get("open")) return true;
		return new Promise<boolean>((resolve) => {
			const timer = setTimeout(() => resolve(false), ms);
			this.#holders.push(() => {
				clearTimeout(timer);
				resolve(true);
			});
		});
	}

	/** Opens the hold: every holder's step ends. */
	async release(): Promise<void> {
		this.ctx.storage.kv.put("open", true);
		for (const resolve of this.#holders.splice(0)) resolve();
	}

	/**
	 * A counter: how many instances of workload 6 reached their wait (7b: the holders that started,
	 * and the queued instances that ended); it notes when the last hit came.
	 */
	async hit(): Promise<number> {
		const n = ((this.ctx.storage.kv.get("n") as number | undefined) ?? 0) + 1;
		this.ctx.storage.kv.put("n", n);
		this.ctx.storage.kv.put("at", Date.now());
		return n;
	}

	/** How many hits, and when the last one came (workload 7b: when the last instance ended). */
	async hitsAt(): Promise<{ n: number; at: number }> {
		const kv = this.ctx.storage.kv;
		return {
			n: (kv.get("n") as number | undefined) ?? 0,
			at: (kv.get("at") as number | undefined) ?? 0,
		};
	}

	async hits(): Promise<number> {
		return (this.ctx.storage.kv.get("n") as number | undefined) ?? 0;
	}

	/** A fresh object's first request: two writes. */
	async init(): Promise<void> {
		const sql = this.ctx.storage.sql;
		sql.exec("CREATE TABLE IF NOT EXISTS t (i INTEGER PRIMARY KEY, v INTEGER)");
		sql.exec("INSERT INTO t (i, v) VALUES (1, 1)");
	}

	/**
	 * Stores what shape `shape` (one of {@link Floor.shapes}) stores: a floor of
	 * bench/memory-parts.mjs, whose worker (memory-worker.ts) adds them.
	 */
	async initShape(shape: string, id: string, counter: string): Promise<void> {
		const init = Floor.shapes[shape];
		if (!init) throw new Error(`no floor shape "${shape}" in this bench Worker`);
		await init(this.ctx, id, counter);
	}

	/** Floor shapes by name (bench/memory-worker.ts adds them). */
	static shapes: Record<
		string,
		(ctx: DurableObjectState, id: string, counter: string) => Promise<void>
	> = {};

	override async alarm(): Promise<void> {}
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Engine = "native" | "ours";

function binding(env: BenchEnv, engine: Engine): Workflow<Params> {
	return engine === "native" ? env.NATIVE : workflowBinding<Params>(env.OURS);
}

/**
 * Waits until every instance is finished, with little load: it checks the oldest unfinished one,
 * moves on while they are finished, and pauses `intervalMs` when one is not. Returns the outputs.
 */
async function waitAll(
	instances: WorkflowInstance[],
	intervalMs: number,
	timeoutMs: number,
): Promise<unknown[]> {
	const outputs: unknown[] = new Array(instances.length);
	const deadline = Date.now() + timeoutMs;
	let i = 0;
	while (i < instances.length) {
		const instance = instances[i] as WorkflowInstance;
		const s = await instance.status();
		if (s.status === "complete") {
			outputs[i] = s.output;
			i++;
			continue;
		}
		if (s.status === "errored" || s.status === "terminated") {
			throw new Error(`instance ${instance.id} ${s.status}: ${JSON.stringify(s.error)}`);
		}
		if (Date.now() > deadline)
			throw new Error(`timed out waiting for ${instance.id} (${s.status})`);
		await sleep(intervalMs);
	}
	return outputs;
}

/**
 * Workload 6: creates instances `offset` to `offset + n - 1` that wait (or, for the floor, bare
 * objects with two writes each), 100 at a time as createBatch allows. `shape` (memory-parts.mjs):
 * "journal", floor objects that store what a waiting instance of ours stores; "done", instances
 * of ours that end after their first step instead of waiting; "empty", floor objects that are
 * called once and store nothing; "lookup", engine objects asked for an instance they do not hold.
 */
async function createIdle(
	env: BenchEnv,
	engine: Engine | "floor",
	tag: string,
	n: number,
	offset: number,
	shape: string,
): Promise<Record<string, number>> {
	const t0 = Date.now();
	for (let b = offset; b < offset + n; b += 100) {
		const ids = Array.from(
			{ length: Math.min(100, offset + n - b) },
			(_, i) => `idle-${tag}-${b + i}`,
		);
		if (engine === "floor") {
			await Promise.all(
				ids.map((id) => {
					const stub = env.FLOOR.get(env.FLOOR.idFromName(id));
					if (shape === "empty") return stub.hits();
					return shape ? stub.initShape(shape, id, `counter-${tag}`) : stub.init();
				}),
			);
		} else if (shape === "lookup") {
			// Each engine object is asked for an instance it does not hold: it reads its schema and
			// writes nothing.
			const wf = binding(env, engine);
			await Promise.all(
				ids.map((id) =>
					wf.get(id).then(
						() => Promise.reject(new Error(`${id} exists`)),
						() => {},
					),
				),
			);
		} else {
			const params: Params = {
				kind: shape === "done" ? "idle-done" : "idle",
				counter: `counter-${tag}`,
			};
			await binding(env, engine).createBatch(ids.map((id) => ({ id, params })));
		}
	}
	return { ms: Date.now() - t0 };
}

/** Waits (polling every millisecond) until the run's last step has noted its end; returns that time. */
async function untilMarked(env: BenchEnv, mark: string): Promise<number> {
	const stub = env.FLOOR.get(env.FLOOR.idFromName(mark));
	const deadline = Date.now() + 600_000;
	for (;;) {
		const at = await stub.marked();
		if (at !== undefined) return at;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${mark}`);
		await sleep(1);
	}
}

/** Workload 7b's slot holders: as many as the limit of OURS_LIMITED, so that all of them are held. */
const HOLDERS = 100;

/**
 * Workload 7b (bench/run.mjs measureDrain drives it, one request per stage), on the engine with a
 * concurrency limit of 100; its instances are `drain-<tag>-<i>`:
 * - `drain-hold`: creates the {@link HOLDERS} holders, whose step runs until the hold opens, and
 *   waits until each is in it: every slot is held.
 * - `drain-create`: creates instances `offset` to `offset + n - 1` ("drained"), 100 a batch, one
 *   batch after the other; each queues, the slots being held.
 * - `drain-summary`: the gate's `{ limit, running, queued }`, as getConcurrency() gives it.
 * - `drain-check`: every `offset`-th of the `n` instances must be `queued`.
 * - `drain-release`: opens the hold and waits until the holders are complete; `at`: when it
 *   opened.
 * - `drain-done`: how many instances have ended their last step (`done`) and when the last of
 *   them did (`at`), waiting up to 2 s for all `n`.
 * - `drain-verify`: every `offset`-th of the `n` instances must be complete with output 3.
 */
async function drain(
	env: BenchEnv,
	workload: string,
	tag: string,
	n: number,
	offset: number,
	waitMs: number,
): Promise<Record<string, number>> {
	const limited = workflowBinding<Params>(env.OURS_LIMITED);
	const id = (i: number) => `drain-${tag}-${i}`;
	const holderId = (i: number) => `holder-${tag}-${i}`;
	const hold = env.FLOOR.get(env.FLOOR.idFromName(`hold-${tag}`));
	const arrived = `arrived-${tag}`;
	const done = env.FLOOR.get(env.FLOOR.idFromName(`done-${tag}`));
	switch (workload) {
		case "drain-summary": {
			// What getConcurrency() (do-workflows/ops) asks, asked here directly: the bench Worker
			// imports only the package's main entry point (see compare.mjs).
			const gate = env.OURS_LIMITED.get(env.OURS_LIMITED.idFromName("concurrency:gate"));
			const summary = await gate.gateSummary();
			if (!summary) throw new Error("drain: the workflow has no concurrency limit");
			return { ms: 0, ...summary };
		}
		case "drain-hold": {
			const t0 = Date.now();
			await limited.createBatch(
				Array.from({ length: HOLDERS }, (_, i) => ({
					id: holderId(i),
					params: { kind: "hold", hold: `hold-${tag}`, counter: arrived } as Params,
				})),
			);
			const counter = env.FLOOR.get(env.FLOOR.idFromName(arrived));
			while ((await counter.hits()) < HOLDERS) {
				if (Date.now() - t0 > 120_000) throw new Error("drain: the holders did not all start");
				await sleep(50);
			}
			return { ms: Date.now() - t0 };
		}
		case "drain-create": {
			const t0 = Date.now();
			const params: Params = { kind: "drained", counter: `done-${tag}`, waitMs };
			for (let b = offset; b < offset + n; b += 100) {
				const length = Math.min(100, offset + n - b);
				await limited.createBatch(Array.from({ length }, (_, i) => ({ id: id(b + i), params })));
			}
			return { ms: Date.now() - t0 };
		}
		case "drain-check":
		case "drain-verify": {
			let bad = 0;
			for (let i = 0; i < n; i += offset) {
				const s = await (await limited.get(id(i))).status();
				const good =
					workload === "drain-check"
						? s.status === "queued"
						: s.status === "complete" && s.output === 3;
				if (!good) bad++;
			}
			return { ms: 0, bad };
		}
		case "drain-release": {
			const at = Date.now();
			await hold.release();
			const holders = await waitAll(
				await Promise.all(Array.from({ length: HOLDERS }, (_, i) => limited.get(holderId(i)))),
				20,
				600_000,
			);
			if (holders.some((o) => o !== 2)) throw new Error("drain: a holder's output is wrong");
			return { ms: Date.now() - at, at };
		}
		case "drain-done": {
			const t0 = Date.now();
			let seen = await done.hitsAt();
			while (seen.n < n && Date.now() - t0 < 2_000) {
				await sleep(50);
				seen = await done.hitsAt();
			}
			return { ms: Date.now() - t0, done: seen.n, at: seen.at };
		}
	}
	throw new Error(`unknown workload ${workload}`);
}

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
	return sorted[Math.max(0, index)] as number;
}

async function runWorkload(
	env: BenchEnv,
	workload: string,
	engine: Engine | "floor",
	tag: string,
	n: number,
	offset: number,
	timeout: number,
	shape = "",
	waitMs = 0,
): Promise<Record<string, number>> {
	if (workload === "noop") return { ms: 0 };
	if (workload === "idle-create") return createIdle(env, engine, tag, n, offset, shape);
	if (workload === "idle-wait") {
		// Until every instance has counted itself in (its first step ran; its wait is next), or
		// `timeout` ms: an instance whose engine object failed to start never does.
		const counter = env.FLOOR.get(env.FLOOR.idFromName(`counter-${tag}`));
		const t0 = Date.now();
		let arrived = engine === "floor" ? n : await counter.hits();
		while (arrived < n && Date.now() - t0 < timeout) {
			await sleep(50);
			arrived = await counter.hits();
		}
		return { ms: Date.now() - t0, arrived };
	}
	if (workload === "idle-check") {
		// A sample of the instances: each must still be waiting (the built-in engine says running).
		const expected = engine === "native" ? "running" : "waiting";
		const wf = binding(env, engine as Engine);
		let bad = 0;
		for (let i = 0; i < n; i += offset) {
			const s = await (await wf.get(`idle-${tag}-${i}`)).status();
			if (s.status !== expected) bad++;
		}
		return { ms: 0, bad };
	}
	if (workload.startsWith("drain-")) return drain(env, workload, tag, n, offset, waitMs);
	if (engine === "floor") {
		if (workload === "steps") {
			const stub = env.FLOOR.get(env.FLOOR.idFromName(`writes-${tag}`));
			await stub.init(); // created before the clock starts: this floor is writes, not creation
			// Date.now() has 1 ms resolution and 1,000 bare writes take about that: time ten times as
			// many writes and scale, so the floor is per write, for the same number of writes.
			const t0 = Date.now();
			await stub.writes(n * 10);
			return { ms: (Date.now() - t0) / 10 };
		}
		if (workload === "journal" || workload === "journal-timer") {
			const stub = env.FLOOR.get(env.FLOOR.idFromName(`journal-${tag}`));
			await stub.init();
			const t0 = Date.now();
			await stub.journal(n * 10, workload === "journal-timer");
			return { ms: (Date.now() - t0) / 10 };
		}
		if (workload === "instances") {
			const t0 = Date.now();
			for (let b = 0; b < n / 100; b++) {
				await Promise.all(
					Array.from({ length: 100 }, (_, i) =>
						env.FLOOR.get(env.FLOOR.idFromName(`obj-${tag}-${b}-${i}`)).init(),
					),
				);
			}
			return { ms: Date.now() - t0 };
		}
		throw new Error(`no floor for ${workload}`);
	}

	const wf = binding(env, engine);
	switch (workload) {
		case "steps": {
			const mark = `mark-${tag}`;
			const t0 = Date.now();
			const instance = await wf.create({
				id: `steps-${tag}`,
				params: { kind: "steps", n, mark },
			});
			const ms = (await untilMarked(env, mark)) - t0;
			const [sum] = await waitAll([instance], 20, 600_000);
			if (sum !== (n * (n - 1)) / 2) throw new Error(`steps: wrong output ${String(sum)}`);
			return { ms };
		}
		case "instances": {
			const t0 = Date.now();
			const instances: WorkflowInstance[] = [];
			for (let b = 0; b < n / 100; b++) {
				const batch = Array.from({ length: 100 }, (_, i) => ({
					id: `two-${tag}-${b}-${i}`,
					params: { kind: "two" } as Params,
				}));
				instances.push(...(await wf.createBatch(batch)));
			}
			const created = Date.now() - t0;
			const outputs = await waitAll(instances, 5, 600_000);
			const ms = Date.now() - t0;
			if (outputs.some((o) => o !== 3)) throw new Error("instances: wrong output");
			return { ms, createdMs: created };
		}
		case "queued": {
			// As "instances", on the engine with a concurrency limit of 100: all but 100 of them
			// queue, and drain as running ones end. createdMs: creation with a limit (each create
			// waits for the gate), against "instances" without one.
			if (engine !== "ours") throw new Error("queued: ours only");
			const limited = workflowBinding<Params>(env.OURS_LIMITED);
			const t0 = Date.now();
			const batches: Promise<WorkflowInstance[]>[] = [];
			for (let b = 0; b < n / 100; b++) {
				const batch = Array.from({ length: 100 }, (_, i) => ({
					id: `queued-${tag}-${b}-${i}`,
					params: { kind: "two" } as Params,
				}));
				batches.push(limited.createBatch(batch));
				// Ten batches at a time, as a busy caller would send them.
				if (batches.length % 10 === 0) await Promise.all(batches.slice(-10));
			}
			const instances = (await Promise.all(batches)).flat();
			const created = Date.now() - t0;
			const outputs = await waitAll(instances, 20, 1_800_000);
			const ms = Date.now() - t0;
			if (outputs.some((o) => o !== 3)) throw new Error("queued: wrong output");
			return { ms, createdMs: created };
		}
		case "sleepy": {
			const mark = `mark-${tag}`;
			const t0 = Date.now();
			const instance = await wf.create({
				id: `sleepy-${tag}`,
				params: { kind: "sleepy", n, sleepMs: 1, mark },
			});
			const ms = (await untilMarked(env, mark)) - t0;
			const [output] = await waitAll([instance], 20, 600_000);
			if (output !== n) throw new Error(`sleepy: wrong output ${String(output)}`);
			return { ms };
		}
		case "wake": {
			const t0 = Date.now();
			const instances: WorkflowInstance[] = [];
			for (let b = 0; b < n / 100; b++) {
				const batch = Array.from({ length: Math.min(100, n - b * 100) }, (_, i) => ({
					id: `wake-${tag}-${b}-${i}`,
					params: { kind: "wake", sleepMs: 1000 } as Params,
				}));
				instances.push(...(await wf.createBatch(batch)));
			}
			const late = ((await waitAll(instances, 10, 600_000)) as number[]).sort((a, b) => a - b);
			return {
				ms: Date.now() - t0,
				p50: percentile(late, 50),
				p99: percentile(late, 99),
				max: percentile(late, 100),
			};
		}
	}
	throw new Error(`unknown workload ${workload}`);
}

export default {
	async fetch(request: Request, env: BenchEnv): Promise<Response> {
		const url = new URL(request.url);
		const workload = url.searchParams.get("workload") ?? "";
		const engine = (url.searchParams.get("engine") ?? "") as Engine | "floor";
		const tag = url.searchParams.get("tag") ?? "0";
		const n = Number(url.searchParams.get("n") ?? "0");
		const offset = Number(url.searchParams.get("offset") ?? "0");
		const timeout = Number(url.searchParams.get("timeout") ?? "600000");
		try {
			const shape = url.searchParams.get("shape") ?? "";
			const waitMs = Number(url.searchParams.get("waitMs") ?? "0");
			return Response.json(
				await runWorkload(env, workload, engine, tag, n, offset, timeout, shape, waitMs),
			);
		} catch (error) {
			const e = error as Error;
			return Response.json({ error: `${e.name}: ${e.message}` }, { status: 500 });
		}
	},
};
