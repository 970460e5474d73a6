import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
	InstanceNotFoundError,
	InvalidStateError,
	type WorkflowEngine,
	WorkflowValidationError,
} from "../src";
import { StepState } from "../src/engine/steps";
import {
	alarmOf,
	calls,
	crash,
	engineStub,
	fastForward,
	fireAlarm,
	fireRetention,
	limitedWorkflow,
	openGate,
	raw,
	retentionAlarmOf,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import { reached } from "./workflows";

type Status = InstanceStatus["status"];

/** Brings a fresh "gated" instance (step held open → 1 h sleep → step) into `status`. */
async function instanceIn(status: Status): Promise<WorkflowInstance> {
	const instance = await start("gated");
	await expect.poll(async () => (await calls(instance.id)).held).toBe(1);
	if (status === "running") return instance;
	if (status === "waitingForPause") {
		await instance.pause();
		return instance;
	}
	if (status === "terminated") {
		await instance.terminate();
		return instance;
	}
	await openGate(instance.id, "held");
	await waitForStatus(instance, "waiting");
	if (status === "waiting") return instance;
	if (status === "paused") {
		await instance.pause();
		return instance;
	}
	await fastForward(instance, "waiting");
	await waitForStatus(instance, "complete");
	return instance;
}

/** The journal positions (seq) of an instance's entries, in order. */
function journalPositions(id: string): Promise<number[]> {
	return runInDurableObject(engineStub(id), (engine: WorkflowEngine) =>
		engine.journal.steps().map((step) => step.seq),
	);
}

async function errorOf(promise: Promise<unknown>) {
	const error = await promise.then(
		() => undefined,
		(e: unknown) => e as Error,
	);
	return error && { type: error.constructor.name, name: error.name, message: error.message };
}

describe("pause", () => {
	it.for<{ from: Status; to: Status }>([
		{ from: "running", to: "waitingForPause" },
		{ from: "waitingForPause", to: "waitingForPause" },
		{ from: "waiting", to: "paused" },
		{ from: "paused", to: "paused" },
	])("from $from → $to", async ({ from, to }) => {
		const instance = await instanceIn(from);
		expect((await instance.status()).status).toBe(from);
		await instance.pause();
		expect((await instance.status()).status).toBe(to);
	});

	it.for<Status>(["complete", "terminated"])("from %s is an InvalidStateError", async (from) => {
		const instance = await instanceIn(from);
		expect(await errorOf(instance.pause())).toEqual({
			type: "InvalidStateError",
			name: "InvalidStateError",
			message: `cannot pause instance "${instance.id}": it is already ${from}`,
		});
		expect((await instance.status()).status).toBe(from);
	});

	it("lets the running step finish and record its result, then stops before the next step", async () => {
		const instance = await instanceIn("running");
		await instance.pause();
		await openGate(instance.id, "held");
		await waitForStatus(instance, "paused");
		const held = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.step("do", "held", 1),
		);
		expect(held?.state).toBe(StepState.Done);
		const sleep = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.step("sleep", "rest", 1),
		);
		expect(sleep).toBeUndefined();
		// No timer of the run is left: the alarm is the retention deadline.
		const { alarm, due } = await retentionAlarmOf(instance.id);
		expect(alarm).toBe(due);
	});

	it("holds an instance past its sleep's end; resume then completes it without re-running steps", async () => {
		const instance = await instanceIn("paused");
		// Nothing is armed while paused, so time passing (or a stray alarm) changes nothing.
		expect(await fireAlarm(instance.id)).toBe(false);
		expect((await instance.status()).status).toBe("paused");
		await instance.resume();
		expect((await instance.status()).status).toBe("waiting");
		await fastForward(instance, "waiting");
		expect((await waitForStatus(instance, "complete")).output).toEqual({
			held: "released",
			last: 1,
		});
		expect(await calls(instance.id)).toEqual({ held: 1, released: 1, last: 1 });
	});

	it("survives an eviction while paused", async () => {
		const instance = await instanceIn("paused");
		await crash(instance.id);
		expect((await instance.status()).status).toBe("paused");
		await instance.resume();
		await fastForward(instance, "waiting");
		expect((await waitForStatus(instance, "complete")).output).toEqual({
			held: "released",
			last: 1,
		});
	});
});

