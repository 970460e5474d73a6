/**
 * instance.subscribe() (issue 15): the product's stream of instance events, derived from the
 * journal, with a durable cursor (eventId), filters, redaction of sensitive outputs, pages read
 * one at a time, and an end once the instance's final event was read.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WorkflowEngine } from "../src";
import { engineClient } from "../src/binding/client";
import { StepState, type StepType } from "../src/engine/steps";
import { InstanceNotFoundError, WorkflowValidationError } from "../src/errors";
import { workflowBinding } from "../src/index";
import {
	crash,
	engineStub,
	fireAlarm,
	openGate,
	raw,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import type { ScenarioParams } from "./workflows";

type Event = WorkflowInstanceEvent;

/** Reads `subscription` to its end, pushing each event to `into` as it comes. */
async function readAll(subscription: WorkflowInstanceSubscription, into: Event[] = []) {
	for (;;) {
		const result = await subscription.next();
		if (result.done) return into;
		into.push(result.value);
	}
}

/** Resolves once `events` holds an event matching `match` (the reader fills it as events come). */
async function seen(events: Event[], match: (event: Event) => boolean) {
	await expect.poll(() => events.some(match), { timeout: 10_000 }).toBe(true);
}

/** An event as the assertions compare it: its type and what names it. */
function shape(event: Event): string {
	const parts: string[] = [event.type];
	if ("stepName" in event) parts.push(event.stepName);
	if ("attempt" in event) parts.push(String(event.attempt));
	return parts.join(":");
}

function expectIncreasingIds(events: Event[]) {
	for (let i = 1; i < events.length; i++) {
		expect(events[i]?.eventId).toBeGreaterThan(events[i - 1]?.eventId ?? -1);
	}
}

function stateOf(id: string, type: StepType, name: string) {
	return runInDurableObject(
		engineStub(id),
		(engine: WorkflowEngine) => engine.journal.step(type, name, 1)?.state,
	);
}

/**
 * Once step `name` waits in `state` (a retry delay, a sleep), runs the engine's alarm until it
 * leaves it, as if its time had come (the alarm may be a lease's first).
 */
async function passTimer(id: string, type: StepType, name: string, state: StepState) {
	await expect.poll(() => stateOf(id, type, name), { timeout: 10_000 }).toBe(state);
	for (let i = 0; i < 20 && (await stateOf(id, type, name)) === state; i++) await fireAlarm(id);
	expect(await stateOf(id, type, name)).not.toBe(state);
}

/** Once step.do `name` waits for its retry after `failures` failed attempts, runs the alarm until the next starts. */
async function passRetry(id: string, name: string, failures: number) {
	const entry = () =>
		runInDurableObject(engineStub(id), (engine: WorkflowEngine) =>
			engine.journal.step("do", name, 1),
		);
	await expect
		.poll(async () => {
			const step = await entry();
			return step?.state === StepState.Retrying && step.failures === failures;
		})
		.toBe(true);
	await expect
		.poll(async () => {
			await fireAlarm(id);
			return (await entry())?.attempts;
		})
		.toBeGreaterThan(failures);
}

/** Runs a journey instance (tests/workflows.ts) to its end while `events` fills. */
async function driveJourney(instance: WorkflowInstance, events: Event[]) {
	await seen(events, (e) => e.type === "attempt_errored");
	await passTimer(instance.id, "do", "fetch", StepState.Retrying);
	await seen(events, (e) => e.type === "sleep_started");
	await passTimer(instance.id, "sleep", "nap", StepState.Sleeping);
	await seen(events, (e) => e.type === "wait_started");
	await instance.sendEvent({ type: "approved", payload: { by: "ops" } });
}

