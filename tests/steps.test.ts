import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_ERROR_MESSAGE_LENGTH, type WorkflowEngine, WorkflowError } from "../src";
import { StepState } from "../src/engine/steps";
import { MAX_VALUE_DEPTH } from "../src/limits";
import { getInstanceHistory, getStepHistory } from "../src/ops";
import {
	calls,
	crash,
	engineStub,
	fastForward,
	fireAlarm,
	limitedWorkflow,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import { nestedList } from "./workflows";

/** The engine's journal entry of a step, read inside its Durable Object. */
function journalEntry(id: string, type: "do" | "sleep", name: string, count = 1) {
	return runInDurableObject(engineStub(id), (engine: WorkflowEngine) =>
		engine.journal.step(type, name, count),
	);
}

describe("step.do", () => {
	it("runs steps in order, returns their results and completes with run()'s output", async () => {
		const instance = await start("basic");
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ a: 1, b: 2 });
		expect(status.error).toBeUndefined();
		expect(await calls(instance.id)).toEqual({ first: 1, second: 1 });
	});

	it("hands run() the event: payload, instanceId, workflowName and creation time", async () => {
		const before = Date.now();
		const instance = await start("event", { nested: { list: [1, "two"] } });
		const { output } = await waitForStatus(instance, "complete");
		const event = output as {
			payload: unknown;
			instanceId: string;
			workflowName: string;
			timestamp: Date;
		};
		expect(event.payload).toEqual({ scenario: "event", nested: { list: [1, "two"] } });
		expect(event.instanceId).toBe(instance.id);
		expect(event.workflowName).toBe("scenario");
		expect(event.timestamp).toBeInstanceOf(Date);
		expect(event.timestamp.getTime()).toBeGreaterThanOrEqual(before);
	});

	it("passes the callback { step: { name, count }, attempt, config } with documented defaults", async () => {
		const instance = await start("stepContext");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({
			first: {
				step: { name: "ctx", count: 1 },
				attempt: 1,
				config: { retries: { limit: 5, delay: 10_000, backoff: "exponential" }, timeout: 600_000 },
			},
			second: {
				step: { name: "ctx", count: 2 },
				attempt: 1,
				config: { retries: { limit: 1, delay: 5, backoff: "exponential" }, timeout: 60_000 },
			},
		});
	});

	it("retries a failing step until it succeeds, counting attempts", async () => {
		const instance = await start("flaky", {
			failures: 2,
			config: { retries: { limit: 3, delay: 1, backoff: "constant" } },
		});
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({ calls: 3, attempt: 3 });
		expect(await calls(instance.id)).toEqual({ flaky: 3 });
	});

	it("retries a failing step limit+1 times, then errors with the last error", async () => {
		const instance = await start("flaky", {
			failures: 100,
			config: { retries: { limit: 2, delay: 1, backoff: "linear" } },
		});
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({ name: "Error", message: "attempt 3 failed" });
		expect(await calls(instance.id)).toEqual({ flaky: 3 });
		const entry = await journalEntry(instance.id, "do", "flaky");
		expect(entry?.state).toBe(StepState.Failed);
		expect(entry?.attempts).toBe(3);
	});

	it("waits the documented default 10 s before the first retry, durably, on the alarm", async () => {
		const instance = await start("flaky", { failures: 1 });
		await expect
			.poll(async () => (await journalEntry(instance.id, "do", "flaky"))?.state)
			.toBe(StepState.Retrying);
		const seenAt = Date.now();
		const entry = await journalEntry(instance.id, "do", "flaky");
		// The retry is due 10 s after the attempt failed, which came after it started and before
		// the retry was seen scheduled (however long the attempt took on a loaded machine).
		expect(entry?.dueAt).toBeGreaterThanOrEqual((entry?.startedAt ?? 0) + 10_000);
		expect(entry?.dueAt).toBeLessThanOrEqual(seenAt + 10_000);
		expect((await instance.status()).status).toBe("running");
		await fastForward(instance, "running");
		expect(await waitForStatus(instance, "complete")).toMatchObject({
			output: { calls: 2, attempt: 2 },
		});
	});

	it.for([
		{ backoff: "constant", delays: [1000, 1000, 1000] },
		{ backoff: "linear", delays: [1000, 2000, 3000] },
		{ backoff: "exponential", delays: [1000, 2000, 4000] },
	])("spaces retries with $backoff backoff", async ({ backoff, delays }) => {
		let before = Date.now();
		const instance = await start("flaky", {
			failures: 3,
			config: { retries: { limit: 3, delay: "1 second", backoff } },
		});
		// A retry's delay counts from the moment its attempt failed, which lies between the
		// previous alarm (or the start) and the moment the retry is seen scheduled.
		for (const delay of delays) {
			await expect
				.poll(async () => (await journalEntry(instance.id, "do", "flaky"))?.state)
				.toBe(StepState.Retrying);
			const seenAt = Date.now();
			const dueAt = (await journalEntry(instance.id, "do", "flaky"))?.dueAt ?? 0;
			expect(dueAt - seenAt).toBeLessThanOrEqual(delay);
			expect(dueAt - before).toBeGreaterThanOrEqual(delay);
			before = Date.now();
			await fireAlarm(instance.id);
			await expect
				.poll(async () => (await journalEntry(instance.id, "do", "flaky"))?.dueAt)
				.not.toBe(dueAt);
		}
		expect((await waitForStatus(instance, "complete")).output).toEqual({ calls: 4, attempt: 4 });
	});

	it("takes each retry's delay from a retries.delay function of the failed attempt, fed into backoff", async () => {
		const instance = await start("delayFunction", { mode: "minutes", backoff: "linear" });
		// Retry n waits (n × 10 minutes) × n: the function's answer, then linear backoff.
		for (const minutes of [10, 40]) {
			await expect
				.poll(async () => (await journalEntry(instance.id, "do", "dynamic"))?.state)
				.toBe(StepState.Retrying);
			const { dueAt, endedAt, attemptStartedAt } =
				(await journalEntry(instance.id, "do", "dynamic")) ?? {};
			const failedBy = Date.now();
			expect(dueAt).toBeGreaterThanOrEqual((attemptStartedAt ?? endedAt ?? 0) + minutes * 60_000);
			expect(dueAt).toBeLessThanOrEqual(failedBy + minutes * 60_000);
			// The alarm may be the run's lease first, then the retry's time.
			await expect
				.poll(async () => {
					await fireAlarm(instance.id);
					return (await journalEntry(instance.id, "do", "dynamic"))?.dueAt;
				})
				.not.toBe(dueAt);
		}
		const { output } = await waitForStatus(instance, "complete");
		// The callback's context has no resolved delay when a function decides it.
		expect(output).toEqual({
			attempt: 3,
			config: { retries: { limit: 3, backoff: "linear" }, timeout: 600_000 },
		});
		// The function saw each failed attempt's number and error.
		expect(await calls(instance.id)).toEqual({
			dynamic: 3,
			"delay-1:attempt 1 failed": 1,
			"delay-2:attempt 2 failed": 1,
		});
	});

	it.for([
		{ mode: "throws", why: "threw an error: no delay for you" },
		{
			mode: "invalid",
			why: 'returned an invalid delay value (expected a number of ms or a duration string like "30 seconds")',
		},
	])("fails the step without retrying when its delay function $mode", async ({ mode, why }) => {
		const instance = await start("delayFunction", { mode });
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({
			name: "NonRetryableDelayError",
			message: `The delay function for step "dynamic-1" ${why}`,
		});
		expect((await calls(instance.id)).dynamic).toBe(1);
	});

	it('redacts the output of a step with sensitive: "output" where operators see it, not for run()', async () => {
		const instance = await start("sensitive");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({ secret: { token: "s3cr3t", sensitive: "output" }, plain: "visible" });
		const history = await getInstanceHistory(scenarioWorkflow, instance.id);
		expect(history.steps.map((step) => [step.name, "output" in step && step.output])).toEqual([
			["secret", "[REDACTED]"],
			["plain", "visible"],
		]);
		expect(await getStepHistory(scenarioWorkflow, instance.id, { name: "secret" })).toMatchObject({
			output: "[REDACTED]",
		});
		// A replay (after a restart from the second step) still hands run() the real value.
		await instance.restart({ from: { name: "plain" } } as never);
		expect((await waitForStatus(instance, "complete")).output).toMatchObject({
			secret: { token: "s3cr3t" },
		});
	});

	it("fails at once on NonRetryableError: one attempt, its name and message", async () => {
		const instance = await start("nonRetryable");
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({ name: "PaymentError", message: "card declined" });
		expect(await calls(instance.id)).toEqual({ doomed: 1 });
	});

	it("recognises the product's NonRetryableError from cloudflare:workflows too", async () => {
		const instance = await start("productNonRetryable");
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({
			name: "NonRetryableError",
			message: "from cloudflare:workflows",
		});
		expect(await calls(instance.id)).toEqual({ doomed: 1 });
	});

	it("lets run() catch a step's final error and carry on", async () => {
		const instance = await start("caught");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({
			caught: { name: "TypeError", message: "bad input" },
			after: "continued",
		});
		expect(await calls(instance.id)).toEqual({ fails: 2 });
	});

	it("lets run() catch a NonRetryableError", async () => {
		const instance = await start("caughtNonRetryable");
		expect((await waitForStatus(instance, "complete")).output).toEqual({
			caught: "NonRetryableError",
		});
	});

	it("errors the instance when run() throws outside a step", async () => {
		const instance = await start("uncaught");
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({ name: "RangeError", message: "run failed outside any step" });
	});

	it("times out a slow attempt, retries it, then errors with WorkflowTimeoutError", async () => {
		const instance = await start("timeout");
		const status = await waitForStatus(instance, "errored");
		expect(status.error).toEqual({
			name: "WorkflowTimeoutError",
			message: 'step "slow" attempt 2 timed out after 50 ms',
		});
		expect(await calls(instance.id)).toEqual({ slow: 2 });
	});

	it("times out attempts whose deadline comes before an earlier attempt's", async () => {
		const instance = await start("earlierTimeouts");
		expect((await waitForStatus(instance, "complete")).output).toEqual({
			quick: "quick",
			short: 'step "short" attempt 1 timed out after 30 ms',
			again: 'step "short again" attempt 1 timed out after 30 ms',
			long: "long",
		});
	});

	it("runs concurrent steps (Promise.all), also beside a sleep", async () => {
		const instance = await start("parallel");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({ results: ["A", "B", "C"], slept: "slept" });
		expect(await calls(instance.id)).toEqual({ a: 1, b: 1, c: 1, beside: 1 });
	});

	it("keys repeated step names by occurrence, across a sleep and a replay", async () => {
		const instance = await start("duplicateNames");
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual([1, 2, 3, 4]);
		expect(await calls(instance.id)).toEqual({ "same name": 4 });
	});

	for (const where of ["step", "run"] as const) {
		it(`keeps at most MAX_ERROR_MESSAGE_LENGTH characters of an error thrown from ${where === "step" ? "a step" : "run()"}`, async () => {
			const instance = await start("longError", { length: MAX_ERROR_MESSAGE_LENGTH + 10, where });
			const { error } = await waitForStatus(instance, "errored");
			const note = `… (cut from ${MAX_ERROR_MESSAGE_LENGTH + 10} characters)`;
			expect(error?.message).toBe("x".repeat(MAX_ERROR_MESSAGE_LENGTH - note.length) + note);
		});
	}
});

