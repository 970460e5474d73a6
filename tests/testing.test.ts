/**
 * The test kit (do-workflows/testing): every introspector and modifier method, the product's
 * introspection style end to end, and the kit's error paths.
 */
import {
	env,
	introspectWorkflow,
	introspectWorkflowInstance,
	type WorkflowInstanceIntrospector,
} from "do-workflows/testing";
import { describe, expect, it } from "vitest";
import { InvalidStateError, NonRetryableError, WorkflowValidationError } from "../src";
import { getInstanceHistory } from "../src/ops";
import {
	alarmOf,
	calls,
	crash,
	fastForward,
	fireAlarm,
	openGate,
	raw,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import { digest } from "./workflows";

const kit = { scenario: "kit" as const };

/** A fresh id, and an introspector of it. */
async function introspect(label: string): Promise<[string, WorkflowInstanceIntrospector]> {
	const id = uniqueId(label);
	return [id, await introspectWorkflowInstance(env.SCENARIO, id)];
}

describe("the product's introspection style", () => {
	it("disables sleeps, mocks a result, an error and an event, then waits for the output", async () => {
		const [id, instance] = await introspect("product-style");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.disableRetryDelays();
			await m.mockStepResult({ name: "fetch" }, "mocked-1");
			await m.mockStepError({ name: "fetch", index: 2 }, new Error("flaky upstream"), 2);
			await m.mockEvent({ type: "approved", payload: { by: "alice" } });
		});
		await env.SCENARIO.create({ id, params: kit });

		await instance.waitForStatus("complete");
		expect(await instance.getOutput()).toEqual({
			first: "mocked-1",
			second: "real-2",
			approval: { by: "alice" },
		});
		// The mocked step never ran; the second ran once, after its two mocked failures.
		expect(await calls(id)).toEqual({ "fetch-2": 1 });
		const history = await instance.getHistory();
		const second = history.steps.find((s) => s.name === "fetch" && s.index === 2);
		expect(second?.type === "do" && second.attempts.map((a) => a.outcome)).toEqual([
			"error",
			"error",
			"success",
		]);
	});

	it("waits for step results, by name and index", async () => {
		const [id, instance] = await introspect("step-results");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.forceEventTimeout({ name: "approval" });
		});
		const first = instance.waitForStepResult({ name: "fetch" });
		const second = instance.waitForStepResult({ name: "fetch", index: 2 });
		await env.SCENARIO.create({ id, params: kit });
		expect(await first).toBe("real-1");
		expect(await second).toBe("real-2");
		// Already complete: resolves at once.
		expect(await instance.waitForStepResult({ name: "fetch", index: 1 })).toBe("real-1");
		await instance.waitForStatus("complete");
		expect((await instance.getOutput()) as object).toMatchObject({
			approval: "no event: WorkflowTimeoutError",
		});
	});

	it("rejects waitForStepResult with the step's error, and reports the instance's error", async () => {
		const [id, instance] = await introspect("step-error");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableRetryDelays([{ name: "fetch" }]);
			await m.mockStepError({ name: "fetch" }, new TypeError("upstream down"));
		});
		const result = instance.waitForStepResult({ name: "fetch" });
		await env.SCENARIO.create({ id, params: kit });
		await expect(result).rejects.toMatchObject({ name: "TypeError", message: "upstream down" });
		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({ name: "TypeError", message: "upstream down" });
		// Four attempts (limit 3), all mocked: the real callback never ran.
		expect(await calls(id)).toEqual({});
		const [fetch] = (await instance.getHistory()).steps;
		expect(fetch?.type === "do" && fetch.attempts.length).toBe(4);
	});

	it("a mocked NonRetryableError fails the step at its first attempt", async () => {
		const [id, instance] = await introspect("non-retryable");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.mockStepError({ name: "fetch" }, new NonRetryableError("card declined"));
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({
			name: "NonRetryableError",
			message: "card declined",
		});
		const [fetch] = (await instance.getHistory()).steps;
		expect(fetch?.type === "do" && fetch.attempts.length).toBe(1);
	});

	it("forces step timeouts for a number of attempts, then runs the step", async () => {
		const [id, instance] = await introspect("step-timeout");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.disableRetryDelays();
			await m.forceStepTimeout({ name: "fetch" }, 2);
			await m.mockEvent({ type: "approved", payload: "yes" });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		const [fetch] = (await instance.getHistory()).steps;
		if (fetch?.type !== "do") throw new Error("expected the fetch step first");
		expect(fetch.attempts.map((a) => a.error?.name ?? a.outcome)).toEqual([
			"WorkflowTimeoutError",
			"WorkflowTimeoutError",
			"success",
		]);
		expect(fetch.output).toBe("real-1");
		expect(await calls(id)).toEqual({ "fetch-1": 1, "fetch-2": 1 });
	});

	it("a step timeout forced on every attempt fails the step", async () => {
		const [id, instance] = await introspect("always-timeout");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableRetryDelays();
			await m.forceStepTimeout({ name: "fetch" });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("errored");
		expect((await instance.getError()).name).toBe("WorkflowTimeoutError");
	});
});