const JOURNEY = [
	"workflow_queued",
	"workflow_started",
	"workflow_running",
	"step_started:fetch-1",
	"attempt_started:fetch-1:1",
	"attempt_errored:fetch-1:1",
	"attempt_started:fetch-1:2",
	"attempt_completed:fetch-1:2",
	"step_completed:fetch-1",
	"sleep_started:nap-1",
	"workflow_waiting",
	"sleep_completed:nap-1",
	"workflow_running",
	"wait_started:approval-1",
	"workflow_waiting",
	"wait_completed:approval-1",
	"workflow_running",
	"step_started:charge-1",
	"attempt_started:charge-1:1",
	"attempt_errored:charge-1:1",
	"step_errored:charge-1",
	"workflow_errored",
];

describe("subscribe()", () => {
	it("streams a run's events as they happen, in order, and ends after the final one", async () => {
		const instance = await start("journey");
		const subscription = await instance.subscribe();
		const events: Event[] = [];
		const reading = readAll(subscription, events);
		await driveJourney(instance, events);
		await reading;
		expect(events.map(shape)).toEqual(JOURNEY);
		expectIncreasingIds(events);
		for (const event of events) {
			expect(event.instanceId).toBe(instance.id);
			expect(typeof event.timestamp).toBe("number");
		}
		const byType = (type: string) => events.find((e) => e.type === type) as Event;
		expect(byType("workflow_started")).toMatchObject({
			params: { scenario: "journey" },
		});
		expect(byType("attempt_errored")).toMatchObject({
			error: { name: "Error", message: "flaky network" },
		});
		expect(byType("step_completed")).toMatchObject({ output: { attempt: 2 } });
		expect(byType("sleep_started")).toMatchObject({ durationMs: 3_600_000 });
		expect(byType("wait_started")).toMatchObject({ eventType: "approved" });
		expect(byType("workflow_errored")).toMatchObject({
			error: { name: "PaymentError", message: "card declined" },
		});
		expect((await instance.status()).status).toBe("errored");
		// Done for good, and the same for a subscription disposed of.
		expect(await subscription.next()).toEqual({ done: true, value: undefined });
	});

	it("gives the same ids for the same history; a cursor resumes after its event, nothing missed or repeated", async () => {
		const instance = await start("journey", { succeed: true });
		const live: Event[] = [];
		const reading = readAll(await instance.subscribe(), live);
		await driveJourney(instance, live);
		await reading;
		expect(live.at(-1)).toMatchObject({
			type: "workflow_completed",
			output: { fetched: { attempt: 2 }, approval: { by: "ops" } },
		});
		// Read again once finished: the same events, the same ids.
		const again = await readAll(await instance.subscribe());
		expect(again).toEqual(live);
		for (let k = 0; k < live.length; k++) {
			const cursor = live[k]?.eventId as number;
			const rest = await readAll(
				await (await scenarioWorkflow.get(instance.id)).subscribe({ cursor }),
			);
			expect(rest).toEqual(live.slice(k + 1));
		}
	});

	it("keeps the start time of an attempt cut off after it was read", async () => {
		const instance = await start("gated");
		const filter: WorkflowInstanceEventType[] = ["step_started", "attempt_started"];
		const next = async (subscription: WorkflowInstanceSubscription) => {
			const { value } = await subscription.next();
			if (!value) throw new Error("ended early");
			return value;
		};
		const reading = await instance.subscribe({ filter });
		const stepStarted = await next(reading);
		const first = await next(reading);
		// Attempt 1 is cut off; attempt 2 starts later than the step did, and is cut off in turn.
		await crash(instance.id);
		await expect.poll(() => Date.now()).toBeGreaterThan(stepStarted.timestamp);
		await fireAlarm(instance.id);
		const second = await next(await instance.subscribe({ cursor: first.eventId, filter }));
		expect(second).toMatchObject({ type: "attempt_started", attempt: 2 });
		expect(second.timestamp).toBeGreaterThan(stepStarted.timestamp);
		await crash(instance.id);
		await fireAlarm(instance.id);
		// Read again from the start while attempt 3 runs: the cut-off attempts keep their times.
		const again = await instance.subscribe({ filter: ["attempt_started"] });
		const attempts = [await next(again), await next(again), await next(again)];
		expect(attempts.slice(0, 2)).toEqual([first, second]);
		expect(attempts[2]).toMatchObject({ attempt: 3 });
		await openGate(instance.id, "held");
	});

	it("carries on across a crash of the engine object, from its cursor", async () => {
		const instance = await start("gated");
		const subscription = await instance.subscribe();
		const before: Event[] = [];
		for (;;) {
			const { value } = await subscription.next();
			if (!value) throw new Error("ended early");
			before.push(value);
			if (value.type === "attempt_started") break;
		}
		const cursor = before.at(-1)?.eventId as number;
		// A read waiting in the engine when it crashes: the stream asks its next incarnation.
		const pending = subscription.next();
		await crash(instance.id);
		const resumed = await instance.subscribe({ cursor });
		await openGate(instance.id, "held");
		await fireAlarm(instance.id); // the lease: the run cut off by the crash is replayed
		await passTimer(instance.id, "sleep", "rest", StepState.Sleeping);
		await waitForStatus(instance, "complete");
		const first = await pending;
		const after = await readAll(subscription, first.value ? [first.value] : []);
		const fromCursor = await readAll(resumed);
		expect(after).toEqual(fromCursor);
		const all = [...before, ...after];
		expectIncreasingIds(all);
		expect(all.map(shape)).toEqual([
			"workflow_queued",
			"workflow_started",
			"workflow_running",
			"step_started:held-1",
			"attempt_started:held-1:1",
			// attempt 1 was cut off by the crash: it has no end
			"attempt_started:held-1:2",
			"attempt_completed:held-1:2",
			"step_completed:held-1",
			"sleep_started:rest-1",
			"workflow_waiting",
			"sleep_completed:rest-1",
			"workflow_running",
			"step_started:last-1",
			"attempt_started:last-1:1",
			"attempt_completed:last-1:1",
			"step_completed:last-1",
			"workflow_completed",
		]);
		// A new subscriber after the restart sees the whole history with the same ids.
		expect((await readAll(await instance.subscribe())).slice(before.length)).toEqual(after);
	});

	it("orders the events of concurrent steps by step start, and delivers all once the run ends", async () => {
		// A sleep of an hour, raced by a step: the run completes while the sleep is still pending.
		const instance = await start("raceSleep");
		const raced = await readAll(await instance.subscribe());
		expect(raced.map(shape)).toEqual([
			"workflow_queued",
			"workflow_started",
			"workflow_running",
			"sleep_started:deadline-1",
			// Status changes come after the latest event of the first step not ended (the sleep):
			// waiting for it, running as the step starts, waiting again as that step ends.
			"workflow_waiting",
			"workflow_running",
			"workflow_waiting",
			"step_started:work-1",
			"attempt_started:work-1:1",
			"attempt_completed:work-1:1",
			"step_completed:work-1",
			"workflow_completed",
		]);
		const parallel = await start("parallel");
		const events = await readAll(await parallel.subscribe());
		expectIncreasingIds(events);
		expect(
			events
				.filter((e) => e.type === "step_completed")
				.map(shape)
				.sort(),
		).toEqual([
			"step_completed:beside a sleep-1",
			"step_completed:parallel a-1",
			"step_completed:parallel b-1",
			"step_completed:parallel c-1",
		]);
		expect(events.map(shape)).toContain("sleep_completed:short-1");
		expect(events.at(-1)?.type).toBe("workflow_completed");
	});

	it("filters by event type, and still ends when the final event is filtered out", async () => {
		const instance = await start("basic");
		const completed = await readAll(
			await instance.subscribe({ filter: ["step_completed", "workflow_completed"] }),
		);
		expect(completed.map(shape)).toEqual([
			"step_completed:first-1",
			"step_completed:second-1",
			"workflow_completed",
		]);
		expect(completed.at(-1)).toMatchObject({ output: { a: 1, b: 2 } });
		const started = await readAll(await instance.subscribe({ filter: ["step_started"] }));
		expect(started.map(shape)).toEqual(["step_started:first-1", "step_started:second-1"]);
		// A filter with a cursor: after the first step's start.
		const cursor = started[0]?.eventId as number;
		expect(
			(await readAll(await instance.subscribe({ cursor, filter: ["step_started"] }))).map(shape),
		).toEqual(["step_started:second-1"]);
	});

	it("redacts the output of a step with sensitive: 'output'", async () => {
		const instance = await start("sensitive");
		await waitForStatus(instance, "complete");
		const events = await readAll(await instance.subscribe({ filter: ["step_completed"] }));
		expect(events.map((e) => ("output" in e ? e.output : undefined))).toEqual([
			"[REDACTED]",
			"visible",
		]);
	});

	it("reports rollback handlers as rollback_* events", async () => {
		const instance = await start("rollbackFails");
		const events: Event[] = [];
		const reading = readAll(await instance.subscribe(), events);
		for (let i = 0; i < 20 && (await instance.status()).status !== "errored"; i++) {
			await fireAlarm(instance.id);
		}
		await reading;
		const rollback = events.filter((e) => e.type.startsWith("rollback_")).map(shape);
		expect(rollback).toEqual([
			"rollback_started",
			"rollback_step_started:b-1",
			"rollback_attempt_started:b-1:1",
			"rollback_attempt_errored:b-1:1",
			"rollback_attempt_started:b-1:2",
			"rollback_attempt_errored:b-1:2",
			"rollback_step_errored:b-1",
			"rollback_errored",
		]);
		expect(events.at(-1)?.type).toBe("workflow_errored");
		expectIncreasingIds(events);
	});

	it("ends with workflow_terminated for a terminated instance", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		const events: Event[] = [];
		const reading = readAll(await instance.subscribe(), events);
		await seen(events, (e) => e.type === "wait_started");
		await instance.terminate();
		await reading;
		expect(events.map(shape).slice(-3)).toEqual([
			"wait_started:approval-1",
			"workflow_waiting",
			"workflow_terminated",
		]);
	});

	it("answers pages: at most `limit` events, values within the page's bytes", async () => {
		const instance = await start("largeHistory", { count: 30, bytes: 400_000 });
		await waitForStatus(instance, "complete");
		const engine = engineClient(raw.SCENARIO, instance.id);
		const pages: number[] = [];
		let after: number | undefined;
		for (;;) {
			const page = await engine.events({ after, limit: 50, pageBytes: 2_000_000 });
			pages.push(page.events.length);
			const outputs = page.events.filter((e) => e.type === "step_completed").length;
			expect(outputs).toBeLessThanOrEqual(5); // 5 × 400 kB fit in 2 MB, 6 do not
			expect(page.events.length).toBeLessThanOrEqual(50);
			after = page.cursor;
			if (page.ended) break;
		}
		expect(pages.length).toBeGreaterThan(5);
		expect(pages.reduce((a, b) => a + b)).toBe(4 + 30 * 4);
		// A subscriber reading them one at a time gets all of them, in order.
		const events = await readAll(await instance.subscribe());
		expect(events).toHaveLength(4 + 30 * 4);
		expectIncreasingIds(events);
	});

	it("a slow reader misses nothing of a run that goes on without it", async () => {
		const instance = await start("largeHistory", { count: 150, bytes: 10 });
		const subscription = await instance.subscribe();
		const first = await subscription.next();
		expect(first.value?.type).toBe("workflow_queued");
		await waitForStatus(instance, "complete");
		const rest = await readAll(subscription);
		expect(rest).toHaveLength(3 + 150 * 4);
		expectIncreasingIds([first.value as Event, ...rest]);
	});

	it("stops at dispose", async () => {
		const instance = await start("waitEvent");
		const subscription = await instance.subscribe();
		expect((await subscription.next()).value?.type).toBe("workflow_queued");
		subscription[Symbol.dispose]();
		expect(await subscription.next()).toEqual({ done: true, value: undefined });
	});

	it("refuses malformed options and unknown instances", async () => {
		const instance = await start("basic");
		await expect(instance.subscribe({ cursor: -1 })).rejects.toThrow(WorkflowValidationError);
		await expect(instance.subscribe({ cursor: 1.5 })).rejects.toThrow(WorkflowValidationError);
		await expect(
			instance.subscribe({ filter: ["step_done" as WorkflowInstanceEventType] }),
		).rejects.toThrow(WorkflowValidationError);
		await expect(
			instance.subscribe({ other: true } as WorkflowInstanceSubscribeOptions),
		).rejects.toThrow(WorkflowValidationError);
		const unknown = await scenarioWorkflow.get(instance.id);
		await unknown.delete();
		await expect(unknown.subscribe()).rejects.toThrow(InstanceNotFoundError);
	});
});

