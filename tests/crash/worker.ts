/**
 * The crash-test Worker (tests/crash/wrangler.toml), served by `wrangler dev` and killed and
 * restarted by crash.test.ts. It hosts, on do-workflows, a workflow that mixes quick steps,
 * sleeps, a step that fails before it succeeds, buffered and live event waits and long steps; a
 * workflow whose run fails so that its steps' rollback handlers run (each for a while); and a
 * one-step workflow that the test creates in batches cut off by kills; a workflow with a
 * concurrency limit, whose instances queue; and a workflow started every minute by its cron
 * schedule. A separate counter Durable Object records every step callback's and handler's
 * execution.
 *
 * Routes under /instances touch workflow instances (`?workflow=rollback`, `batch`, `limited` or
 * `scheduled` for the other workflows); routes under /counters read the counter object only, so the test can
 * watch instances finish without any request reaching them.
 */
import { DurableObject } from "cloudflare:workers";
import {
	createWorkflowEngine,
	NonRetryableError,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	type WorkflowStepConfig,
	withWorkflows,
} from "../../src";
import { getInstanceHistory, listInstances, listSchedules } from "../../src/ops";
import {
	type BatchParams,
	type CounterSummary,
	type CrashOutput,
	type CrashParams,
	type DoStep,
	EARLY,
	type EventPayload,
	type ExecutionRecord,
	LATE,
	LIMIT,
	type LimitedOutput,
	type LimitedParams,
	type LimitedStep,
	REQUEST_ID_HEADER,
	type RecordedStep,
	ROLLBACK_ERROR,
	type RollbackParams,
	type RollbackStep,
	SCHEDULE,
	type TickOutput,
} from "./protocol";

interface Env {
	CRASH_WORKFLOW: Workflow<CrashParams>;
	ROLLBACK_WORKFLOW: Workflow<RollbackParams>;
	BATCH_WORKFLOW: Workflow<BatchParams>;
	LIMITED_WORKFLOW: Workflow<LimitedParams>;
	SCHEDULED_WORKFLOW: Workflow<unknown>;
	COUNTERS: DurableObjectNamespace<CounterStore>;
}

/** A random id per isolate, i.e. per runtime process under `wrangler dev`. */
let bootId: string | undefined;
function boot(): string {
	bootId ??= crypto.randomUUID();
	return bootId;
}

// ---- the counter object: execution records, kept apart from the engine ----

type NewRecord = Omit<ExecutionRecord, "seq" | "boot" | "at">;