describe("sleeps and events", () => {
	it("disables only the named sleep; the other one waits, visible in the history", async () => {
		const [id, instance] = await introspect("one-sleep");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps([{ name: "nap", index: 1 }]);
			await m.mockEvent({ type: "approved", payload: 1 });
		});
		const handle = await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("waiting");
		const history = await instance.getHistory();
		expect(history.steps.map((s) => [s.type, s.name, s.index, s.state])).toEqual([
			["do", "fetch", 1, "complete"],
			["sleep", "nap", 1, "complete"],
			["do", "fetch", 2, "complete"],
			["waitForEvent", "approval", 1, "complete"],
			["sleep", "nap", 2, "sleeping"],
		]);
		const nap = history.steps[4];
		expect(nap?.type === "sleep" && nap.wakeAt instanceof Date).toBe(true);
		await fastForward(handle, "waiting");
		await instance.waitForStatus("complete");
	});

	it("a mocked event reaches an instance that already exists", async () => {
		const [id, instance] = await introspect("late-event");
		await using _ = instance;
		await instance.modify(async (m) => m.disableSleeps());
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStepResult({ name: "fetch", index: 2 });
		await instance.modify(async (m) => m.mockEvent({ type: "approved", payload: "late" }));
		await instance.waitForStatus("complete");
		expect((await instance.getOutput()) as object).toMatchObject({ approval: "late" });
		const wait = (await instance.getHistory()).steps[3];
		expect(wait?.type === "waitForEvent" && wait.event?.payload).toBe("late");
	});
});

describe("waitForStatus", () => {
	it("sees a status the instance held only for a moment", async () => {
		const [id, instance] = await introspect("transient");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: null });
		});
		const running = instance.waitForStatus("running");
		await env.SCENARIO.create({ id, params: kit });
		await running;
		await instance.waitForStatus("complete");
		// queued: every instance was, so there is nothing to wait for (as in the product).
		await instance.waitForStatus("queued");
	});

	it("rejects once a different final status is reached", async () => {
		const [id, instance] = await introspect("never-reached");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: null });
		});
		const errored = expect(instance.waitForStatus("errored")).rejects.toThrow(
			/reached "complete", a final status, so it will never be "errored"/,
		);
		const paused = expect(instance.waitForStatus("paused")).rejects.toBeInstanceOf(
			InvalidStateError,
		);
		await env.SCENARIO.create({ id, params: kit });
		await errored;
		await paused;
		// And at once when the instance is already final.
		await expect(instance.waitForStatus("terminated")).rejects.toBeInstanceOf(InvalidStateError);
	});

	it("refuses a status that does not exist", async () => {
		const [, instance] = await introspect("bad-status");
		await using _ = instance;
		await expect(instance.waitForStatus("done" as never)).rejects.toBeInstanceOf(
			WorkflowValidationError,
		);
	});
});

