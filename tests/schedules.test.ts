/**
 * Cron schedules (createWorkflowEngine's `schedules`): the options and the cron dialect checked,
 * a tick's instance (its id, `event.schedule`, its payload), exactly one instance per tick when a
 * crash comes between the create and its record, one catch-up run after downtime, pause and
 * resume, the operations, the admin API and the test kit. Time is never waited for: the
 * scheduler's alarm is run early (it reaches the tick it was set for) or its stored state is
 * rewound, as a crash or downtime leaves it.
 */
import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
	createWorkflowEngine,
	InstanceExistsError,
	WorkflowValidationError,
	workflowBinding,
} from "../src";
import { engineHooks } from "../src/engine/hooks";
import type { EngineNamespace } from "../src/engine/protocol";
import {
	listInstances,
	listSchedules,
	pauseSchedule,
	resumeSchedule,
	waitForResult,
} from "../src/ops";
import { createScheduledInstance } from "../src/schedules/create";
import { CronExpression } from "../src/schedules/cron";
import { SCHEDULER_NAME, TICK_LEASE_MS } from "../src/schedules/schedules";
import { fireSchedule } from "../src/testing";
import { SCHEDULES, ScheduledWorkflow, type SeenEvent } from "./scheduled";

const scheduled = () => workflowBinding(env.SCHEDULED as unknown as EngineNamespace);
const scheduler = () => env.SCHEDULED.get(env.SCHEDULED.idFromName(SCHEDULER_NAME));

/** Runs `query` on the scheduler object's database. */
function sql(query: string, ...bindings: unknown[]): Promise<Record<string, unknown>[]> {
	return runInDurableObject(scheduler(), (_engine, state) =>
		state.storage.sql.exec(query, ...bindings).toArray(),
	);
}

/**
 * Leaves the scheduler as a runtime that stopped would: `cron`'s row as `row` says, and the alarm
 * recorded as due now, so that running it reaches now, not the next tick. The runtime's alarm is
 * set a year ahead, so that it never fires by itself: the test runs it.
 */
async function rewind(cron: string, row: Record<string, number | null>): Promise<void> {
	await listSchedules(env.SCHEDULED);
	const columns = Object.keys(row);
	await sql(
		`UPDATE schedules SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE cron = ?`,
		...columns.map((c) => row[c]),
		cron,
	);
	const now = Date.now();
	await runInDurableObject(scheduler(), async (_engine, state) => {
		state.storage.sql.exec("DELETE FROM schedule_alarm");
		state.storage.sql.exec("INSERT INTO schedule_alarm (at) VALUES (?)", now);
		await state.storage.setAlarm(now + 365 * 24 * 3600_000);
	});
}

/** The ids of the instances of `cron`'s ticks. */
async function tickInstances(cron: string): Promise<string[]> {
	const ids: string[] = [];
	let cursor: string | undefined;
	do {
		const page = await listInstances(env.SCHEDULED, { limit: 100, cursor });
		ids.push(...page.instances.map((i) => i.id).filter((id) => id.startsWith(`${cron}-`)));
		cursor = page.cursor;
	} while (cursor);
	return ids.sort();
}

const engine = (schedules: unknown) =>
	createWorkflowEngine(ScheduledWorkflow, { name: "bad", schedules: schedules as string[] });

describe("schedules option", () => {
	it.each([
		["", "must not be empty"],
		[[], "must not be an empty list"],
		[[""], "must not contain an empty expression"],
		[42, "must be a cron expression or a list of them"],
		[["0 * * * *", "0 * * * *"], 'lists "0 * * * *" twice'],
		[Array.from({ length: 101 }, (_, i) => `${i % 60} ${Math.floor(i / 60)} * * *`), "at most 100"],
		["* * * * * *", "exactly 5 fields"],
		["0 *", "exactly 5 fields"],
		["@hourly", "exactly 5 fields"],
		["0 0 ? * *", "may only hold digits"],
		[" 0 * * * *", "must not start or end with whitespace"],
		["0 0 * * 0", "1-7 with 1 = Sunday"],
		["0 0 * * FRI-SUN", "wraps around"],
		["0 0 L-3 * *", "L-n, L-nW"],
		["0 0 * * L", "L alone"],
		["61 * * * *", "Invalid value for minute: 61"],
		["0 0 30 2 *", "never matches"],
		[`${Array.from({ length: 40 }, (_, i) => i).join(",")} * * * *`, "at most 86"],
	])("refuses %j, naming the rule", (schedules, rule) => {
		expect(() => engine(schedules)).toThrow(WorkflowValidationError);
		expect(() => engine(schedules)).toThrow(rule);
	});

	it("takes one expression or a list, as wrangler's schedules", () => {
		expect(engine("0 * * * *").definition?.schedules.map((c) => c.expression)).toEqual([
			"0 * * * *",
		]);
		expect(engine(["*/15 * * * *", "0 9 * * MON-FRI"]).definition?.schedules).toHaveLength(2);
	});
});