/** Reads from `subscription` until an event matches `match`; the events read, that one last. */
async function readUntil(subscription: WorkflowInstanceSubscription, match: (e: Event) => boolean) {
	const events: Event[] = [];
	for (;;) {
		const { value } = await subscription.next();
		if (!value) throw new Error("ended early");
		events.push(value);
		if (match(value)) return events;
	}
}

/** Every event of a finished instance: one full read equals `live`, and a cursor at each id gives the rest. */
async function expectResumable(instance: WorkflowInstance, live: Event[]) {
	expectIncreasingIds(live);
	expect(await readAll(await instance.subscribe())).toEqual(live);
	for (let k = 0; k < live.length; k++) {
		const cursor = live[k]?.eventId as number;
		expect(await readAll(await instance.subscribe({ cursor }))).toEqual(live.slice(k + 1));
	}
}

describe("subscribe(): status events", () => {
	it("delivers workflow_waiting while a sleep or an event wait waits, and workflow_running after", async () => {
		const instance = await start("gated");
		await openGate(instance.id, "held");
		const waiting = await instance.subscribe({ filter: ["workflow_waiting", "workflow_running"] });
		const first = await waiting.next();
		expect(first.value).toMatchObject({ type: "workflow_running" }); // as the run started
		expect((await waiting.next()).value).toMatchObject({ type: "workflow_waiting" });
		expect((await instance.status()).status).toBe("waiting");
		const next = waiting.next();
		await passTimer(instance.id, "sleep", "rest", StepState.Sleeping);
		expect((await next).value).toMatchObject({ type: "workflow_running" });
		await waitForStatus(instance, "complete");
		expect(await readAll(waiting)).toEqual([]);

		const waiter = await start("waitEvent");
		const events = await readUntil(await waiter.subscribe(), (e) => e.type === "workflow_waiting");
		expect(events.map(shape).slice(-2)).toEqual(["wait_started:approval-1", "workflow_waiting"]);
		expect((await waiter.status()).status).toBe("waiting");
		await waiter.sendEvent({ type: "approval", payload: { approved: true } });
		await waitForStatus(waiter, "complete");
		const all = await readAll(await waiter.subscribe());
		const shapes = all.map(shape);
		const from = shapes.indexOf("wait_started:approval-1");
		expect(shapes.slice(from, from + 5)).toEqual([
			"wait_started:approval-1",
			"workflow_waiting",
			"wait_completed:approval-1",
			"workflow_running",
			"step_started:after-1",
		]);
		await expectResumable(waiter, all);
	});

	it("reports a pause during an attempt (waitingForPause, then paused) and the resume", async () => {
		const instance = await start("gated");
		const live: Event[] = [];
		const reading = readAll(await instance.subscribe(), live);
		await seen(live, (e) => e.type === "attempt_started");
		await instance.pause();
		await seen(live, (e) => e.type === "workflow_waiting_for_pause");
		expect((await instance.status()).status).toBe("waitingForPause");
		await openGate(instance.id, "held");
		await waitForStatus(instance, "paused");
		await seen(live, (e) => e.type === "workflow_paused");
		await instance.resume();
		await passTimer(instance.id, "sleep", "rest", StepState.Sleeping);
		await reading;
		expect(live.map(shape)).toEqual([
			"workflow_queued",
			"workflow_started",
			"workflow_running",
			"step_started:held-1",
			"attempt_started:held-1:1",
			"workflow_waiting_for_pause",
			"attempt_completed:held-1:1",
			"step_completed:held-1",
			"workflow_paused",
			"workflow_running",
			"sleep_started:rest-1",
			"workflow_waiting",
			"sleep_completed:rest-1",
			"workflow_running",
			"step_started:last-1",
			"attempt_started:last-1:1",
			"attempt_completed:last-1:1",
			"step_completed:last-1",
			"workflow_completed",
		]);
		await expectResumable(instance, live);
		// A filter for one status type.
		expect(
			(await readAll(await instance.subscribe({ filter: ["workflow_paused"] }))).map(shape),
		).toEqual(["workflow_paused"]);
	});

	it("orders a status change of concurrent steps after the first step not ended; ids only grow", async () => {
		const instance = await start("gatedPair");
		const live: Event[] = [];
		const reading = readAll(await instance.subscribe(), live);
		await expect
			.poll(async () => [
				await stateOf(instance.id, "do", "a"),
				await stateOf(instance.id, "do", "b"),
			])
			.toEqual([StepState.Running, StepState.Running]);
		await instance.pause();
		// Delivered at once, though b's events wait for a.
		await seen(live, (e) => e.type === "workflow_waiting_for_pause");
		await openGate(instance.id, "b");
		await expect.poll(() => stateOf(instance.id, "do", "b")).toBe(StepState.Done);
		await openGate(instance.id, "a");
		await waitForStatus(instance, "paused");
		await instance.resume();
		await passTimer(instance.id, "sleep", "rest", StepState.Sleeping);
		await reading;
		expect(live.map(shape)).toEqual([
			"workflow_queued",
			"workflow_started",
			"workflow_running",
			"step_started:a-1",
			"attempt_started:a-1:1",
			"workflow_waiting_for_pause",
			"attempt_completed:a-1:1",
			"step_completed:a-1",
			"step_started:b-1",
			"attempt_started:b-1:1",
			"attempt_completed:b-1:1",
			"step_completed:b-1",
			"workflow_paused",
			"workflow_running",
			"sleep_started:rest-1",
			"workflow_waiting",
			"sleep_completed:rest-1",
			"workflow_running",
			"workflow_completed",
		]);
		await expectResumable(instance, live);
	});

	it("carries on from a cursor after a crash of the engine object mid-wait", async () => {
		const instance = await start("gated");
		await openGate(instance.id, "held");
		const subscription = await instance.subscribe();
		const before = await readUntil(subscription, (e) => e.type === "workflow_waiting");
		const cursor = before.at(-1)?.eventId as number;
		const pending = subscription.next();
		await crash(instance.id);
		const resumed = await instance.subscribe({ cursor });
		await passTimer(instance.id, "sleep", "rest", StepState.Sleeping);
		await waitForStatus(instance, "complete");
		const first = await pending;
		const after = await readAll(subscription, first.value ? [first.value] : []);
		expect(await readAll(resumed)).toEqual(after);
		// The run replayed after the crash may report running, then waiting again, before the sleep ends.
		const shapes = after.map(shape);
		const woke = shapes.indexOf("sleep_completed:rest-1");
		for (const type of shapes.slice(0, woke))
			expect(["workflow_running", "workflow_waiting"]).toContain(type);
		expect(shapes.slice(woke)).toEqual([
			"sleep_completed:rest-1",
			"workflow_running",
			"step_started:last-1",
			"attempt_started:last-1:1",
			"attempt_completed:last-1:1",
			"step_completed:last-1",
			"workflow_completed",
		]);
		await expectResumable(instance, [...before, ...after]);
	});

	it("reports workflow_queued when a woken instance waits for a slot under a concurrency limit", async () => {
		const throttled = workflowBinding<ScenarioParams>(raw.THROTTLED);
		const probe = uniqueId("probe");
		const create = (options: { hold?: boolean; sleep?: boolean }) =>
			throttled.create({
				id: uniqueId("throttled"),
				params: { scenario: "throttled", probe, ...options },
			});
		const sleeper = await create({ hold: true, sleep: true });
		const others = [await create({ hold: true }), await create({ hold: true })];
		const live: Event[] = [];
		const reading = readAll(await sleeper.subscribe(), live);
		await openGate(sleeper.id, "held");
		await waitForStatus(sleeper, "waiting");
		const third = await create({ hold: true });
		await waitForStatus(third, "running");
		await fireAlarm(sleeper.id, raw.THROTTLED);
		await waitForStatus(sleeper, "queued");
		await seen(live, (e) => e.type === "workflow_queued" && e.eventId > 0);
		for (const other of [...others, third]) await openGate(other.id, "held");
		await waitForStatus(sleeper, "complete");
		for (const other of [...others, third]) await waitForStatus(other, "complete");
		await reading;
		expect(live.map(shape)).toEqual([
			"workflow_queued",
			"workflow_started",
			"workflow_running",
			"step_started:work-1",
			"attempt_started:work-1:1",
			"attempt_completed:work-1:1",
			"step_completed:work-1",
			"sleep_started:rest-1",
			"workflow_waiting",
			"sleep_completed:rest-1",
			"workflow_queued",
			"workflow_running",
			"step_started:after-1",
			"attempt_started:after-1:1",
			"attempt_completed:after-1:1",
			"step_completed:after-1",
			"workflow_completed",
		]);
		await expectResumable(sleeper, live);
	});
});