describe("resume", () => {
	it("withdraws a pending pause: waitingForPause → running, and the run goes on", async () => {
		const instance = await instanceIn("waitingForPause");
		await instance.resume();
		expect((await instance.status()).status).toBe("running");
		await openGate(instance.id, "held");
		await waitForStatus(instance, "waiting");
	});

	it.for<Status>(["running", "waiting"])("from %s is an InvalidStateError", async (from) => {
		const instance = await instanceIn(from);
		expect(await errorOf(instance.resume())).toEqual({
			type: "InvalidStateError",
			name: "InvalidStateError",
			message: `cannot resume instance "${instance.id}": it is ${from}, not paused`,
		});
		expect((await instance.status()).status).toBe(from);
	});

	it.for<Status>(["complete", "terminated"])("from %s is an InvalidStateError", async (from) => {
		const instance = await instanceIn(from);
		expect(await errorOf(instance.resume())).toMatchObject({ type: "InvalidStateError" });
		expect((await instance.status()).status).toBe(from);
	});
});

describe("terminate", () => {
	it.for<Status>(["running", "waitingForPause", "waiting", "paused"])(
		"from %s → terminated",
		async (from) => {
			const instance = await instanceIn(from);
			await instance.terminate();
			expect(await instance.status()).toEqual({ status: "terminated" });
			const { alarm, due } = await retentionAlarmOf(instance.id);
			expect(alarm).toBe(due);
		},
	);

	it("during a sleep: cancels the timer, runs no further step, and a second terminate errors", async () => {
		const instance = await instanceIn("waiting");
		await instance.terminate();
		// The sleep's alarm is gone: the one left is the retention deadline.
		const { alarm, due } = await retentionAlarmOf(instance.id);
		expect(alarm).toBe(due);
		expect(await errorOf(instance.terminate())).toEqual({
			type: "InvalidStateError",
			name: "InvalidStateError",
			message: `cannot terminate instance "${instance.id}": it is already terminated`,
		});
		expect(await calls(instance.id)).toEqual({ held: 1, released: 1 });
		expect((await instance.status()).status).toBe("terminated");
	});

	it("while a step runs: the step's late result is dropped and nothing after it runs", async () => {
		const instance = await instanceIn("running");
		await instance.terminate();
		await openGate(instance.id, "held");
		// The abandoned attempt runs to its end (the callback cannot be stopped) ...
		await expect.poll(async () => (await calls(instance.id)).released).toBe(1);
		const held = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.step("do", "held", 1),
		);
		// ... but its result is not recorded, and no later step starts.
		expect(held?.state).toBe(StepState.Running);
		expect(await instance.status()).toEqual({ status: "terminated" });
		expect(await calls(instance.id)).toEqual({ held: 1, released: 1 });
	});

	it("from complete is an InvalidStateError; abort() is the same call", async () => {
		const instance = await instanceIn("complete");
		expect(await errorOf(instance.terminate())).toMatchObject({ type: "InvalidStateError" });
		expect(
			await errorOf((instance as WorkflowInstance & { abort(): Promise<void> }).abort()),
		).toMatchObject({
			type: "InvalidStateError",
		});
		const other = await instanceIn("waiting");
		await (other as WorkflowInstance & { abort(): Promise<void> }).abort();
		expect((await other.status()).status).toBe("terminated");
	});
});

describe("restart", () => {
	it.for<Status>(["complete", "waiting", "paused", "terminated", "running"])(
		"from %s: erases the journal and runs every step again",
		async (from) => {
			const instance = await instanceIn(from);
			await instance.restart();
			await openGate(instance.id, "held"); // already open for most; opens it for running
			await waitForStatus(instance, "waiting");
			await fastForward(instance, "waiting");
			expect((await waitForStatus(instance, "complete")).output).toMatchObject({
				held: "released",
			});
			const counts = await calls(instance.id);
			expect(counts.held).toBe(2);
		},
	);

	it("of a completed instance re-runs its steps with the same id and params", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		await instance.restart();
		await waitForStatus(instance, "complete");
		expect(await calls(instance.id)).toEqual({ first: 2, second: 2 });
		expect((await instance.status()).output).toEqual({ a: 1, b: 2 });
	});

	it("from a step keeps the results before it and re-runs it and the rest", async () => {
		const instance = await instanceIn("complete");
		const before = await journalPositions(instance.id);
		await instance.restart({ from: { name: "last", type: "do" } });
		await waitForStatus(instance, "complete");
		expect(await calls(instance.id)).toEqual({ held: 1, released: 1, last: 2 });
		// The step run again takes the position its erased entry had, as SQLite would give it.
		expect(await journalPositions(instance.id)).toEqual(before);
	});

	it("from a step not in the history is an InvalidStateError, and changes nothing", async () => {
		const instance = await instanceIn("complete");
		expect(await errorOf(instance.restart({ from: { name: "nope" } }))).toEqual({
			type: "InvalidStateError",
			name: "InvalidStateError",
			message: `cannot restart instance "${instance.id}" from step "nope" #1: no such step in its history`,
		});
		expect((await instance.status()).status).toBe("complete");
	});

	it("rejects malformed options", async () => {
		const instance = await instanceIn("complete");
		expect(await errorOf(instance.restart({ from: { name: "last", count: 0 } }))).toMatchObject({
			type: "WorkflowValidationError",
		});
		expect(await errorOf(instance.restart({ from: { name: "" } } as never))).toMatchObject({
			message: "restart options.from.name: step name must not be empty",
		});
	});

	it("while a step runs: the old attempt's late result is not written into the new run", async () => {
		const instance = await instanceIn("running");
		await instance.restart();
		await expect.poll(async () => (await calls(instance.id)).held).toBe(2);
		await openGate(instance.id, "held"); // releases both the old and the new attempt
		await waitForStatus(instance, "waiting");
		const held = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.step("do", "held", 1),
		);
		expect(held?.attempts).toBe(1);
	});
});