/** One object ("counters") holds every execution record; writes are durable before `record` returns. */
export class CounterStore extends DurableObject {
	readonly #sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#sql = ctx.storage.sql;
		this.#sql.exec(`CREATE TABLE IF NOT EXISTS records (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			instance TEXT NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL, token TEXT NOT NULL,
			attempt INTEGER NOT NULL, prev TEXT NOT NULL, boot TEXT NOT NULL, at INTEGER NOT NULL,
			data TEXT)`);
		this.#sql.exec("CREATE INDEX IF NOT EXISTS by_step ON records (step, kind, instance)");
		this.#sql.exec("CREATE INDEX IF NOT EXISTS by_token ON records (token, kind)");
		this.#sql.exec("CREATE TABLE IF NOT EXISTS requests (id TEXT PRIMARY KEY)");
	}

	/** Records that the Worker began the request `id` (durable before it returns). */
	receive(id: string): void {
		this.#sql.exec("INSERT OR IGNORE INTO requests (id) VALUES (?)", id);
	}

	/** Whether the Worker began the request `id`. */
	received(id: string): boolean {
		return this.#sql.exec("SELECT 1 FROM requests WHERE id = ?", id).toArray().length > 0;
	}

	/** Records one execution event, stamped with the recording isolate's boot id. */
	record(entry: NewRecord & { boot: string }): void {
		this.#sql.exec(
			"INSERT INTO records (instance, step, kind, token, attempt, prev, boot, at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			entry.instance,
			entry.step,
			entry.kind,
			entry.token,
			entry.attempt,
			entry.prev,
			entry.boot,
			Date.now(),
			entry.data,
		);
	}

	/** A summary of the records; `boot`: the runtime whose attempts in flight to count. */
	summary(boot: string): CounterSummary {
		const ids = (step: RecordedStep) =>
			this.#sql
				.exec<{ instance: string }>(
					"SELECT DISTINCT instance FROM records WHERE step = ? AND kind = 'completed'",
					step,
				)
				.toArray()
				.map((row) => row.instance);
		const totals = this.#sql
			.exec<{ records: number; lastAt: number | null }>(
				"SELECT count(*) AS records, max(at) AS lastAt FROM records",
			)
			.one();
		const inFlight: Partial<Record<RecordedStep, number>> = {};
		const open = this.#sql.exec<{ step: RecordedStep; n: number }>(
			`SELECT step, count(*) AS n FROM records AS s WHERE s.kind = 'started' AND s.boot = ?
			 AND NOT EXISTS (SELECT 1 FROM records AS o WHERE o.token = s.token AND o.kind != 'started')
			 GROUP BY step`,
			boot,
		);
		for (const { step, n } of open) inFlight[step] = n;
		const longInFlight = this.#sql
			.exec<{ instance: string }>(
				`SELECT DISTINCT instance FROM records AS s WHERE s.kind = 'started' AND s.boot = ?
				 AND s.step IN ('long-1', 'long-2')
				 AND NOT EXISTS (SELECT 1 FROM records AS o WHERE o.token = s.token AND o.kind != 'started')`,
				boot,
			)
			.toArray()
			.map((row) => row.instance);
		return {
			records: totals.records,
			readyForLate: ids("ready-for-late"),
			finished: ids("finish"),
			inFlight,
			longInFlight,
			rolledBack: ids("undo:reserve"),
			batchRan: ids("batch-ran"),
			limitedDone: ids("slot-2"),
			ticksStarted: this.#sql
				.exec<{ instance: string }>("SELECT DISTINCT instance FROM records WHERE step = 'tick'")
				.toArray()
				.map((row) => row.instance),
			ticksDone: ids("tick"),
			lastAt: totals.lastAt,
			now: Date.now(),
		};
	}

	records(): ExecutionRecord[] {
		return this.#sql
			.exec<Record<string, SqlStorageValue>>("SELECT * FROM records ORDER BY seq")
			.toArray() as unknown as ExecutionRecord[];
	}
}

function counters(env: Env): DurableObjectStub<CounterStore> {
	// A fresh stub per call: a stub breaks for good if its object is reset.
	return env.COUNTERS.get(env.COUNTERS.idFromName("counters"));
}

// ---- the workflow ----

/** Quick steps retry fast if anything unexpected fails (the documented default waits 10 s). */
const QUICK: WorkflowStepConfig = { retries: { limit: 5, delay: 250, backoff: "constant" } };

function sleepMs(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

export class CrashWorkflow extends WorkflowEntrypoint<Env, CrashParams> {
	async run(event: WorkflowEvent<CrashParams>, step: WorkflowStep): Promise<CrashOutput> {
		const p = event.payload;
		const instance = event.instanceId;

		/**
		 * A step.do whose callback records "started", does `work`, then records "completed" and
		 * returns a token unique to this attempt. `prev` is the token run() got from the step before.
		 */
		const tracked = (
			name: DoStep,
			prev: string,
			config: WorkflowStepConfig,
			work: (attempt: number) => Promise<void> = async () => {},
			data: () => string | null = () => null,
		) =>
			step.do(name, config, async ({ attempt }) => {
				const token = crypto.randomUUID();
				const base = { instance, step: name, token, attempt, prev, data: null, boot: boot() };
				await counters(this.env).record({ ...base, kind: "started" });
				try {
					await work(attempt);
				} catch (error) {
					await counters(this.env).record({ ...base, kind: "failed" });
					throw error;
				}
				await counters(this.env).record({ ...base, kind: "completed", data: data() });
				return token;
			});

		const long = async () => {
			// A few seconds of awaited timers, in slices, as a real long call would await I/O.
			for (let left = p.longMs; left > 0; left -= 250) await sleepMs(Math.min(250, left));
		};

		const quick1 = await tracked("quick-1", "", QUICK);
		const quick2 = await tracked("quick-2", quick1, QUICK);
		await step.sleep("nap-1", p.nap1Ms);
		const flaky = await tracked(
			"flaky",
			quick2,
			// Room for the planned failures and a spare; interrupted attempts are not failures.
			{ retries: { limit: p.failures + 1, delay: p.retryDelayMs, backoff: "constant" } },
			async (attempt) => {
				if (attempt <= p.failures) throw new Error(`planned failure of attempt ${attempt}`);
			},
		);
		const early1 = await step.waitForEvent<EventPayload>("early-1", {
			type: EARLY,
			timeout: "10 minutes",
		});
		const long1 = await tracked("long-1", flaky, QUICK, long);
		const ready = await tracked("ready-for-late", long1, QUICK);
		const late1 = await step.waitForEvent<EventPayload>("late-1", {
			type: LATE,
			timeout: "10 minutes",
		});
		const early2 = await step.waitForEvent<EventPayload>("early-2", {
			type: EARLY,
			timeout: "10 minutes",
		});
		const long2 = await tracked("long-2", ready, QUICK, long);
		await step.sleep("nap-2", p.nap2Ms);
		const quick3 = await tracked("quick-3", long2, QUICK);

		const output: CrashOutput = {
			tokens: {
				"quick-1": quick1,
				"quick-2": quick2,
				flaky,
				"long-1": long1,
				"ready-for-late": ready,
				"long-2": long2,
				"quick-3": quick3,
			},
			events: { early1: early1.payload.pid, late1: late1.payload.pid, early2: early2.payload.pid },
		};
		// The finished marker: the output as run() is about to return it, recorded with the last step.
		await tracked("finish", quick3, QUICK, undefined, () => JSON.stringify(output));
		return output;
	}
}

export const CrashWorkflowEngine = createWorkflowEngine(CrashWorkflow, { name: "crash-workflow" });

/**
 * Two steps with rollback handlers, a sleep, then a third that fails for good: run() throws, and
 * the handlers run in reverse order ("ship", "charge", "reserve"), each for `handlerMs`. Forward
 * attempts record `fwd:<step>`, handler runs `undo:<step>` with the output and error they got.
 */
export class RollbackWorkflow extends WorkflowEntrypoint<Env, RollbackParams> {
	async run(event: WorkflowEvent<RollbackParams>, step: WorkflowStep): Promise<never> {
		const p = event.payload;
		const instance = event.instanceId;
		const record = (
			name: RecordedStep,
			kind: ExecutionRecord["kind"],
			fields: Partial<NewRecord>,
		) =>
			counters(this.env).record({
				instance,
				step: name,
				kind,
				token: "",
				attempt: 0,
				prev: "",
				data: null,
				...fields,
				boot: boot(),
			});
		const rollback = (name: RollbackStep) => ({
			rollback: async ({ output, error }: { output: unknown; error: Error }) => {
				const fields = {
					token: crypto.randomUUID(),
					prev: String(output ?? ""),
					data: error.message,
				};
				await record(`undo:${name}`, "started", fields);
				for (let left = p.handlerMs; left > 0; left -= 250) await sleepMs(Math.min(250, left));
				await record(`undo:${name}`, "completed", fields);
			},
			rollbackConfig: QUICK,
		});
		const forward = (name: RollbackStep) =>
			step.do(
				name,
				QUICK,
				async ({ attempt }) => {
					const fields = { token: crypto.randomUUID(), attempt };
					await record(`fwd:${name}`, "started", fields);
					if (name === "ship") {
						await record(`fwd:${name}`, "failed", fields);
						throw new NonRetryableError(ROLLBACK_ERROR);
					}
					await record(`fwd:${name}`, "completed", fields);
					return fields.token;
				},
				rollback(name),
			);
		await forward("reserve");
		await forward("charge");
		await step.sleep("nap", p.napMs);
		await forward("ship");
		throw new Error("unreachable: ship fails for good");
	}
}

export const RollbackWorkflowEngine = createWorkflowEngine(RollbackWorkflow, {
	name: "rollback-workflow",
});

/** One step, which records that it ran and returns the params: for batches cut off by a kill. */
export class BatchWorkflow extends WorkflowEntrypoint<Env, BatchParams> {
	async run(event: WorkflowEvent<BatchParams>, step: WorkflowStep): Promise<BatchParams> {
		return step.do("ran", QUICK, async ({ attempt }) => {
			await counters(this.env).record({
				instance: event.instanceId,
				step: "batch-ran",
				kind: "completed",
				token: crypto.randomUUID(),
				attempt,
				prev: "",
				data: JSON.stringify(event.payload),
				boot: boot(),
			});
			return { ...event.payload };
		});
	}
}

export const BatchWorkflowEngine = createWorkflowEngine(BatchWorkflow, { name: "batch-workflow" });

/** A step.do whose callback records "started", runs `ms` (awaited timers), records "completed". */
function recordedStep(
	env: Env,
	step: WorkflowStep,
	instance: string,
	name: LimitedStep | "tick",
	ms: number,
	data: string | null = null,
): Promise<string> {
	return step.do(name, QUICK, async ({ attempt }) => {
		const base = { instance, step: name, token: crypto.randomUUID(), attempt, prev: "", data };
		await counters(env).record({ ...base, kind: "started", boot: boot() });
		for (let left = ms; left > 0; left -= 250) await sleepMs(Math.min(250, left));
		await counters(env).record({ ...base, kind: "completed", boot: boot() });
		return base.token;
	});
}

/**
 * A step, a sleep, a step, under a concurrency limit of {@link LIMIT}: instances over it wait
 * `queued`, and each wakes from its sleep into the queue again. The steps' records say which
 * instances were inside a step at any moment: never more than the limit.
 */
export class LimitedWorkflow extends WorkflowEntrypoint<Env, LimitedParams> {
	async run(event: WorkflowEvent<LimitedParams>, step: WorkflowStep): Promise<LimitedOutput> {
		const { workMs, napMs } = event.payload;
		const first = await recordedStep(this.env, step, event.instanceId, "slot-1", workMs);
		await step.sleep("rest", napMs);
		const second = await recordedStep(this.env, step, event.instanceId, "slot-2", workMs);
		return { tokens: { "slot-1": first, "slot-2": second } };
	}
}

export const LimitedWorkflowEngine = createWorkflowEngine(LimitedWorkflow, {
	name: "limited-workflow",
	concurrency: { limit: LIMIT },
});

/** Started by its schedule only: one step that records the tick (`event.schedule`) it runs for. */
export class ScheduledWorkflow extends WorkflowEntrypoint<Env, unknown> {
	async run(event: WorkflowEvent<unknown>, step: WorkflowStep): Promise<TickOutput> {
		const { schedule } = event as WorkflowEvent<unknown> & { schedule?: TickOutput["schedule"] };
		const data = JSON.stringify(schedule ?? null);
		// Long enough for a kill to cut some off.
		const token = await recordedStep(this.env, step, event.instanceId, "tick", 1_000, data);
		return { schedule: schedule ?? null, token };
	}
}

export const ScheduledWorkflowEngine = createWorkflowEngine(ScheduledWorkflow, {
	name: "scheduled-workflow",
	schedules: SCHEDULE,
});

// ---- routes ----

const USAGE = `GET  /boot                       this runtime's boot id
POST /instances [{id, params}]     create instances (createBatch, at most 100)
POST /instances/events [{id, type, payload}]   send events
POST /instances/one-by-one [{id, params}]   create instances one create() after another
POST /instances/pause [id]         pause each; answers which were paused (a finished one is not), and their status then
POST /instances/resume [id]        resume each
POST /instances/status [id]        statuses
POST /instances/exists [id]        whether each exists
POST /instances/batch {instances} | {count, params}   createBatch's object forms: {created: [id], errors}
GET  /instances/subscribe?id=<id>&cursor=<eventId>   instance.subscribe() from the cursor, one JSON event a line, until its final event
GET  /instances/history?id=<id>   the instance's rollback steps: name, state, attempts
(every /instances route takes ?workflow=rollback, batch, limited or scheduled for the other workflows)
GET  /schedules                  the scheduled workflow's schedules (starts its scheduler; touches no instance)
GET  /counters/summary             a summary of the execution records (touches no instance)
GET  /counters/records             every execution record (touches no instance)
GET  /counters/received?id=<id>    whether a POST with that x-request-id began (touches no instance)
`;

export default withWorkflows<Env>(
	{
		CRASH_WORKFLOW: CrashWorkflowEngine,
		ROLLBACK_WORKFLOW: RollbackWorkflowEngine,
		BATCH_WORKFLOW: BatchWorkflowEngine,
		LIMITED_WORKFLOW: LimitedWorkflowEngine,
		SCHEDULED_WORKFLOW: ScheduledWorkflowEngine,
	},
	{
		async fetch(request, env, ctx) {
			const { pathname, searchParams } = new URL(request.url);
			// Untyped: the routes below pass each workflow's own params through.
			const workflows: Record<string, Workflow<unknown>> = {
				rollback: env.ROLLBACK_WORKFLOW,
				batch: env.BATCH_WORKFLOW,
				limited: env.LIMITED_WORKFLOW,
				scheduled: env.SCHEDULED_WORKFLOW,
			};
			const workflow = workflows[searchParams.get("workflow") ?? ""] ?? env.CRASH_WORKFLOW;
			const route = `${request.method} ${pathname}`;
			// Before it acts on a POST, the Worker records that it began it: a POST that wrangler
			// dev's proxy answered "restarted mid-request" and that is not recorded never began, and
			// the test sends it again (harness.ts).
			const requestId = request.headers.get(REQUEST_ID_HEADER);
			if (request.method === "POST" && requestId) await counters(env).receive(requestId);
			switch (route) {
				case "GET /":
					return new Response(USAGE);
				case "GET /boot":
					return Response.json({ boot: boot() });
				case "GET /schedules":
					return Response.json(await listSchedules(env.SCHEDULED_WORKFLOW));
				case "GET /counters/summary":
					return Response.json(await counters(env).summary(boot()));
				case "GET /counters/records":
					return Response.json(await counters(env).records());
				case "GET /counters/received":
					return Response.json({
						received: await counters(env).received(searchParams.get("id") ?? ""),
					});
				case "POST /instances": {
					const list = (await request.json()) as { id: string; params: CrashParams }[];
					const created = await workflow.createBatch(list);
					return Response.json({ created: created.map((instance) => instance.id) });
				}
				case "POST /instances/batch": {
					const options = (await request.json()) as WorkflowBatchCreateOptions<unknown>;
					const { created, errors } = await workflow.createBatch(options);
					return Response.json({ created: created.map((instance) => instance.id), errors });
				}
				case "GET /instances/subscribe": {
					// The subscription's events as they come, one JSON object a line, until its final
					// event: the test reads them, is cut off by a kill, and subscribes again from its cursor.
					const cursor = searchParams.get("cursor");
					const instance = await workflow.get(searchParams.get("id") ?? "");
					const subscription = await instance.subscribe(
						cursor === null ? {} : { cursor: Number(cursor) },
					);
					const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
					const writer = writable.getWriter();
					const encoder = new TextEncoder();
					ctx.waitUntil(
						(async () => {
							try {
								for (let r = await subscription.next(); !r.done; r = await subscription.next()) {
									await writer.write(encoder.encode(`${JSON.stringify(r.value)}\n`));
								}
								await writer.close();
							} catch (error) {
								await writer.abort(error).catch(() => {});
							} finally {
								subscription[Symbol.dispose]();
							}
						})(),
					);
					return new Response(readable, { headers: { "content-type": "application/x-ndjson" } });
				}
				case "GET /instances/history": {
					const history = await getInstanceHistory(workflow, searchParams.get("id") ?? "");
					return Response.json(
						history.steps
							.filter((step) => step.type === "rollback")
							.map((step) => ({
								name: step.name,
								state: step.state,
								attempts: step.type === "rollback" ? step.attempts.length : 0,
								interruptedAttempts: step.type === "rollback" ? step.interruptedAttempts : 0,
							})),
					);
				}
				case "POST /instances/events": {
					const list = (await request.json()) as { id: string; type: string; payload: unknown }[];
					// One at a time per instance, in the order given: the test relies on FIFO per type.
					const byInstance = Map.groupBy(list, (item) => item.id);
					await Promise.all(
						[...byInstance].map(async ([id, items]) => {
							const instance = await workflow.get(id);
							for (const { type, payload } of items) await instance.sendEvent({ type, payload });
						}),
					);
					return Response.json({ sent: list.length });
				}
				case "POST /instances/one-by-one": {
					// Slower than a batch: a kill in the middle leaves some created and some not.
					const list = (await request.json()) as { id: string; params: CrashParams }[];
					for (const options of list) await workflow.create(options);
					return Response.json({ created: list.map(({ id }) => id) });
				}
				case "POST /instances/pause": {
					const ids = (await request.json()) as string[];
					const answers = await Promise.all(
						ids.map(async (id) => {
							const instance = await workflow.get(id);
							const paused = await instance.pause().then(
								() => true,
								(error: Error) => {
									// Finished before the pause came: nothing to pause.
									if (error.name === "InvalidStateError") return false;
									throw error;
								},
							);
							// waitingForPause while an attempt is in flight, else paused.
							return { id, paused, status: (await instance.status()).status };
						}),
					);
					return Response.json(answers);
				}
				case "POST /instances/resume": {
					const ids = (await request.json()) as string[];
					await Promise.all(ids.map(async (id) => (await workflow.get(id)).resume()));
					return Response.json({ resumed: ids.length });
				}
				case "POST /instances/status": {
					const ids = (await request.json()) as string[];
					const statuses = await Promise.all(
						ids.map(async (id) => ({ id, ...(await (await workflow.get(id)).status()) })),
					);
					return Response.json(statuses);
				}
				case "GET /instances/listed": {
					// Every instance the listing shows, page by page: id and status.
					const listed: { id: string; status: string }[] = [];
					let cursor: string | undefined;
					do {
						const page = await listInstances(workflow, { limit: 100, cursor });
						listed.push(...page.instances.map(({ id, status }) => ({ id, status })));
						cursor = page.cursor;
					} while (cursor);
					return Response.json(listed);
				}
				case "POST /instances/exists": {
					const ids = (await request.json()) as string[];
					const exists = await Promise.all(
						ids.map((id) =>
							workflow.get(id).then(
								() => true,
								(error: Error) => {
									if (error.name === "InstanceNotFoundError") return false;
									throw error;
								},
							),
						),
					);
					return Response.json(ids.map((id, i) => ({ id, exists: exists[i] })));
				}
				default:
					return new Response(USAGE, { status: 404 });
			}
		},
	},
);