describe("subscribe(): step config and retry delays", () => {
	it("reports each step's config and each failed attempt's delay before the next", async () => {
		const instance = await start("journey", { succeed: true });
		const events: Event[] = [];
		const reading = readAll(await instance.subscribe(), events);
		await driveJourney(instance, events);
		await reading;
		const of = (type: string) => events.filter((e) => e.type === type);
		expect(of("step_started").map((e) => ("config" in e ? e.config : "none"))).toEqual([
			{ retries: { limit: 2, delay: 3_600_000, backoff: "constant" }, timeout: 600_000 },
			// No config given: the defaults.
			{ retries: { limit: 5, delay: 10_000, backoff: "exponential" }, timeout: 600_000 },
		]);
		expect(of("attempt_errored")).toMatchObject([{ attempt: 1, retryDelayMs: 3_600_000 }]);

		const sensitive = await start("sensitive");
		await waitForStatus(sensitive, "complete");
		const started = await readAll(await sensitive.subscribe({ filter: ["step_started"] }));
		expect(started[0]).toMatchObject({ config: { sensitive: "output" } });
		expect(started[1] && "config" in started[1] && started[1].config).not.toHaveProperty(
			"sensitive",
		);
	});

	it("reports a delay function's delay as [dynamic], and the delays it chose", async () => {
		const instance = await start("delayFunction", { mode: "minutes", backoff: "linear" });
		await passRetry(instance.id, "dynamic", 1);
		await passRetry(instance.id, "dynamic", 2);
		await waitForStatus(instance, "complete");
		const events = await readAll(await instance.subscribe());
		expect(events.find((e) => e.type === "step_started")).toMatchObject({
			config: { retries: { limit: 3, delay: "[dynamic]", backoff: "linear" }, timeout: 600_000 },
		});
		// 10 minutes × 1, then 20 minutes × 2 (linear).
		const errored = events.filter((e) => e.type === "attempt_errored");
		expect(errored.map((e) => ("retryDelayMs" in e ? e.retryDelayMs : null))).toEqual([
			600_000, 2_400_000,
		]);
	});

	it("reports the actual delays of exponential backoff, and none after the last attempt", async () => {
		const instance = await start("flaky", {
			failures: 5,
			config: { retries: { limit: 2, delay: "1 minute", backoff: "exponential" } },
		});
		await passRetry(instance.id, "flaky", 1);
		await passRetry(instance.id, "flaky", 2);
		await waitForStatus(instance, "errored");
		const errored = await readAll(await instance.subscribe({ filter: ["attempt_errored"] }));
		expect(errored.map((e) => ("retryDelayMs" in e ? e.retryDelayMs : null))).toEqual([
			60_000,
			120_000,
			null,
		]);
	});
});