describe("the cron dialect (Cloudflare's cron triggers)", () => {
	// Wednesday 3 June 2026, 12:15 UTC.
	const from = Date.UTC(2026, 5, 3, 12, 15);
	const next = (cron: string, n = 1) => {
		const expression = CronExpression.parse(cron);
		const ticks: string[] = [];
		let at = from;
		for (let i = 0; i < n; i++) {
			at = expression.next(at) as number;
			ticks.push(new Date(at).toISOString());
		}
		return ticks;
	};

	it("numbers weekdays 1-7 from Sunday, and reads their names", () => {
		expect(next("0 17 * * 1")).toEqual(["2026-06-07T17:00:00.000Z"]); // a Sunday
		expect(next("0 17 * * sun")).toEqual(next("0 17 * * 1"));
		expect(next("10 7 * * 2-6", 3)).toEqual(next("10 7 * * mon-fri", 3));
		expect(next("10 7 * * 2-6", 3)).toEqual([
			"2026-06-04T07:10:00.000Z",
			"2026-06-05T07:10:00.000Z",
			"2026-06-08T07:10:00.000Z",
		]);
	});

	it("takes L, W, # and steps, in UTC", () => {
		expect(next("0 18 * * 6L")).toEqual(["2026-06-26T18:00:00.000Z"]); // the last Friday
		expect(next("59 23 LW * *")).toEqual(["2026-06-30T23:59:00.000Z"]); // the last weekday
		expect(next("0 0 15W * *")).toEqual(["2026-06-15T00:00:00.000Z"]);
		expect(next("0 0 * * 2#1")).toEqual(["2026-07-06T00:00:00.000Z"]); // the first Monday
		expect(next("5/15 * * * *", 2)).toEqual([
			"2026-06-03T12:20:00.000Z",
			"2026-06-03T12:35:00.000Z",
		]);
		expect(next("0 * * * *")).toEqual(["2026-06-03T13:00:00.000Z"]);
	});

	it("matches a day of the month or a day of the week when both are given", () => {
		expect(next("0 0 1 * 1", 5)).toEqual([
			"2026-06-07T00:00:00.000Z",
			"2026-06-14T00:00:00.000Z",
			"2026-06-21T00:00:00.000Z",
			"2026-06-28T00:00:00.000Z",
			"2026-07-01T00:00:00.000Z",
		]);
	});

	it("finds the latest tick at or before a time", () => {
		const hourly = CronExpression.parse("0 * * * *");
		expect(hourly.latest(Date.UTC(2026, 5, 3, 12, 0))).toBe(Date.UTC(2026, 5, 3, 12, 0));
		expect(hourly.latest(Date.UTC(2026, 5, 3, 12, 59))).toBe(Date.UTC(2026, 5, 3, 12, 0));
	});
});

