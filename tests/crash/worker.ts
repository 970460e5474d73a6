/**
 * The crash-test Worker (tests/crash/wrangler.toml), served by `wrangler dev` and killed and
 * restarted by crash.test.ts. It hosts one workflow on do-workflows that mixes quick steps,
 * sleeps, a step that fails before it succeeds, buffered and live event waits and long steps,
 * and a separate counter Durable Object in which every step callback records its execution.
 *
 * Routes under /instances touch workflow instances; routes under /counters read the counter
 * object only, so the test can watch instances finish without any request reaching them.
 */
import { DurableObject } from "cloudflare:workers";
import {
	createWorkflowEngine,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	type WorkflowStepConfig,
	withWorkflows,
} from "../../src";
import { listInstances } from "../../src/ops";
import {
	type CounterSummary,
	type CrashOutput,
	type CrashParams,
	type DoStep,
	EARLY,
	type EventPayload,
	type ExecutionRecord,
	LATE,
	REQUEST_ID_HEADER,
} from "./protocol";

interface Env {
	CRASH_WORKFLOW: Workflow<CrashParams>;
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
		const ids = (step: DoStep) =>
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
		const inFlight: Partial<Record<DoStep, number>> = {};
		const open = this.#sql.exec<{ step: DoStep; n: number }>(
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

// ---- routes ----

const USAGE = `GET  /boot                       this runtime's boot id
POST /instances [{id, params}]     create instances (createBatch, at most 100)
POST /instances/events [{id, type, payload}]   send events
POST /instances/one-by-one [{id, params}]   create instances one create() after another
POST /instances/pause [id]         pause each; answers which were paused (a finished one is not), and their status then
POST /instances/resume [id]        resume each
POST /instances/status [id]        statuses
POST /instances/exists [id]        whether each exists
GET  /counters/summary             a summary of the execution records (touches no instance)
GET  /counters/records             every execution record (touches no instance)
GET  /counters/received?id=<id>    whether a POST with that x-request-id began (touches no instance)
`;

export default withWorkflows<Env>(
	{ CRASH_WORKFLOW: CrashWorkflowEngine },
	{
		async fetch(request, env) {
			const { pathname, searchParams } = new URL(request.url);
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
					const created = await env.CRASH_WORKFLOW.createBatch(list);
					return Response.json({ created: created.map((instance) => instance.id) });
				}
				case "POST /instances/events": {
					const list = (await request.json()) as { id: string; type: string; payload: unknown }[];
					// One at a time per instance, in the order given: the test relies on FIFO per type.
					const byInstance = Map.groupBy(list, (item) => item.id);
					await Promise.all(
						[...byInstance].map(async ([id, items]) => {
							const instance = await env.CRASH_WORKFLOW.get(id);
							for (const { type, payload } of items) await instance.sendEvent({ type, payload });
						}),
					);
					return Response.json({ sent: list.length });
				}
				case "POST /instances/one-by-one": {
					// Slower than a batch: a kill in the middle leaves some created and some not.
					const list = (await request.json()) as { id: string; params: CrashParams }[];
					for (const options of list) await env.CRASH_WORKFLOW.create(options);
					return Response.json({ created: list.map(({ id }) => id) });
				}
				case "POST /instances/pause": {
					const ids = (await request.json()) as string[];
					const answers = await Promise.all(
						ids.map(async (id) => {
							const instance = await env.CRASH_WORKFLOW.get(id);
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
					await Promise.all(ids.map(async (id) => (await env.CRASH_WORKFLOW.get(id)).resume()));
					return Response.json({ resumed: ids.length });
				}
				case "POST /instances/status": {
					const ids = (await request.json()) as string[];
					const statuses = await Promise.all(
						ids.map(async (id) => ({ id, ...(await (await env.CRASH_WORKFLOW.get(id)).status()) })),
					);
					return Response.json(statuses);
				}
				case "GET /instances/listed": {
					// Every instance the listing shows, page by page: id and status.
					const listed: { id: string; status: string }[] = [];
					let cursor: string | undefined;
					do {
						const page = await listInstances(env.CRASH_WORKFLOW, { limit: 100, cursor });
						listed.push(...page.instances.map(({ id, status }) => ({ id, status })));
						cursor = page.cursor;
					} while (cursor);
					return Response.json(listed);
				}
				case "POST /instances/exists": {
					const ids = (await request.json()) as string[];
					const exists = await Promise.all(
						ids.map((id) =>
							env.CRASH_WORKFLOW.get(id).then(
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
