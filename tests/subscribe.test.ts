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
import {
	crash,
	engineStub,
	fireAlarm,
	openGate,
	raw,
	scenarioWorkflow,
	start,
	waitForStatus,
} from "./helpers";

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
	"sleep_completed:nap-1",
	"wait_started:approval-1",
	"wait_completed:approval-1",
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
			"sleep_completed:rest-1",
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
		expect(events.map(shape).slice(-2)).toEqual(["wait_started:approval-1", "workflow_terminated"]);
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