describe("step outputs", () => {
	it("keeps structured-clone values (Date, Map, Set, typed arrays, BigInt, RegExp) across replay", async () => {
		const instance = await start("structured");
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		const { output } = await waitForStatus(instance, "complete");
		const { value, again, sameDate } = output as {
			value: Record<string, unknown>;
			again: unknown;
			sameDate: boolean;
		};
		expect(sameDate).toBe(true);
		expect(value.date).toEqual(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
		expect(value.map).toEqual(new Map([["k", { nested: [1, 2, 3] }]]));
		expect(value.set).toEqual(new Set([1, "two"]));
		expect(value.bytes).toEqual(new Uint8Array([1, 2, 255]));
		expect(value.big).toBe(2n ** 70n);
		expect(value.regex).toEqual(/a+b/gi);
		expect(value.infinite).toBe(Number.POSITIVE_INFINITY);
		expect("nothing" in value).toBe(true);
		expect(again).toEqual(value);
	});

	it("gives back exactly what structured clone would, whether a value is kept as JSON or in KV", async () => {
		const instance = await start("jsonEdges");
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toMatchObject({
			negativeZero: true,
			hole: true,
			sameShared: true,
			nothing: undefined,
			plain: { s: "é\u{1F600}\ud800", n: 1.5e-7, a: [[], {}], t: true, z: null },
		});
		const { edges } = output as { edges: Record<string, unknown> };
		expect(edges.notANumber).toBeNaN();
		expect(edges.undefinedInArray).toEqual([undefined, 1]);
		expect(edges.nullPrototype).toEqual({ k: "v" });
		// Read back from storage by a fresh object, as a replay would.
		await crash(instance.id);
		expect(await getInstanceHistory(scenarioWorkflow, instance.id)).toMatchObject({
			output: { plain: { a: [[], {}] }, negativeZero: true, sameShared: true },
		});
	});

	it("fails the instance with a clear error when a step returns an unserialisable value", async () => {
		const instance = await start("unserializable");
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("UnserializableValueError");
		expect(status.error?.message).toMatch(
			/^step "returns a function" returned a value that cannot be stored/,
		);
	});

	it(`keeps a step output nested ${MAX_VALUE_DEPTH} levels deep readable, and refuses a deeper one at the step`, async () => {
		const deepest = await start("deep", { depth: MAX_VALUE_DEPTH });
		expect((await waitForStatus(deepest, "complete")).output).toEqual(nestedList(MAX_VALUE_DEPTH));
		// Read back from storage by a fresh object, and through the history's RPC answer.
		await crash(deepest.id);
		const history = await getInstanceHistory(scenarioWorkflow, deepest.id);
		expect(history.steps[0]).toMatchObject({ type: "do", output: nestedList(MAX_VALUE_DEPTH) });

		// One level more is refused as the step returns it: no retry, run() gets the error.
		const deeper = await start("deep", { depth: MAX_VALUE_DEPTH + 1 });
		const status = await waitForStatus(deeper, "errored");
		expect(status.error).toMatchObject({
			name: "UnserializableValueError",
			message: expect.stringMatching(
				new RegExp(
					`^step "deep" returned a value that cannot be stored: it nests ${MAX_VALUE_DEPTH + 1} levels deep; a stored value may nest at most ${MAX_VALUE_DEPTH} levels`,
				),
			),
		});
		// The history of the errored instance reads back, too.
		expect((await getInstanceHistory(scenarioWorkflow, deeper.id)).status).toBe("errored");
	});

	it("refuses params and event payloads nested too deep at the call", async () => {
		const tooDeep = nestedList(MAX_VALUE_DEPTH + 1);
		await expect(
			scenarioWorkflow.create({
				id: uniqueId("deep-params"),
				params: { scenario: "basic", tooDeep },
			}),
		).rejects.toMatchObject({
			name: "WorkflowValidationError",
			// The list sits one level down in the params.
			message: expect.stringContaining(`nests ${MAX_VALUE_DEPTH + 2} levels deep`),
		});
		const instance = await start("waitEvent");
		await expect(instance.sendEvent({ type: "approval", payload: tooDeep })).rejects.toMatchObject({
			name: "WorkflowValidationError",
			message: expect.stringContaining(`nests ${MAX_VALUE_DEPTH + 1} levels deep`),
		});
	});

	it("fails the instance with a clear error when run() returns an unserialisable value", async () => {
		const instance = await start("unserializableOutput");
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("UnserializableValueError");
		expect(status.error?.message).toMatch(/^run\(\) returned a value that cannot be stored/);
	});

	it("rejects a step output over 1 MiB without retrying", async () => {
		const instance = await start("tooLarge");
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("ValueTooLargeError");
		expect(status.error?.message).toMatch(/must be at most 1048576 bytes \(1 MiB\)/);
	});
});

describe("step input validation", () => {
	it("rejects bad names, configs, durations and dates at the call, naming the limit", async () => {
		const instance = await start("badStepInput");
		const { output } = await waitForStatus(instance, "complete");
		const { errors, ran } = output as {
			errors: Record<string, { name: string; message: string }>;
			ran: number;
		};
		expect(ran).toBe(1);
		for (const error of Object.values(errors)) expect(error.name).toBe("WorkflowValidationError");
		expect(errors.longName?.message).toBe("step name must be at most 256 characters");
		expect(errors.emptyName?.message).toBe("step name must not be empty");
		expect(errors.noCallback?.message).toBe('step.do("x"): the callback must be a function');
		expect(errors.rollback?.message).toBe('step.do("x"): rollback must be a function');
		expect(errors.badConfig?.message).toMatch(/^step config\.retries\.limit: /);
		expect(errors.unknownConfigKey?.message).toMatch(/^step config: .*retry/);
		expect(errors.badDuration?.message).toMatch(/^sleep duration: .*"<n> second\|minute/);
		expect(errors.negativeDuration?.message).toBe(
			"sleep duration: must not be negative or infinite, got -5",
		);
		expect(errors.tooLongSleep?.message).toMatch(/^sleep duration must be at most 365 days/);
		expect(errors.badDate?.message).toMatch(/^sleepUntil timestamp must be a valid Date/);
		expect(errors.farDate?.message).toMatch(/^sleepUntil timestamp must be at most 365 days/);
	});

	it("fails an instance that starts more steps than its step limit", async () => {
		const id = uniqueId("limited");
		const instance = await limitedWorkflow.create({
			id,
			params: { scenario: "manySteps", count: 5 },
		});
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("StepLimitError");
		expect(status.error?.message).toMatch(/limit of 3 steps/);
	});

	it("completes within the step limit", async () => {
		const id = uniqueId("limited-ok");
		const instance = await limitedWorkflow.create({
			id,
			params: { scenario: "manySteps", count: 3 },
		});
		expect((await waitForStatus(instance, "complete")).output).toBe(3);
	});

	it("types its errors: a WorkflowError carries its code", () => {
		const error = new WorkflowError("invalid_state", "nope");
		expect(error.toJSON()).toEqual({
			name: "WorkflowError",
			message: "nope",
			code: "invalid_state",
		});
	});
});