describe("modifier error paths", () => {
	it("refuses to mock a step's result twice, or its failures after its result", async () => {
		const [, instance] = await introspect("twice");
		await using _ = instance;
		await instance.modify(async (m) => m.mockStepResult({ name: "fetch" }, 1));
		await expect(
			instance.modify(async (m) => m.mockStepResult({ name: "fetch", index: 1 }, 2)),
		).rejects.toThrow(/already has a mocked result; mock a step's result once/);
		await expect(
			instance.modify(async (m) => m.mockStepError({ name: "fetch" }, new Error("x"))),
		).rejects.toThrow(/mock its failures before its result/);
		await expect(
			instance.modify(async (m) => m.forceStepTimeout({ name: "fetch" }, 1)),
		).rejects.toBeInstanceOf(InvalidStateError);
		// Another index is another step.
		await instance.modify(async (m) => m.mockStepResult({ name: "fetch", index: 2 }, 2));
	});

	it("validates steps, counts, errors, values and events", async () => {
		const [, instance] = await introspect("validation");
		await using _ = instance;
		const refused = (fn: Parameters<WorkflowInstanceIntrospector["modify"]>[0]) =>
			expect(instance.modify(fn)).rejects.toBeInstanceOf(WorkflowValidationError);
		await refused(async (m) => m.mockStepResult({ name: "fetch", index: 0 }, 1));
		await refused(async (m) => m.mockStepResult({ name: "" }, 1));
		await refused(async (m) => m.mockStepResult({ name: "fetch" }, () => 1));
		await refused(async (m) => m.mockStepError({ name: "fetch" }, new Error("x"), 0));
		await refused(async (m) => m.mockStepError({ name: "fetch" }, "not an error" as never));
		await refused(async (m) => m.forceStepTimeout({ name: "fetch" }, 1.5));
		await refused(async (m) => m.disableSleeps([{ name: "nap", index: -1 }]));
		await refused(async (m) => m.disableRetryDelays("fetch" as never));
		await refused(async (m) => m.forceEventTimeout({ nam: "approval" } as never));
		await refused(async (m) => m.mockEvent({ type: "", payload: 1 }));
		await expect(
			instance.modify(async (m) => m.mockStepResult({ name: "fetch", index: 0 }, 1)),
		).rejects.toThrow(/index is 1-based/);
	});

	it("refuses a second introspector of the same instance until the first is disposed", async () => {
		const [id, instance] = await introspect("claimed");
		await expect(introspectWorkflowInstance(env.SCENARIO, id)).rejects.toThrow(
			/already introspected; dispose the other introspector first/,
		);
		await instance.dispose();
		await instance.dispose(); // idempotent
		await expect(instance.modify(async () => {})).rejects.toThrow(/was disposed/);
		await using again = await introspectWorkflowInstance(env.SCENARIO, id);
		expect(again).toBeDefined();
	});

	it("refuses a bad binding and a bad instance id", async () => {
		await expect(introspectWorkflowInstance({} as never, "x")).rejects.toBeInstanceOf(
			WorkflowValidationError,
		);
		await expect(introspectWorkflow(null as never)).rejects.toBeInstanceOf(WorkflowValidationError);
		await expect(introspectWorkflowInstance(env.SCENARIO, "bad id!")).rejects.toThrow(
			/instance id must/,
		);
	});

	it("getOutput and getError say why they cannot answer", async () => {
		const [id, instance] = await introspect("no-output");
		await using _ = instance;
		await expect(instance.getOutput()).rejects.toThrow(/is not created; only a complete instance/);
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: 1 });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		await expect(instance.getError()).rejects.toThrow(/is complete; only an errored instance/);
	});
});

