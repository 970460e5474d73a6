/**
 * Step rollback handlers (issue 15): run in reverse step-start order when the run fails or on
 * terminate({ rollback: true }), each journaled like a step (exactly once across a crash, retried
 * by its own rollbackConfig), with the instance `rollingBack` meanwhile.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WorkflowEngine } from "../src";
import { StepState } from "../src/engine/steps";
import { getInstanceHistory } from "../src/ops";
import {
	calls,
	crash,
	engineStub,
	fastForward,
	fireAlarm,
	openGate,
	raw,
	start,
	waitForStatus,
} from "./helpers";

describe("rollback handlers", () => {
	it("run in reverse step-start order, the failed step's first, steps without a handler skipped", async () => {
		const instance = await start("rollbackOnFailure");
		const { error } = await waitForStatus(instance, "errored");
		// The instance ends with the run's error, as without handlers.
		expect(error).toEqual({ name: "NonRetryableError", message: "d broke" });
		expect(await calls(instance.id)).toEqual({
			rollbacks: 3,
			// The failed step has no output; each handler gets the run's error and its step's attempt.
			"1:d-1:undefined:d broke:1": 1,
			"2:b-1:B:d broke:1": 1,
			"3:a-1:A:d broke:1": 1,
		});
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		const rollbacks = history.steps.filter((step) => step.type === "rollback");
		expect(rollbacks.map((step) => [step.name, step.state])).toEqual([
			["d", "complete"],
			["b", "complete"],
			["a", "complete"],
		]);
	});

	it("leave a step error that run() catches alone: no rollback", async () => {
		const instance = await start("rollbackCaught");
		expect((await waitForStatus(instance, "complete")).output).toBe("caught");
		expect(await calls(instance.id)).toEqual({});
	});

	it("run exactly once each across a crash mid-rollback; the instance is rollingBack meanwhile", async () => {
		const instance = await start("rollbackGated");
		await expect.poll(async () => (await calls(instance.id))["rb-a-start"]).toBe(1);
		expect((await instance.status()).status).toBe("rollingBack");
		const rollbackStep = (name: string) =>
			runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
				engine.journal.step("rollback", name, 1),
			);
		expect((await rollbackStep("b"))?.state).toBe(StepState.Done);
		await crash(instance.id);
		// The lease alarm brings the rollback back: run() is replayed to collect the handlers.
		expect(await fireAlarm(instance.id)).toBe(true);
		await expect.poll(async () => (await calls(instance.id))["rb-a-start"]).toBe(2);
		expect((await instance.status()).status).toBe("rollingBack");
		await openGate(instance.id, "rb-a");
		const { error } = await waitForStatus(instance, "errored");
		expect(error).toEqual({ name: "Error", message: "run failed" });
		// b's handler had finished: it did not run again; a's, cut off, ran again; steps once.
		expect(await calls(instance.id)).toEqual({
			a: 1,
			b: 1,
			"rb-b": 1,
			"rb-a-start": 2,
			"rb-a-done": 1,
		});
	});

	it("are all collected again after a crash, though run() awaits I/O between its steps", async () => {
		const instance = await start("rollbackAfterIO");
		await expect.poll(async () => (await calls(instance.id))["rb-b-start"]).toBe(1);
		await crash(instance.id);
		expect(await fireAlarm(instance.id)).toBe(true);
		// The replay got past the I/O to "b", whose handler was cut off: it runs again.
		await expect.poll(async () => (await calls(instance.id))["rb-b-start"]).toBe(2);
		await openGate(instance.id, "rb-b");
		await waitForStatus(instance, "errored");
		expect(await calls(instance.id)).toEqual({
			a: 1,
			b: 1,
			between: 6,
			"rb-b-start": 2,
			"rb-b-done": 1,
			"rb-a": 1,
		});
	});

	it("retry by their own rollbackConfig", async () => {
		const instance = await start("rollbackRetries");
		await fastForward(instance, "rollingBack");
		await waitForStatus(instance, "errored");
		expect(await calls(instance.id)).toEqual({ "rb-a": 3 });
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		const rollback = history.steps.find((step) => step.type === "rollback");
		expect(rollback?.state).toBe("complete");
		expect(rollback?.type === "rollback" && rollback.attempts.map((a) => a.outcome)).toEqual([
			"error",
			"error",
			"success",
		]);
	});

	it("stop at a handler that fails for good; the instance ends errored with the run's error", async () => {
		const instance = await start("rollbackFails");
		await fastForward(instance, "rollingBack");
		const { error } = await waitForStatus(instance, "errored");
		expect(error).toEqual({ name: "Error", message: "run failed" });
		expect(await calls(instance.id)).toEqual({ "rb-b": 2 });
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		const rollbacks = history.steps.filter((step) => step.type === "rollback");
		expect(rollbacks.map((step) => [step.name, step.state])).toEqual([["b", "errored"]]);
		expect(rollbacks[0]?.error).toEqual({ name: "Error", message: "cannot undo b" });
	});

	it("run on terminate({ rollback: true }), then the instance is terminated", async () => {
		const instance = await start("rollbackThenWait");
		await waitForStatus(instance, "waiting");
		await instance.terminate({ rollback: true });
		const status = await waitForStatus(instance, "terminated");
		expect(status.error).toBeUndefined();
		expect(await calls(instance.id)).toEqual({
			"rb-a:A:Terminated:Instance terminated during rollback": 1,
		});
	});

	it("do not run on a plain terminate()", async () => {
		const instance = await start("rollbackThenWait");
		await waitForStatus(instance, "waiting");
		await instance.terminate();
		expect((await instance.status()).status).toBe("terminated");
		expect(await calls(instance.id)).toEqual({});
	});
});