describe("a tick", () => {
	it("creates one instance, <cron>-<time>, with event.schedule and an empty payload", async () => {
		const cron = "0 0 1 1 *";
		const [listed] = (await listSchedules(env.SCHEDULED)).filter((s) => s.cron === cron);
		const tick = CronExpression.parse(cron).next(Date.now()) as number;
		expect(listed).toMatchObject({ cron, paused: false, nextRunAt: new Date(tick) });

		const fired = await fireSchedule(env.SCHEDULED, cron);
		const id = `${cron}-${tick}`;
		expect(fired).toEqual([{ cron, scheduledTime: tick, instanceId: id }]);
		const result = await waitForResult(env.SCHEDULED, id);
		expect(result.status).toBe("complete");
		expect(result.output).toEqual({
			instanceId: id,
			workflowName: "scheduled",
			payload: {},
			schedule: { cron, scheduledTime: tick },
			hasSchedule: true,
		} satisfies SeenEvent);
		// The id is addressable as any other.
		expect(await (await scheduled().get(id)).status()).toMatchObject({ status: "complete" });

		const [after] = (await listSchedules(env.SCHEDULED)).filter((s) => s.cron === cron);
		expect(after).toEqual({
			cron,
			paused: false,
			nextRunAt: new Date(CronExpression.parse(cron).next(tick) as number),
			lastRunAt: new Date(tick),
			lastInstanceId: id,
		});
		// The scheduler's alarm waits for the earliest next tick of its schedules, no sooner.
		const earliest = Math.min(
			...(await listSchedules(env.SCHEDULED)).flatMap((s) =>
				s.nextRunAt ? [s.nextRunAt.getTime()] : [],
			),
		);
		const alarm = await runInDurableObject(scheduler(), (_engine, state) =>
			state.storage.getAlarm(),
		);
		expect(alarm).toBe(earliest);
	});

	it("gives an instance created otherwise no event.schedule, and keeps the ids of ticks for ticks", async () => {
		const own = await scheduled().create({ params: { hello: "world" } });
		const result = await waitForResult(env.SCHEDULED, own.id);
		expect(result.output).toMatchObject({ payload: { hello: "world" }, hasSchedule: false });
		await expect(scheduled().create({ id: "0 0 1 1 *-1" })).rejects.toThrow(
			WorkflowValidationError,
		);
	});

	it("makes one instance when a crash came between the create and its record", async () => {
		const cron = "0 0 2 1 *";
		const [fired] = await fireSchedule(env.SCHEDULED, cron);
		if (!fired) throw new Error("no tick fired");
		const first = await waitForResult(env.SCHEDULED, fired.instanceId);
		// As the runtime leaves it if it dies after the create: the tick pending, its lease due.
		await rewind(cron, {
			pending_tick: fired.scheduledTime,
			pending_until: Date.now(),
			next_tick: fired.scheduledTime,
			last_tick: null,
		});
		expect(await runDurableObjectAlarm(scheduler())).toBe(true);

		expect(await tickInstances(cron)).toEqual([fired.instanceId]);
		// The instance ran once: the second create was refused, not run.
		expect(await waitForResult(env.SCHEDULED, fired.instanceId)).toEqual(first);
		const [after] = (await listSchedules(env.SCHEDULED)).filter((s) => s.cron === cron);
		expect(after).toMatchObject({
			lastRunAt: new Date(fired.scheduledTime),
			lastInstanceId: fired.instanceId,
			nextRunAt: new Date(CronExpression.parse(cron).next(fired.scheduledTime) as number),
		});
		// What the scheduler met: the tick's instance refuses a second create.
		await expect(
			createScheduledInstance(env.SCHEDULED as unknown as EngineNamespace, fired.instanceId, {
				cron,
				scheduledTime: fired.scheduledTime,
			}),
		).rejects.toThrow(InstanceExistsError);
	});

	it("keeps its alarm a lease ahead while a tick's create outlasts the lease", async () => {
		const cron = "0 0 6 1 *";
		const hooks = engineHooks();
		if (!hooks) throw new Error("the test kit installs engine hooks");
		const held = Promise.withResolvers<void>();
		let reached = false;
		hooks.scheduledTick = (_id, phase) => {
			if (phase !== "beforeCreate" || reached) return;
			reached = true;
			return held.promise;
		};
		try {
			const firing = fireSchedule(env.SCHEDULED, cron);
			await expect.poll(() => reached).toBe(true);
			// The lease runs out while the create is still in flight, and the alarm fires.
			await sql("UPDATE schedules SET pending_until = ? WHERE cron = ?", Date.now() - 1, cron);
			await runInDurableObject(scheduler(), (_engine, state) =>
				state.storage.setAlarm(Date.now() + 365 * 24 * 3600_000),
			);
			await runDurableObjectAlarm(scheduler());
			// Not fired again (it is in flight), and not due again at once: a lease from now.
			const alarm = await runInDurableObject(scheduler(), (_engine, state) =>
				state.storage.getAlarm(),
			);
			expect(alarm).toBeGreaterThan(Date.now() + TICK_LEASE_MS / 2);
			held.resolve();
			const [fired] = await firing;
			expect(await tickInstances(cron)).toEqual([fired?.instanceId]);
		} finally {
			held.resolve();
			delete hooks.scheduledTick;
		}
	});

	it("after downtime, runs once for the latest tick missed, not once per tick", async () => {
		const cron = "0 0 3 1 *";
		const expression = CronExpression.parse(cron);
		const now = Date.now();
		const latest = expression.latest(now) as number;
		// Down since before the tick of three years ago.
		const longAgo = expression.latest(latest - 2 * 366 * 24 * 3600_000 - 1) as number;
		await rewind(cron, { next_tick: longAgo });
		expect(await runDurableObjectAlarm(scheduler())).toBe(true);

		expect(await tickInstances(cron)).toEqual([`${cron}-${latest}`]);
		const result = await waitForResult(env.SCHEDULED, `${cron}-${latest}`);
		expect((result.output as SeenEvent).schedule).toEqual({ cron, scheduledTime: latest });
		const [after] = (await listSchedules(env.SCHEDULED)).filter((s) => s.cron === cron);
		expect(after?.nextRunAt).toEqual(new Date(expression.next(now) as number));
	});
});