describe("dispose", () => {
	it("deletes the instance, so the next test can use the same id (the product's pattern)", async () => {
		const id = uniqueId("fixed-id");
		for (const payload of ["first test", "second test"]) {
			await using instance = await introspectWorkflowInstance(env.SCENARIO, id);
			await instance.modify(async (m) => {
				await m.disableSleeps();
				await m.mockEvent({ type: "approved", payload });
			});
			await env.SCENARIO.create({ id, params: kit });
			await instance.waitForStatus("complete");
			expect((await instance.getOutput()) as object).toMatchObject({ approval: payload });
		}
		await expect(env.SCENARIO.get(id)).rejects.toThrow(/not found/);
	});

	it("stops a live instance: nothing of it is left to run", async () => {
		const [id, instance] = await introspect("dispose-live");
		const handle = await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("waiting");
		await instance.dispose();
		await expect(handle.status()).rejects.toThrow(/not found/);
		expect(await alarmOf(id)).toBeNull();
	});

	it("refuses every method of a disposed introspector but dispose", async () => {
		const [, instance] = await introspect("disposed");
		await instance.dispose();
		await instance.dispose(); // idempotent
		await expect(instance.modify(async () => {})).rejects.toThrow(/was disposed/);
		await expect(instance.waitForStatus("complete")).rejects.toThrow(/was disposed/);
		await expect(instance.waitForStepResult({ name: "fetch" })).rejects.toThrow(/was disposed/);
	});
});

describe("modifications over a crash, a restart and each other", () => {
	it("still apply when the run replays after a crash", async () => {
		const [id, instance] = await introspect("crash");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.mockStepResult({ name: "fetch", index: 2 }, "mocked-2");
			await m.mockEvent({ type: "approved", payload: "ok" });
		});
		const handle = await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("waiting"); // the first nap, a real day
		await crash(id);
		await fastForward(handle, "waiting"); // both naps, each after a replay
		await instance.waitForStatus("complete");
		expect(await instance.getOutput()).toEqual({
			first: "real-1",
			second: "mocked-2",
			approval: "ok",
		});
		expect(await calls(id)).toEqual({ "fetch-1": 1 });
	});

	it("a full restart runs with the same mocks and the mocked events again", async () => {
		const [id, instance] = await introspect("restart");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: "again" });
		});
		const handle = await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		await handle.restart();
		await instance.waitForStatus("complete");
		expect((await instance.getOutput()) as object).toMatchObject({ approval: "again" });
	});

	it("a forced event timeout wins over a mocked event", async () => {
		const [id, instance] = await introspect("timeout-wins");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: "too late" });
			await m.forceEventTimeout({ name: "approval" });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		expect((await instance.getOutput()) as object).toMatchObject({
			approval: "no event: WorkflowTimeoutError",
		});
		const wait = (await instance.getHistory()).steps[3];
		expect(wait).toMatchObject({
			type: "waitForEvent",
			state: "errored",
			error: { name: "WorkflowTimeoutError" },
		});
	});

	it("a mocked error wins over a forced timeout; a mocked result is a copy", async () => {
		const [id, instance] = await introspect("precedence");
		await using _ = instance;
		const value = { n: 1 };
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.disableRetryDelays();
			await m.mockStepError({ name: "fetch" }, new RangeError("mocked"), 1);
			await m.forceStepTimeout({ name: "fetch" }, 1);
			await m.mockStepResult({ name: "fetch" }, value);
			await m.mockStepError({ name: "fetch", index: 2 }, new SyntaxError("always"));
			await m.forceStepTimeout({ name: "fetch", index: 2 }, 1);
		});
		value.n = 2;
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("errored");
		const [first, second] = (await instance.getHistory()).steps.filter((s) => s.type === "do");
		expect(first?.type === "do" && first.attempts.map((a) => a.error?.name ?? a.outcome)).toEqual([
			"RangeError",
			"WorkflowTimeoutError",
			"success",
		]);
		expect(first?.type === "do" && first.output).toEqual({ n: 1 });
		expect(second?.type === "do" && second.attempts[0]?.error?.name).toBe("SyntaxError");
	});

	it("waitForStepResult rejects if the instance ends before the step finishes, or never meets it", async () => {
		const [id, instance] = await introspect("ended-early");
		await using _ = instance;
		await instance.modify(async (m) =>
			m.mockStepError({ name: "fetch" }, new Error("retry me"), 1),
		);
		const never = expect(instance.waitForStepResult({ name: "charge" })).rejects.toThrow(
			/never ran step "charge" #1/,
		);
		const unfinished = expect(instance.waitForStepResult({ name: "fetch" })).rejects.toThrow(
			/step "fetch" #1 never finished/,
		);
		const handle = await env.SCENARIO.create({ id, params: kit });
		// The first attempt failed; the retry is an hour away.
		await expect
			.poll(async () => {
				const [fetch] = (await instance.getHistory()).steps;
				return fetch?.type === "do" && fetch.state;
			})
			.toBe("retrying");
		await handle.terminate();
		await unfinished;
		await never;
	});

	it("mockEvent on a finished instance says why it cannot be sent", async () => {
		const [id, instance] = await introspect("finished-event");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: 1 });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		await expect(
			instance.modify(async (m) => m.mockEvent({ type: "approved", payload: 2 })),
		).rejects.toThrow(/mockEvent: cannot send an event to instance .* already complete/);
	});

	it("history counts an attempt cut off by a crash as interrupted", async () => {
		const instance = await start("gated");
		await using _ = await introspectWorkflowInstance(env.SCENARIO, instance.id);
		await expect.poll(async () => (await calls(instance.id)).held).toBe(1);
		await crash(instance.id);
		await fireAlarm(instance.id); // the lease: the run replays and the step runs again
		await expect.poll(async () => (await calls(instance.id)).held).toBe(2);
		await openGate(instance.id, "held");
		await expect
			.poll(async () => (await scenarioWorkflow.get(instance.id).then((i) => i.status())).status)
			.toBe("waiting");
		const [held] = (await getInstanceHistory(env.SCENARIO, instance.id)).steps;
		expect(held).toMatchObject({ type: "do", state: "complete", interruptedAttempts: 1 });
		expect(held?.type === "do" && held.attempts.map((a) => [a.attempt, a.outcome])).toEqual([
			[2, "success"],
		]);
	});
});