describe("delete and retention", () => {
	it("delete erases the instance: get fails, and the id can be created again", async () => {
		const instance = await instanceIn("waiting");
		await (instance as WorkflowInstance & { delete(): Promise<void> }).delete();
		expect(await errorOf(scenarioWorkflow.get(instance.id))).toMatchObject({
			type: "InstanceNotFoundError",
		});
		expect(await alarmOf(instance.id)).toBeNull();
		const again = await scenarioWorkflow.create({ id: instance.id, params: { scenario: "basic" } });
		expect((await waitForStatus(again, "complete")).output).toEqual({ a: 1, b: 2 });
		expect(await journalPositions(instance.id)).toEqual([1, 2]);
	});

	it("cleans up a finished instance by alarm once its retention has passed", async () => {
		const id = uniqueId("retained");
		const instance = await scenarioWorkflow.create({
			id,
			params: { scenario: "basic" },
			retention: { successRetention: "1 hour", errorRetention: "1 day" },
		});
		await waitForStatus(instance, "complete");
		// The alarm is the retention deadline, an hour on.
		expect(await alarmOf(id)).toBeGreaterThan(Date.now() + 59 * 60_000);
		expect(await fireRetention(id)).toBe(true);
		await expect(scenarioWorkflow.get(id)).rejects.toThrow(InstanceNotFoundError);
	});

	it("deletes a finished instance 7 days after it ended by default, as the product does", async () => {
		const instance = await instanceIn("complete");
		const { alarm, due } = await retentionAlarmOf(instance.id);
		expect(due).not.toBeNull();
		expect(alarm).toBe(due);
		expect(await fireRetention(instance.id)).toBe(true);
		await expect(scenarioWorkflow.get(instance.id)).rejects.toThrow(InstanceNotFoundError);
	});

	it("falls back to the workflow's default for the side a create's retention leaves out", async () => {
		const id = uniqueId("one-sided");
		const instance = await scenarioWorkflow.create({
			id,
			params: { scenario: "uncaught" },
			retention: { successRetention: "1 hour" },
		});
		await waitForStatus(instance, "errored");
		const { alarm, due } = await retentionAlarmOf(id);
		expect(alarm).toBe(due);
	});

	it("keeps finished instances until deleted when the workflow says defaultRetention: false", async () => {
		const instance = await limitedWorkflow.create({ params: { scenario: "basic" } });
		await waitForStatus(instance, "complete");
		expect(await alarmOf(instance.id, raw.LIMITED)).toBeNull();
		expect((await limitedWorkflow.get(instance.id)).id).toBe(instance.id);
	});

	it("refuses calls on a deleted instance handle", async () => {
		const instance = await instanceIn("complete");
		await (instance as WorkflowInstance & { delete(): Promise<void> }).delete();
		await expect(instance.status()).rejects.toThrow(`instance "${instance.id}" not found`);
		await expect(instance.status()).rejects.toThrow(InstanceNotFoundError);
		await expect(instance.pause()).rejects.toThrow(InstanceNotFoundError);
		await expect(instance.restart()).rejects.toThrow(InstanceNotFoundError);
	});
});

describe("a run stopping its own instance", () => {
	it.for([
		{ how: "terminate", status: "terminated", where: "run()" },
		{ how: "pause", status: "paused", where: "run()" },
		{ how: "terminate", status: "terminated", where: "a step", inStep: true },
	] as const)("$how from $where: nothing after the call runs", async ({ how, status, inStep }) => {
		const instance = await start("selfStop", { how, inStep: inStep ?? false });
		await waitForStatus(instance, status);
		// A later event on the object: any continuation of run() after the call ran before it.
		await runInDurableObject(engineStub(instance.id), () => {});
		expect(reached.has(`${instance.id}:calling`)).toBe(true);
		expect(reached.has(`${instance.id}:after`)).toBe(false);
		expect(await calls(instance.id)).toEqual({ before: 1 });
	});

	it("delete from run(): the instance is gone and nothing after the call runs", async () => {
		const instance = await start("selfStop", { how: "delete" });
		await expect.poll(() => reached.has(`${instance.id}:calling`)).toBe(true);
		await expect
			.poll(() =>
				scenarioWorkflow.get(instance.id).then(
					() => "exists",
					(e: Error) => e.name,
				),
			)
			.toBe("InstanceNotFoundError");
		await runInDurableObject(engineStub(instance.id), () => {});
		expect(reached.has(`${instance.id}:after`)).toBe(false);
		expect(await calls(instance.id)).toEqual({ before: 1 });
	});
});