describe("pausing a schedule", () => {
	it("fires nothing while paused, and resumes from its next tick without catching up", async () => {
		const cron = "0 0 4 1 *";
		const paused = await pauseSchedule(env.SCHEDULED, cron);
		expect(paused).toMatchObject({ cron, paused: true, nextRunAt: null });
		expect(await pauseSchedule(env.SCHEDULED, cron)).toEqual(paused);

		// Its tick comes while it is paused: nothing fires, by the alarm or the test kit.
		await rewind(cron, { next_tick: Date.now() - 1000 });
		await runDurableObjectAlarm(scheduler());
		const all = await fireSchedule(env.SCHEDULED);
		expect(all.map((t) => t.cron)).not.toContain(cron);
		expect(await tickInstances(cron)).toEqual([]);

		const resumed = await resumeSchedule(env.SCHEDULED, cron);
		const next = CronExpression.parse(cron).next(Date.now()) as number;
		expect(resumed).toMatchObject({ cron, paused: false, nextRunAt: new Date(next) });
		await runDurableObjectAlarm(scheduler());
		// The alarm ran early reaches the earliest next tick: of this one or of another schedule.
		const instances = await tickInstances(cron);
		expect(instances.every((id) => id === `${cron}-${next}`)).toBe(true);
	});

	it("refuses a cron the workflow does not have, naming its schedules", async () => {
		await expect(pauseSchedule(env.SCHEDULED, "0 0 9 9 *")).rejects.toThrow(
			WorkflowValidationError,
		);
		await expect(resumeSchedule(env.SCHEDULED, "0 0 9 9 *")).rejects.toThrow(
			`its schedules: ${SCHEDULES.map((s) => JSON.stringify(s)).join(", ")}`,
		);
		await expect(pauseSchedule(env.SCHEDULED, "")).rejects.toThrow("must not be empty");
		await expect(fireSchedule(env.SCHEDULED, "0 0 9 9 *")).rejects.toThrow(WorkflowValidationError);
	});
});

describe("the scheduler's state", () => {
	it("follows the definition: a schedule no longer configured is dropped", async () => {
		await listSchedules(env.SCHEDULED);
		await sql("INSERT INTO schedules (cron, next_tick) VALUES (?, ?)", "0 0 5 1 *", Date.now());
		const crons = (await listSchedules(env.SCHEDULED)).map((s) => s.cron);
		expect(crons.sort()).toEqual([...SCHEDULES].sort());
	});

	it("lists no schedules for a workflow without them", async () => {
		expect(await listSchedules(env.SCENARIO)).toEqual([]);
	});
});

describe("the admin API", () => {
	const base = "http://worker/__workflows/api/workflows/SCHEDULED/schedules";
	const call = (path: string, init: RequestInit = {}) =>
		SELF.fetch(`${base}${path}`, {
			...init,
			headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
		});

	it("lists, pauses and resumes schedules", async () => {
		const listed = await call("");
		expect(listed.status).toBe(200);
		const { schedules } = (await listed.json()) as { schedules: { cron: string }[] };
		expect(schedules.map((s) => s.cron).sort()).toEqual([...SCHEDULES].sort());

		const cron = "30 6 29 2 *";
		const paused = await call("/pause", { method: "POST", body: JSON.stringify({ cron }) });
		expect(paused.status).toBe(200);
		expect(await paused.json()).toMatchObject({ cron, paused: true, nextRunAt: null });
		const resumed = await call("/resume", { method: "POST", body: JSON.stringify({ cron }) });
		expect(await resumed.json()).toMatchObject({ cron, paused: false });

		const unknown = await call("/pause", {
			method: "POST",
			body: JSON.stringify({ cron: "1 2 3 4 5" }),
		});
		expect(unknown.status).toBe(400);
		expect(await unknown.json()).toMatchObject({ error: { name: "WorkflowValidationError" } });
		expect((await call("/stop", { method: "POST", body: "{}" })).status).toBe(404);
		expect((await call("", { method: "POST", body: "{}" })).status).toBe(405);
	});
});