describe("introspectWorkflow", () => {
	it("modifies every instance created after it, and only those", async () => {
		const before = await env.SCENARIO.create({ id: uniqueId("before"), params: kit });
		await using introspector = await introspectWorkflow(env.SCENARIO);
		await introspector.modifyAll(async (m) => {
			await m.disableSleeps();
			await m.mockStepResult({ name: "fetch", index: 2 }, "mocked-2");
			await m.mockEvent({ type: "approved", payload: "all" });
		});
		await expect(
			introspector.modifyAll(async (m) => m.mockStepResult({ name: "fetch", index: 2 }, 3)),
		).rejects.toThrow(/already has a mocked result/);
		const created = await env.SCENARIO.createBatch([
			{ id: uniqueId("batch"), params: kit },
			{ id: uniqueId("batch"), params: kit },
			{ params: kit },
		]);
		const instances = await introspector.get();
		expect(instances.map((i) => (i as unknown as { id: string }).id).sort()).toEqual(
			created.map((c) => c.id).sort(),
		);
		for (const instance of instances) {
			await instance.waitForStatus("complete");
			expect(await instance.getOutput()).toEqual({
				first: "real-1",
				second: "mocked-2",
				approval: "all",
			});
		}
		// The instance created before introspection sleeps for real.
		await waitForStatus(before, "waiting");
		await before.terminate();
	});

	it("does not take over an instance created before it that resumes meanwhile", async () => {
		const older = await env.SCENARIO.create({ id: uniqueId("older"), params: kit });
		await waitForStatus(older, "waiting");
		await older.pause();
		await using introspector = await introspectWorkflow(env.SCENARIO);
		await introspector.modifyAll(async (m) => m.disableSleeps());
		await older.resume();
		await waitForStatus(older, "waiting"); // still in its real one-day sleep
		expect(await introspector.get()).toEqual([]);
		await older.terminate();
	});

	it("combines with an instance introspector of the same id, and allows one session per workflow", async () => {
		await using introspector = await introspectWorkflow(env.SCENARIO);
		await expect(introspectWorkflow(env.SCENARIO)).rejects.toThrow(/already introspected/);
		await introspector.modifyAll(async (m) => m.disableSleeps());
		const [id, instance] = await introspect("layered");
		await using _ = instance;
		await instance.modify(async (m) => m.mockEvent({ type: "approved", payload: "both" }));
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		expect((await instance.getOutput()) as object).toMatchObject({ approval: "both" });
		// The session disposes what it took over: the instance is gone afterwards.
		expect(await introspector.get()).toHaveLength(1);
	});

	it("stops modifying new instances once disposed", async () => {
		const introspector = await introspectWorkflow(env.SCENARIO);
		await introspector.modifyAll(async (m) => m.disableSleeps());
		await introspector.dispose();
		await expect(introspector.modifyAll(async () => {})).rejects.toThrow(/disposed/);
		const after = await env.SCENARIO.create({ params: kit });
		await waitForStatus(after, "waiting");
		expect(await introspector.get()).toEqual([]);
		await after.terminate();
	});
});