describe("races", () => {
	it("pause and the running step finishing at once leave it paused with the step recorded", async () => {
		const instance = await instanceIn("running");
		await Promise.all([instance.pause(), openGate(instance.id, "held")]);
		await waitForStatus(instance, "paused");
		await instance.resume();
		await fastForward(instance, "waiting");
		await waitForStatus(instance, "complete");
		expect(await calls(instance.id)).toEqual({ held: 1, released: 1, last: 1 });
	});

	it("terminate racing pause and resume ends terminated", async () => {
		const instance = await instanceIn("waiting");
		const results = await Promise.allSettled([
			instance.pause(),
			instance.terminate(),
			instance.resume(),
		]);
		expect(results[1]?.status).toBe("fulfilled");
		expect((await instance.status()).status).toBe("terminated");
	});

	it("restart racing terminate leaves one valid state", async () => {
		const instance = await instanceIn("waiting");
		await Promise.allSettled([instance.restart(), instance.terminate()]);
		const { status } = await instance.status();
		expect(["terminated", "running", "waiting"]).toContain(status);
	});

	it("validates before calling the engine", async () => {
		const instance = await instanceIn("waiting");
		await expect(instance.sendEvent({ type: "", payload: 1 })).rejects.toThrow(
			WorkflowValidationError,
		);
		await expect(instance.pause()).resolves.toBeUndefined();
		await expect(instance.resume()).resolves.toBeUndefined();
		await expect(instance.resume()).rejects.toThrow(InvalidStateError);
	});
});

describe("review regressions (lifecycle)", () => {
	it("resuming during waitingForPause releases a branch that reached a step boundary meanwhile", async () => {
		const instance = await start("retryBesideWork");
		await expect.poll(async () => (await calls(instance.id)).hangs).toBe(1);
		await instance.pause();
		expect((await instance.status()).status).toBe("waitingForPause");
		// Make the other branch's retry due: it reaches the boundary and must wait there.
		const retryReady = async () =>
			(
				await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
					engine.journal.step("do", "slow retry", 1),
				)
			)?.state === StepState.Pending;
		// The lease of the hanging attempt is always the earlier alarm, so move the retry's time instead.
		await runInDurableObject(engineStub(instance.id), (_e: WorkflowEngine, state) => {
			state.storage.sql.exec(
				"UPDATE steps SET due_at = ? WHERE name = 'slow retry'",
				Date.now() - 1,
			);
		});
		await fireAlarm(instance.id);
		expect(await retryReady()).toBe(true);
		expect((await calls(instance.id))["slow retry"]).toBe(1);
		await instance.resume();
		await expect.poll(async () => (await calls(instance.id))["slow retry"]).toBe(2);
	});

	it("completes a pending pause when the object stops mid-attempt: paused, and the attempt runs again on resume", async () => {
		const instance = await instanceIn("waitingForPause");
		await crash(instance.id);
		expect((await instance.status()).status).toBe("paused");
		await fireAlarm(instance.id);
		expect((await instance.status()).status).toBe("paused");
		expect(await calls(instance.id)).toEqual({ held: 1 });
		await instance.resume();
		await expect.poll(async () => (await calls(instance.id)).held).toBe(2);
		await openGate(instance.id, "held");
		await waitForStatus(instance, "waiting");
	});

	it("times out, rather than feeds, a wait whose timeout passed while the instance was paused", async () => {
		const instance = await start("waitEvent", { timeout: "1 hour" });
		await waitForStatus(instance, "waiting");
		await instance.pause();
		// Time passes beyond the wait's timeout while paused.
		await runInDurableObject(engineStub(instance.id), (_e: WorkflowEngine, state) => {
			state.storage.sql.exec("UPDATE steps SET due_at = ? WHERE type = 'wait'", Date.now() - 1);
		});
		await instance.sendEvent({ type: "approval", payload: "too late" });
		await instance.resume();
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("WorkflowTimeoutError");
		// The late event was kept for a later wait of its type, not given to the timed-out one.
		const buffered = await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
			engine.journal.bufferedEvents(),
		);
		expect(buffered).toBe(1);
	});
});
