import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { InvalidStateError, type WorkflowEngine, WorkflowValidationError } from "../src";
import { calls, crash, engineStub, fastForward, fireAlarm, start, waitForStatus } from "./helpers";

function waitEntry(id: string, name: string, count = 1) {
	return runInDurableObject(engineStub(id), (engine: WorkflowEngine) =>
		engine.journal.step("wait", name, count),
	);
}

describe("waitForEvent and sendEvent", () => {
	it("is waiting while it waits, and resolves { payload, timestamp, type } when the event arrives", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		const before = Date.now();
		await instance.sendEvent({ type: "approval", payload: { approved: true, at: new Date(5) } });
		const { output } = await waitForStatus(instance, "complete");
		const event = output as { payload: unknown; timestamp: Date; type: string };
		expect(event.payload).toEqual({ approved: true, at: new Date(5) });
		expect(event.type).toBe("approval");
		expect(event.timestamp).toBeInstanceOf(Date);
		expect(event.timestamp.getTime()).toBeGreaterThanOrEqual(before - 1000);
		expect(await calls(instance.id)).toEqual({ before: 1, after: 1 });
	});

	it("waits 24 hours by default", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		const entry = await waitEntry(instance.id, "approval");
		expect((entry?.dueAt ?? 0) - (entry?.startedAt ?? 0)).toBe(24 * 3_600_000);
		expect(entry?.eventType).toBe("approval");
	});

	it("buffers events sent before the wait, per type, first in first out, each delivered once", async () => {
		const instance = await start("manyEvents");
		await waitForStatus(instance, "waiting");
		await instance.sendEvent({ type: "b", payload: "b1" });
		await instance.sendEvent({ type: "a", payload: "a1" });
		await instance.sendEvent({ type: "a", payload: "a2" });
		await instance.sendEvent({ type: "a", payload: "a3" });
		await fastForward(instance, "waiting");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual(["a1", "a2", "b1", "a", "b"]);
		// a3 had no wait: it is still buffered, not delivered twice or lost.
		const left = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.bufferedEvents(),
		);
		expect(left).toBe(1);
	});

	it("gives concurrent waits for one type one event each, oldest wait first", async () => {
		const instance = await start("parallelWaits");
		await waitForStatus(instance, "waiting");
		await instance.sendEvent({ type: "go", payload: 1 });
		await instance.sendEvent({ type: "go", payload: 2 });
		expect((await waitForStatus(instance, "complete")).output).toEqual([1, 2]);
	});

	it("throws WorkflowTimeoutError into run() on timeout, where it can be caught", async () => {
		const instance = await start("waitEventCaught");
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({
			timedOut: true,
			name: "WorkflowTimeoutError",
			message: 'waitForEvent("approval") received no event of type "approval" within 60000 ms',
			after: "continued",
		});
	});

	it("errors the instance when a timeout is not caught", async () => {
		const instance = await start("waitEvent", { timeout: "1 hour" });
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("WorkflowTimeoutError");
	});

	it("does not deliver an event that arrives after the timeout", async () => {
		const instance = await start("waitEventCaught");
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		await waitForStatus(instance, "complete");
		await expect(instance.sendEvent({ type: "approval", payload: 1 })).rejects.toThrow(
			InvalidStateError,
		);
	});

	it("delivers an event to an instance evicted while it waits (replay), once", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		await crash(instance.id);
		await instance.sendEvent({ type: "approval", payload: { approved: false } });
		expect((await waitForStatus(instance, "complete")).output).toMatchObject({
			payload: { approved: false },
		});
		expect(await calls(instance.id)).toEqual({ before: 1, after: 1 });
	});

	it("keeps an event sent while paused, and runs on only after resume", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		await instance.pause();
		await instance.sendEvent({ type: "approval", payload: "while paused" });
		expect((await instance.status()).status).toBe("paused");
		expect(await calls(instance.id)).toEqual({ before: 1 });
		await instance.resume();
		expect((await waitForStatus(instance, "complete")).output).toMatchObject({
			payload: "while paused",
		});
	});

	it("forgets buffered events on restart", async () => {
		const instance = await start("manyEvents");
		await waitForStatus(instance, "waiting");
		await instance.sendEvent({ type: "a", payload: "old" });
		await instance.restart();
		await waitForStatus(instance, "waiting");
		await instance.sendEvent({ type: "a", payload: "new" });
		const left = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.bufferedEvents(),
		);
		expect(left).toBe(1);
	});

	it("refuses events for a finished instance", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		const error = await instance.sendEvent({ type: "x", payload: 1 }).catch((e) => e);
		expect(error).toBeInstanceOf(InvalidStateError);
		expect(error.message).toBe(
			`cannot send an event to instance "${instance.id}": it is already complete`,
		);
	});

	it.for([
		{
			label: "an empty type",
			event: { type: "", payload: 1 },
			message: "event.type: event type must not be empty",
		},
		{
			label: "a 101-character type",
			event: { type: "t".repeat(101), payload: 1 },
			message: "event.type: event type must be at most 100 characters",
		},
		{
			label: "a non-string type",
			event: { type: 7, payload: 1 },
			message: "event.type: event type must be a string",
		},
		{
			label: "an unknown key",
			event: { type: "t", payload: 1, extra: true },
			message: /^event: .*extra/,
		},
		{
			label: "an unserialisable payload",
			event: { type: "t", payload: () => 1 },
			message: /^event\.payload must be structured-clone serialisable/,
		},
		{
			label: "a payload over 1 MiB",
			event: { type: "t", payload: "x".repeat(1024 * 1024) },
			message: /^event\.payload is \d+ bytes; it must be at most 1048576 bytes \(1 MiB\)$/,
		},
	])("rejects $label, and stores nothing", async ({ event, message }) => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		const error = await instance.sendEvent(event as never).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		if (typeof message === "string") expect(error.message).toBe(message);
		else expect(error.message).toMatch(message);
		expect((await instance.status()).status).toBe("waiting");
		const buffered = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.bufferedEvents(),
		);
		expect(buffered).toBe(0);
	});

	it("rejects bad waitForEvent arguments at the call", async () => {
		const instance = await start("badWaitInput");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual([
			"WorkflowValidationError: waitForEvent options.type: event type must not be empty",
			"WorkflowValidationError: waitForEvent options.type: event type must be at most 100 characters",
			expect.stringMatching(
				/^WorkflowValidationError: waitForEvent options\.timeout: must be a number of milliseconds/,
			),
			"WorkflowValidationError: waitForEvent options.timeout: must be at most 365 days",
			expect.stringMatching(/^WorkflowValidationError: waitForEvent options: .*extra/),
		]);
	});
});