describe("env", () => {
	it("is the test env with each engine namespace also a Workflow", async () => {
		const id = uniqueId("env");
		const created = await env.SCENARIO.create({ id, params: { scenario: "basic" } });
		const got = await env.SCENARIO.get(id);
		expect(got.id).toBe(created.id);
		await waitForStatus(got, "complete");
		// Still a namespace: ids and stubs as before.
		const objectId = env.SCENARIO.idFromName(id);
		expect(objectId.equals(raw.SCENARIO.idFromName(id))).toBe(true);
		expect(await env.SCENARIO.get(objectId).exists()).toBe(true);
		// Other namespaces keep working as namespaces.
		expect(await env.CALLS.get(env.CALLS.idFromName(id)).counts()).toEqual({
			first: 1,
			second: 1,
		});
	});
});

describe("history", () => {
	it("records each attempt's outcome and timings, and the step's error", async () => {
		const id = uniqueId("history");
		await using instance = await introspectWorkflowInstance(env.SCENARIO, id);
		await instance.modify(async (m) => m.disableRetryDelays());
		await env.SCENARIO.create({
			id,
			params: { scenario: "flaky", failures: 2, config: { retries: { limit: 1, delay: 10 } } },
		});
		await instance.waitForStatus("errored");
		const history = await instance.getHistory();
		expect(history).toMatchObject({
			id,
			status: "errored",
			error: { message: "attempt 2 failed" },
		});
		const [flaky] = history.steps;
		if (flaky?.type !== "do") throw new Error("expected a do step");
		expect(flaky).toMatchObject({
			name: "flaky",
			index: 1,
			state: "errored",
			interruptedAttempts: 0,
		});
		expect(flaky.attempts.map((a) => [a.attempt, a.outcome, a.error?.message])).toEqual([
			[1, "error", "attempt 1 failed"],
			[2, "error", "attempt 2 failed"],
		]);
		for (const attempt of flaky.attempts) {
			expect(attempt.startedAt?.getTime()).toBeLessThanOrEqual(attempt.endedAt?.getTime() ?? 0);
		}
		expect(flaky.error).toEqual({ name: "Error", message: "attempt 2 failed" });
	});

	it("reads the whole history of 40 steps of 1 MB each, and each step's result", async () => {
		// 40 MB of outputs, each within the limit: more than one answer of the engine holds (32 MiB).
		const [id, instance] = await introspect("large-history");
		await using _ = instance;
		await env.SCENARIO.create({
			id,
			params: { scenario: "largeHistory", count: 40, bytes: 1_000_000 },
		});
		const part = (i: number) => `${i}:`.padEnd(1_000_000, "x");
		expect((await instance.waitForStepResult({ name: "part", index: 40 })) === part(40)).toBe(true);
		await instance.waitForStatus("complete");
		const history = await instance.getHistory();
		expect(history).toMatchObject({ id, status: "complete", output: 40 });
		expect(history.cursor).toBeUndefined();
		expect(history.steps).toHaveLength(40);
		for (const [i, step] of history.steps.entries()) {
			expect(step.type === "do" && step.output === part(i + 1), `part #${i + 1}`).toBe(true);
		}
	});

	it("throws for an instance that does not exist", async () => {
		const [, instance] = await introspect("no-history");
		await using _ = instance;
		await expect(instance.getHistory()).rejects.toThrow(/not found/);
	});
});

