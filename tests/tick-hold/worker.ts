/**
 * A Worker whose scheduler can be held in the middle of firing a tick, served by `wrangler dev`
 * in tests/e2e/schedule-crash.test.ts (tests/tick-hold/wrangler.toml). It installs engine hooks
 * of its own (src/engine/hooks.ts: no instance controls, nothing watched) whose `scheduledTick`
 * records, in a log Durable Object kept apart from the engine, each point of a tick's firing it
 * reaches, and never returns from the one `--var HOLD_AT:beforeCreate` (or `afterCreate`) names:
 * the test kills the runtime there, as a crash at that point of the tick would.
 *
 * Its workflow has one schedule, January 1st (far from any run of the test, so no tick comes by
 * itself; the test fires the next one now with the test kit's fast-forward, which the installed
 * hooks allow), and one step that records the `event.schedule` it runs for in the same log.
 *
 * `GET /` and `GET /log` are answered before withWorkflows' handler: they neither start the
 * scheduler nor touch an instance, so a test that requests nothing else after a restart sees
 * what the scheduler's alarm did by itself.
 */
import { DurableObject, env as runtimeEnv } from "cloudflare:workers";
import {
	createWorkflowEngine,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	withWorkflows,
} from "../../src";
import { engineNamespace } from "../../src/binding/namespace";
import { installEngineHooks } from "../../src/engine/hooks";
import { listInstances, listSchedules } from "../../src/ops";
import { scheduleClient } from "../../src/schedules/client";
import type { LogRecord } from "./protocol";

/** The workflow's one schedule: midnight UTC on January 1st. */
const CRON = "0 0 1 1 *";

interface Env {
	TICKS: Workflow<unknown>;
	LOG: DurableObjectNamespace<TickLog>;
	/** The point of a tick's firing where the scheduler is held: beforeCreate, afterCreate or unset. */
	HOLD_AT?: string;
}

/** A random id per isolate, i.e. per runtime process under `wrangler dev`. */
let bootId: string | undefined;
function boot(): string {
	bootId ??= crypto.randomUUID();
	return bootId;
}

/** One object holds the records; each is durable before `record` returns. */
export class TickLog extends DurableObject<Env> {
	readonly #sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.#sql = ctx.storage.sql;
		this.#sql.exec(`CREATE TABLE IF NOT EXISTS records (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			kind TEXT NOT NULL, instance TEXT NOT NULL, boot TEXT NOT NULL, data TEXT)`);
	}

	record(kind: LogRecord["kind"], instance: string, boot: string, data: string | null): void {
		this.#sql.exec(
			"INSERT INTO records (kind, instance, boot, data) VALUES (?, ?, ?, ?)",
			kind,
			instance,
			boot,
			data,
		);
	}

	records(): LogRecord[] {
		return this.#sql
			.exec<Record<string, SqlStorageValue>>("SELECT * FROM records ORDER BY seq")
			.toArray() as unknown as LogRecord[];
	}
}

function log() {
	const namespace = (runtimeEnv as unknown as Env).LOG;
	return namespace.get(namespace.idFromName("log"));
}

installEngineHooks({
	controls: () => undefined,
	changed: () => {},
	async scheduledTick(instanceId, phase) {
		// Recorded before the hold: the scheduler reached this point (and, before it, wrote the
		// tick pending; the record goes out only once that write is stored).
		await log().record(phase, instanceId, boot(), null);
		if ((runtimeEnv as unknown as Env).HOLD_AT !== phase) return;
		// Held until the runtime is killed. A timer stays pending all along: a promise that nothing
		// could settle would have the runtime cancel the event as hung.
		for (;;) await new Promise((resolve) => setTimeout(resolve, 60_000));
	},
});

/** Started by its schedule only: one step that records the tick it runs for. */
export class TickWorkflow extends WorkflowEntrypoint<Env, unknown> {
	override async run(event: WorkflowEvent<unknown>, step: WorkflowStep) {
		const schedule = event.schedule ?? null;
		const token = await step.do("tick", async () => {
			const token = crypto.randomUUID();
			await log().record("step", event.instanceId, boot(), JSON.stringify({ schedule, token }));
			return token;
		});
		return { schedule, token };
	}
}

export const TickWorkflowEngine = createWorkflowEngine(TickWorkflow, {
	name: "tick",
	schedules: CRON,
});

const USAGE = `GET  /                 this text (starts nothing)
GET  /log              the log's records: points of a tick reached, step runs (starts nothing)
GET  /schedules        listSchedules (starts the scheduler)
POST /fire             fires the schedule's next tick now (the test kit's fast-forward); answers the ticks fired
GET  /instance?id=<id> the instance's status
GET  /instances        every instance the listing shows: id and status
`;

async function workflowFetch(request: Request, env: Env): Promise<Response> {
	const { pathname, searchParams } = new URL(request.url);
	switch (`${request.method} ${pathname}`) {
		case "GET /schedules":
			return Response.json(await listSchedules(env.TICKS));
		case "POST /fire":
			return Response.json(await scheduleClient(engineNamespace(env.TICKS, "fire")).fire(CRON));
		case "GET /instance": {
			const instance = await env.TICKS.get(searchParams.get("id") ?? "");
			return Response.json(await instance.status());
		}
		case "GET /instances": {
			const listed: { id: string; status: string }[] = [];
			let cursor: string | undefined;
			do {
				const page = await listInstances(env.TICKS, { limit: 100, cursor });
				listed.push(...page.instances.map(({ id, status }) => ({ id, status })));
				cursor = page.cursor;
			} while (cursor);
			return Response.json(listed);
		}
		default:
			return new Response(USAGE, { status: 404 });
	}
}

const workflows = withWorkflows<Env>({ TICKS: TickWorkflowEngine }, { fetch: workflowFetch });

export default {
	async fetch(request, env, ctx) {
		const { pathname } = new URL(request.url);
		if (request.method === "GET" && pathname === "/") return new Response(USAGE);
		if (request.method === "GET" && pathname === "/log")
			return Response.json(await log().records());
		return (workflows.fetch as NonNullable<typeof workflows.fetch>)(request, env, ctx);
	},
} satisfies ExportedHandler<Env>;