describe("review regressions", () => {
	it("completes a run that returns while a sleep it raced is still pending", async () => {
		const instance = await start("raceSleep");
		expect((await waitForStatus(instance, "complete")).output).toBe("done");
	});

	it("keeps the lease armed for a step that runs while another waits out a long retry", async () => {
		const instance = await start("retryBesideWork");
		await expect.poll(async () => (await calls(instance.id)).hangs).toBe(1);
		const alarm = await runInDurableObject(engineStub(instance.id), (_e: WorkflowEngine, state) =>
			state.storage.getAlarm(),
		);
		expect(alarm).not.toBeNull();
		expect((alarm ?? 0) - Date.now()).toBeLessThanOrEqual(10_000);
	});

	it("shows run() the same caught error on the first run and on replay", async () => {
		const instance = await start("caughtShape");
		await waitForStatus(instance, "waiting");
		await crash(instance.id);
		await fastForward(instance, "waiting");
		const { output } = await waitForStatus(instance, "complete");
		const { firstRun, replay } = output as { firstRun: unknown; replay: unknown };
		expect(firstRun).toEqual({ name: "TypeError", message: "typed", isTypeError: false });
		expect(replay).toEqual(firstRun);
	});

	it("gives up on a step cut off by crashes 5 times, with StepInterruptedError", async () => {
		const instance = await start("hangsAlways");
		for (let crashes = 1; crashes <= 5; crashes++) {
			await expect.poll(async () => (await calls(instance.id)).hangs).toBe(crashes);
			await crash(instance.id);
			await fireAlarm(instance.id);
		}
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("StepInterruptedError");
		expect(await calls(instance.id)).toEqual({ hangs: 5 });
	});

	it("leaves no storage behind when looking up an unknown id", async () => {
		const stub = engineStub("never-created-id");
		expect(await stub.exists()).toBe(false);
		const tables = await runInDurableObject(stub, (_e: WorkflowEngine, state) =>
			state.storage.sql
				.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'instance'")
				.toArray(),
		);
		expect(tables).toEqual([]);
	});
});