describe("the product's 2026 features", () => {
	it("words a forced event timeout as cloudflare:test does: WorkflowTimeoutError, the wait's timeout in ms", async () => {
		const [id, instance] = await introspect("forced-wording");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.forceEventTimeout({ name: "approval" });
		});
		await env.SCENARIO.create({ id, params: kit });
		await instance.waitForStatus("complete");
		const wait = (await instance.getHistory()).steps.find((s) => s.type === "waitForEvent");
		// The wait's timeout is "1 day": the product's kit says "Execution timed out after 86400000ms".
		expect(wait?.type === "waitForEvent" && wait.error).toEqual({
			name: "WorkflowTimeoutError",
			message: "Execution timed out after 86400000ms",
		});
	});

	it("mocks a step's result with a ReadableStream: run() and waitForStepResult get its bytes as a stream", async () => {
		const [id, instance] = await introspect("mock-stream");
		await using _ = instance;
		const size = 300_000;
		const bytes = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 255);
		await instance.modify(async (m) => {
			await m.mockStepResult(
				{ name: "big" },
				new ReadableStream<Uint8Array>({
					start(controller) {
						// Three chunks of different sizes; their bytes arrive as they were given.
						controller.enqueue(bytes.slice(0, 1_000));
						controller.enqueue(bytes.slice(1_000, 200_000));
						controller.enqueue(bytes.slice(200_000));
						controller.close();
					},
				}),
			);
		});
		await env.SCENARIO.create({ id, params: { scenario: "streamOutput", size: 10 } });
		await instance.waitForStatus("complete");
		const expected = await digest(
			new ReadableStream({
				start(c) {
					c.enqueue(bytes);
					c.close();
				},
			}),
		);
		expect(await instance.getOutput()).toEqual({ isStream: true, ...expected });
		// The callback never ran; the step's output is stored as a stream, as a real one is.
		expect(await calls(id)).toEqual({ run: 1 });
		const result = await instance.waitForStepResult({ name: "big" });
		expect(result).toBeInstanceOf(ReadableStream);
		expect(await digest(result as ReadableStream<Uint8Array>)).toEqual(expected);
		const [big] = (await instance.getHistory()).steps;
		expect(big?.type === "do" && big.outputOmitted).toEqual({ bytes: size, stream: true });
	});

	it("waitForStepResult of a step that returned a ReadableStream resolves with a stream of its bytes", async () => {
		const [id, instance] = await introspect("real-stream");
		await using _ = instance;
		const size = 2 * 1024 * 1024 + 5;
		const result = instance.waitForStepResult({ name: "big" });
		await env.SCENARIO.create({ id, params: { scenario: "streamOutput", size } });
		const stream = await result;
		expect(stream).toBeInstanceOf(ReadableStream);
		await instance.waitForStatus("complete");
		const { isStream, ...output } = (await instance.getOutput()) as { isStream: boolean };
		expect(isStream).toBe(true);
		expect(await digest(stream as ReadableStream<Uint8Array>)).toEqual(output);
	});

	it("refuses a mocked stream that is locked or holds something else than bytes", async () => {
		const [, instance] = await introspect("bad-stream");
		await using _ = instance;
		const locked = new ReadableStream();
		locked.getReader();
		await expect(
			instance.modify(async (m) => m.mockStepResult({ name: "big" }, locked)),
		).rejects.toThrow(WorkflowValidationError);
		const strings = new ReadableStream({
			start(c) {
				c.enqueue("text");
				c.close();
			},
		});
		await expect(
			instance.modify(async (m) => m.mockStepResult({ name: "big" }, strings)),
		).rejects.toThrow(/ArrayBuffers or typed arrays/);
	});

	it("a mocked result is the output a rollback handler gets; a mocked error fails the run and rolls back", async () => {
		const [id, instance] = await introspect("mock-rollback");
		await using _ = instance;
		await instance.modify(async (m) => {
			await m.mockStepResult({ name: "a" }, "mocked A");
			await m.mockStepError({ name: "d" }, new NonRetryableError("mocked d"));
		});
		await env.SCENARIO.create({ id, params: { scenario: "rollbackOnFailure" } });
		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({ name: "NonRetryableError", message: "mocked d" });
		// Reverse step-start order; d failed for good, so its handler gets no output.
		expect(await calls(id)).toEqual({
			rollbacks: 3,
			"1:d-1:undefined:mocked d:1": 1,
			"2:b-1:B:mocked d:1": 1,
			"3:a-1:mocked A:mocked d:1": 1,
		});
		const rollbacks = (await instance.getHistory()).steps.filter((s) => s.type === "rollback");
		expect(rollbacks.map((s) => [s.name, s.state])).toEqual([
			["d", "complete"],
			["b", "complete"],
			["a", "complete"],
		]);
	});

	it("disableRetryDelays() without steps reaches rollback handlers' retries, as in the product", async () => {
		const [id, instance] = await introspect("rollback-delays");
		await using _ = instance;
		await instance.modify(async (m) => m.disableRetryDelays());
		// The handler fails twice; its retries would wait an hour each.
		await env.SCENARIO.create({
			id,
			params: { scenario: "rollbackRetries", rollbackDelay: "1 hour" },
		});
		await instance.waitForStatus("errored");
		expect(await calls(id)).toEqual({ "rb-a": 3 });
	});

	it("disableRetryDelays with named steps leaves rollback handlers' retries alone", async () => {
		const [id, instance] = await introspect("rollback-delays-named");
		await using _ = instance;
		await instance.modify(async (m) => m.disableRetryDelays([{ name: "a" }]));
		await env.SCENARIO.create({
			id,
			params: { scenario: "rollbackRetries", rollbackDelay: "1 hour" },
		});
		await expect.poll(async () => (await calls(id))["rb-a"]).toBe(1);
		await instance.waitForStatus("rollingBack");
		const [rollback] = (await instance.getHistory()).steps.filter((s) => s.type === "rollback");
		expect(rollback?.type === "rollback" && rollback.nextAttemptAt).toBeInstanceOf(Date);
	});

	it("waitForStatus sees rollingBack while a handler runs, then the final status", async () => {
		const [id, instance] = await introspect("rolling-back");
		await using _ = instance;
		const rollingBack = instance.waitForStatus("rollingBack");
		await env.SCENARIO.create({ id, params: { scenario: "rollbackGated" } });
		await rollingBack;
		await expect.poll(async () => (await calls(id))["rb-a-start"]).toBe(1);
		expect((await env.SCENARIO.get(id).then((i) => i.status())).status).toBe("rollingBack");
		await openGate(id, "rb-a");
		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({ name: "Error", message: "run failed" });
	});

	it("terminate({ rollback: true }) of an introspected instance rolls back, then ends terminated", async () => {
		const [id, instance] = await introspect("terminate-rollback");
		await using _ = instance;
		await env.SCENARIO.create({ id, params: { scenario: "rollbackThenWait" } });
		await instance.waitForStatus("waiting");
		await (await env.SCENARIO.get(id)).terminate({ rollback: true });
		await instance.waitForStatus("terminated");
		expect(await calls(id)).toEqual({
			"rb-a:A:Terminated:Instance terminated during rollback": 1,
		});
		// Not errored: getError says so, as for any terminated instance.
		await expect(instance.getError()).rejects.toThrow(InvalidStateError);
	});
});
