/**
 * The differential scenarios: each drives one workflow (scenarios.ts) through the binding and
 * returns what a caller observed. compat.spec.ts runs every driver on both engines and compares.
 */
import type { WorkflowBackoff } from "cloudflare:workers";
import { type Driver, FINAL, type Observation } from "./harness";
import { STRUCTURED_EVENT, STRUCTURED_PARAMS } from "./scenarios";

export type ScenarioDriver = (d: Driver) => Promise<Observation>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Creates the instance and waits for it to end. */
async function run(d: Driver, params?: unknown, scenario?: string): Promise<Observation> {
	const instance = await d.create(params, scenario);
	return { ...(await d.settle(instance)), counts: await d.counts(instance) };
}

/** Splits a `{ types, payload }` output: the types `run` saw, and the output the caller sees. */
function typesAndOutput({ output, ...rest }: Observation): Observation {
	const { types, payload } = (output ?? {}) as { types?: unknown; payload?: unknown };
	return { ...rest, types, statusOutput: payload };
}

/** Gaps between consecutive calls of `key`, in ms. */
async function gaps(d: Driver, instance: WorkflowInstance, key: string) {
	const times = await d.times(instance, key);
	return times.slice(1).map((t, i) => t - (times[i] ?? t));
}

/**
 * Whether every retry waited at least its scheduled delay, and less than the documented default
 * of 10 s (which a delay that was not applied would give). The upper bound is loose on purpose: a
 * loaded machine starts a retry late, never early.
 */
function delaysMatch(actual: number[], expected: number[]) {
	return (
		actual.length === expected.length &&
		actual.every((gap, i) => gap >= (expected[i] ?? 0) - 2 && gap < (expected[i] ?? 0) + 5_000)
	);
}

async function backoff(d: Driver, kind: WorkflowBackoff, expected: number[]) {
	const instance = await d.create({ backoff: kind });
	const result = await d.settle(instance);
	const actual = await gaps(d, instance, "timed");
	return { ...result, delaysMatch: delaysMatch(actual, expected) || actual };
}

/** Reads a subscription to its end (or `stop`, an event that ends the reading early). */
async function readEvents(
	subscription: WorkflowInstanceSubscription,
	stop?: (event: WorkflowInstanceEvent) => boolean,
): Promise<WorkflowInstanceEvent[]> {
	const events: WorkflowInstanceEvent[] = [];
	for (;;) {
		const result = await subscription.next();
		if (result.done) return events;
		events.push(result.value);
		if (stop?.(result.value)) return events;
	}
}

/** An event as the subscribe scenarios compare it: its type, step and attempt. */
function shape(event: WorkflowInstanceEvent): string {
	const parts: string[] = [event.type];
	if ("stepName" in event) parts.push(event.stepName);
	if ("attempt" in event) parts.push(String(event.attempt));
	return parts.join(":");
}

const increasing = (events: WorkflowInstanceEvent[]) =>
	events.every((event, i) => i === 0 || event.eventId > (events[i - 1]?.eventId ?? 0));

/** Subscribes as the instance starts and reads every event; what a subscriber observes. */
async function subscribed(
	d: Driver,
	body: string,
	options?: WorkflowInstanceSubscribeOptions,
): Promise<{ events: WorkflowInstanceEvent[]; observation: Observation }> {
	const instance = await d.create(undefined, body);
	const events = await readEvents(await instance.subscribe(options));
	const settled = await d.settle(instance);
	return {
		events,
		observation: {
			...settled,
			shapes: events.map(shape),
			increasingIds: increasing(events),
			instanceIds: events.every((event) => event.instanceId === instance.id),
			timestamps: events.every((event) => typeof event.timestamp === "number"),
		},
	};
}

export const drivers: Record<string, ScenarioDriver> = {
	// ── steps and replay ────────────────────────────────────────────────────────────────────────
	twoSteps: (d) => run(d),
	replayAfterSleep: (d) => run(d),
	stepContext: async (d) => {
		const { output, ...rest } = await run(d);
		type Ctx = { step: unknown; attempt: number; config: { retries: unknown; timeout: unknown } };
		const { first, second } = output as { first: Ctx; second: Ctx };
		return {
			...rest,
			steps: [first.step, first.attempt, second.step, second.attempt],
			defaultRetries: first.config.retries,
			defaultTimeout: first.config.timeout,
			givenRetries: second.config.retries,
			givenTimeout: second.config.timeout,
		};
	},
	outputWhenErrored: async (d) => {
		const instance = await d.create(undefined, "uncaught");
		await d.until(instance, ["errored"]);
		const status = await instance.status();
		return { keys: Object.keys(status).sort(), output: status.output };
	},
	duplicateNames: (d) => run(d),
	parallelSteps: (d) => run(d),
	parallelStepAndSleep: (d) => run(d),
	undefinedResults: (d) => run(d),
	eventShape: async (d) => {
		const result = await run(d, { x: 1 });
		return {
			...result,
			idMatches: (result.output as { instanceId?: string })?.instanceId === d.id(),
		};
	},

	// ── outputs ─────────────────────────────────────────────────────────────────────────────────
	structuredStep: async (d) => {
		const { output, ...rest } = await run(d);
		const { types, againTypes, value } = output as Record<string, unknown>;
		return { ...rest, types, againTypes, statusOutput: value };
	},
	structuredOutput: async (d) => {
		const { output, ...rest } = await run(d);
		return { ...rest, statusOutput: output };
	},
	unserializableStep: (d) => run(d),
	uncaught: (d) => run(d),
	customErrorName: (d) => run(d),

	// ── retries, backoff, NonRetryableError, caught errors ──────────────────────────────────────
	retryThenSucceed: (d) => run(d),
	retriesExhausted: (d) => run(d),
	retryLimitZero: (d) => run(d),
	backoffConstant: (d) => backoff(d, "constant", [40, 40, 40]),
	backoffLinear: (d) => backoff(d, "linear", [40, 80, 120]),
	backoffExponential: (d) => backoff(d, "exponential", [40, 80, 160]),
	delayFunction: async (d) => {
		const instance = await d.create({ mode: "ms" });
		const result = await d.settle(instance);
		// Retry n waits (n × 30 ms) × n: the function's answer, then linear backoff.
		const actual = await gaps(d, instance, "timed");
		return { ...result, delaysMatch: delaysMatch(actual, [30, 120]) || actual };
	},
	delayFunctionThrows: (d) => run(d, { mode: "throws" }, "delayFunction"),
	delayFunctionInvalid: (d) => run(d, { mode: "invalid" }, "delayFunction"),
	sensitiveOutput: (d) => run(d),
	streamOutput: (d) => run(d),
	rollbackOrder: (d) => run(d),

	// ── subscribe() ─────────────────────────────────────────────────────────────────────────────
	subscribeSteps: async (d) => {
		const { events, observation } = await subscribed(d, "twoSteps");
		const of = (type: string) => events.find((event) => event.type === type);
		return {
			...observation,
			// Ids and times are each engine's own: compared by order (increasingIds), not value.
			started: { ...of("workflow_started"), eventId: 0, timestamp: 0 },
			stepStartedKeys: Object.keys(of("step_started") ?? {}).sort(),
			config: (({ config }: { config?: unknown }) => config ?? null)(
				(of("step_started") ?? {}) as { config?: unknown },
			),
			completedOutputs: events
				.filter((event) => event.type === "step_completed")
				.map((event) => ("output" in event ? event.output : "none")),
			final: { ...of("workflow_completed"), eventId: 0, timestamp: 0 },
		};
	},
	subscribeCursor: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		const all = await readEvents(await instance.subscribe());
		const resumes = [];
		for (const [k, event] of all.entries()) {
			const rest = await readEvents(await instance.subscribe({ cursor: event.eventId }));
			resumes.push(JSON.stringify(rest) === JSON.stringify(all.slice(k + 1)));
		}
		const again = await readEvents(await instance.subscribe());
		return { resumes, sameIds: JSON.stringify(again) === JSON.stringify(all) };
	},
	subscribeRetry: async (d) => {
		const { events, observation } = await subscribed(d, "retryThenSucceed");
		const errored = events.filter((event) => event.type === "attempt_errored");
		return {
			...observation,
			errors: errored.map((event) => ("error" in event ? event.error : null)),
			retryDelayMs: errored.map((event) => ("retryDelayMs" in event ? event.retryDelayMs : null)),
			config: events
				.filter((event) => event.type === "step_started")
				.map((event) => ("config" in event ? event.config : null)),
		};
	},
	subscribeFilter: async (d) => {
		const { observation } = await subscribed(d, "twoSteps", {
			filter: ["step_completed", "attempt_started"],
		});
		return observation;
	},
	subscribeSensitive: async (d) => {
		const { events, observation } = await subscribed(d, "sensitiveOutput", {
			filter: ["step_completed"],
		});
		return { ...observation, outputs: events.map((e) => ("output" in e ? e.output : "none")) };
	},
	subscribeRollback: async (d) => {
		const { observation } = await subscribed(d, "rollbackOrder");
		return observation;
	},
	subscribeWait: async (d) => {
		const instance = await d.create(undefined, "waitEvent");
		const subscription = await instance.subscribe();
		const before = await readEvents(subscription, (event) => event.type === "wait_started");
		await instance.sendEvent({ type: "approval", payload: 1 });
		const after = await readEvents(subscription);
		const events = [...before, ...after];
		const wait = events.find((event) => event.type === "wait_started");
		return {
			...(await d.settle(instance)),
			shapes: events.map(shape),
			increasingIds: increasing(events),
			eventType: wait && "eventType" in wait ? wait.eventType : null,
		};
	},
	subscribeUnknown: async (d) => ({
		subscribe: await d.outcome(async () => {
			const instance = await d.create(undefined, "twoSteps");
			await d.settle(instance);
			await instance.delete();
			await instance.subscribe();
		}),
	}),
	rollbackCaught: (d) => run(d),
	stringRetryDelay: async (d) => {
		const instance = await d.create();
		const result = await d.settle(instance);
		return { ...result, delaysMatch: delaysMatch(await gaps(d, instance, "timed"), [1000]) };
	},
	nonRetryable: (d) => run(d),
	nonRetryableNamed: (d) => run(d),
	caughtError: (d) => run(d),
	caughtNonRetryable: (d) => run(d),

	// ── timeouts ────────────────────────────────────────────────────────────────────────────────
	stepTimeout: (d) => run(d),
	stepTimeoutCaught: (d) => run(d),

	// ── sleeps ──────────────────────────────────────────────────────────────────────────────────
	sleepNumeric: (d) => run(d),
	sleepString: (d) => run(d),
	// The workflow takes its target from a step just before the sleep (see the scenarios).
	sleepUntilDate: (d) => run(d, { ahead: 500 }),
	sleepUntilNumber: (d) => run(d, { ahead: 500 }),
	sleepUntilPast: (d) => run(d),
	statusWhileSleeping: async (d) => {
		const instance = await d.create(undefined, "gatedThenSleep");
		await d.ran(instance, "held");
		const whileStep = await d.status(instance);
		await d.open(instance, "held");
		await d.ran(instance, "released");
		// After the step, the instance sleeps for an hour: the built-in engine says running.
		await untilWaiting(d, instance);
		const whileSleeping = await d.status(instance);
		await instance.terminate();
		return {
			whileStep,
			whileSleeping,
			end: await d.status(instance),
			counts: await d.counts(instance),
		};
	},

	// ── events ──────────────────────────────────────────────────────────────────────────────────
	eventDuringWait: async (d) => {
		const instance = await d.create(undefined, "waitEvent");
		await d.ran(instance, "before");
		await untilWaiting(d, instance);
		const whileWaiting = await d.status(instance);
		await instance.sendEvent({ type: "approval", payload: { approved: true } });
		return { whileWaiting, ...(await d.settle(instance)), counts: await d.counts(instance) };
	},
	eventBeforeWait: async (d) => {
		const instance = await d.create();
		await d.ran(instance, "held");
		await instance.sendEvent({ type: "approval", payload: "early" });
		await d.open(instance, "held");
		return d.settle(instance);
	},
	eventTimeout: async (d) => {
		const instance = await d.create({ timeout: 100 }, "waitEvent");
		return { ...(await d.settle(instance)), counts: await d.counts(instance) };
	},
	eventTimeoutCaught: async (d) => run(d),
	severalTypes: async (d) => {
		const instance = await d.create();
		await d.ran(instance, "held");
		await instance.sendEvent({ type: "b", payload: "b1" });
		await instance.sendEvent({ type: "a", payload: "a1" });
		await d.open(instance, "held");
		return d.settle(instance);
	},
	severalWaits: async (d) => {
		const instance = await d.create();
		await d.ran(instance, "held");
		await instance.sendEvent({ type: "a", payload: 1 });
		await instance.sendEvent({ type: "a", payload: 2 });
		await d.open(instance, "held");
		return d.settle(instance);
	},
	parallelWaits: async (d) => {
		const instance = await d.create();
		await instance.sendEvent({ type: "y", payload: "why" });
		await instance.sendEvent({ type: "x", payload: "ex" });
		return d.settle(instance);
	},
	structuredEvent: async (d) => {
		const instance = await d.create();
		await instance.sendEvent({ type: "rich", payload: STRUCTURED_EVENT });
		return typesAndOutput(await d.settle(instance));
	},
	sendEventWhenComplete: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		return { send: await d.outcome(() => instance.sendEvent({ type: "late", payload: 1 })) };
	},

	// ── params ──────────────────────────────────────────────────────────────────────────────────
	paramsJson: (d) =>
		run(d, {
			string: "héllo ✓ \u0000",
			numbers: [0, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER],
			booleans: [true, false],
			nothing: null,
			nested: { a: { b: { c: [[], {}, [1, [2, [3]]]] } } },
			empty: "",
		}),
	paramsPrimitives: async (d) => {
		const outputs: unknown[] = [];
		for (const [label, params] of [
			["number", 42],
			["string", "plain"],
			["null", null],
			["array", [1, "two", { three: 3 }]],
			["bool", false],
		] as const) {
			const instance = await d.wf.create({ id: `echo--primitive-${label}`, params });
			outputs.push((await d.settle(instance)).output);
		}
		return { outputs };
	},
	paramsMissing: async (d) => {
		const instance = await d.wf.create({ id: "echo--no-params" });
		return d.settle(instance);
	},
	structuredParams: async (d) => typesAndOutput(await run(d, STRUCTURED_PARAMS)),

	// ── ids ─────────────────────────────────────────────────────────────────────────────────────
	idsValid: async (d) => {
		const ids = ["_underscore", "echo--A-b_c-1", `echo--${"x".repeat(94)}`];
		const seen = [];
		for (const id of ids) {
			const instance = await d.wf.create({ id });
			seen.push({ id: instance.id === id, status: (await d.settle(instance)).status });
		}
		return { seen };
	},
	idsInvalid: async (d) => {
		const outcomes: Record<string, unknown> = {};
		for (const [label, id] of [
			["space", "bad id"],
			["leading dash", "-lead"],
			["dot", "a.b"],
			["101 chars", "x".repeat(101)],
			["empty", ""],
		] as const) {
			outcomes[label] = await d.outcome(() => d.wf.create({ id }));
		}
		return outcomes;
	},
	idDuplicate: async (d) => {
		const first = await d.wf.create({ id: "twoSteps--dup" });
		await d.settle(first);
		const second = await d.outcome(() => d.wf.create({ id: "twoSteps--dup" }));
		return { second, counts: await d.counts(first) };
	},
	idUnknown: async (d) => ({ get: await d.outcome(() => d.wf.get("never-created")) }),
	idInvalidGet: async (d) => ({ get: await d.outcome(() => d.wf.get("bad id!")) }),
	idGenerated: async (d) => {
		const instance = await d.wf.create();
		const got = await d.wf.get(instance.id);
		return {
			uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(instance.id),
			sameId: got.id === instance.id,
		};
	},
	getExisting: async (d) => {
		const instance = await d.wf.create({ id: "twoSteps--get" });
		await d.settle(instance);
		const got = await d.wf.get("twoSteps--get");
		return { id: got.id, ...(await d.settle(got)) };
	},

	// ── createBatch ─────────────────────────────────────────────────────────────────────────────
	createBatch: async (d) => {
		const instances = await d.wf.createBatch([
			{ id: "twoSteps--b1" },
			{ id: "echo--b2", params: { n: 2 } },
			{ id: "echo--b3", params: [3] },
		]);
		const results = [];
		for (const instance of instances)
			results.push({ id: instance.id, ...(await d.settle(instance)) });
		return { results };
	},
	createBatchEmpty: async (d) => ({ batch: await d.outcome(() => d.wf.createBatch([])) }),
	createBatchRepeatedId: async (d) => {
		let created: string[] = [];
		const batch = await d.outcome(async () => {
			created = (await d.wf.createBatch([{ id: "echo--r1" }, { id: "echo--r1" }])).map((i) => i.id);
		});
		return { batch, created };
	},
	createBatchExistingId: async (d) => {
		await d.settle(await d.wf.create({ id: "echo--taken" }));
		let created: string[] = [];
		const batch = await d.outcome(async () => {
			created = (await d.wf.createBatch([{ id: "echo--fresh" }, { id: "echo--taken" }])).map(
				(i) => i.id,
			);
		});
		return { batch, created };
	},
	createBatchOver100: async (d) => {
		const list = Array.from({ length: 101 }, (_, i) => ({ id: `echo--many-${i}` }));
		return { batch: await d.outcome(() => d.wf.createBatch(list)) };
	},
	createBatchInvalidId: async (d) => ({
		batch: await d.outcome(() => d.wf.createBatch([{ id: "echo--ok" }, { id: "not ok" }])),
	}),

	// ── the object forms of createBatch, and deleteBatch (workers-types 5) ─────────────────────────
	createBatchCount: async (d) => {
		const { created, errors } = await d.wf.createBatch({ count: 3, params: { n: 7 } });
		const ids = created.map((instance) => instance.id);
		const outputs = [];
		for (const instance of created) {
			const { output, ...rest } = await d.settle(instance);
			const { payload, instanceId } = output as { payload: unknown; instanceId: string };
			outputs.push({ ...rest, payload, idMatches: instanceId === instance.id });
		}
		return {
			errors,
			count: ids.length,
			distinct: new Set(ids).size,
			uuids: ids.every((id) => UUID.test(id)),
			outputs,
		};
	},
	createBatchInstances: async (d) => {
		await d.settle(await d.wf.create({ id: "echo--bi-taken" }));
		const { created, errors } = await d.wf.createBatch({
			instances: [
				{ id: "echo--bi-a", params: { n: 1 } },
				{ id: "echo--bi-taken", params: { n: 2 } },
				{ params: { n: 3 } },
				{ id: "echo--bi-a", params: { n: 4 } },
				{ id: "twoSteps--bi-b" },
			],
		});
		const results = [];
		for (const instance of created) {
			const { output, ...rest } = await d.settle(instance);
			const id = UUID.test(instance.id) ? "<generated>" : instance.id;
			results.push({ id, ...rest, payload: (output as { payload?: unknown })?.payload });
		}
		return {
			results,
			errors: errors.map(({ index, id, code }) => ({ index, id, code })),
			messages: errors.map(({ message }) => message),
			taken: (await (await d.wf.get("echo--bi-taken")).status()).output,
		};
	},
	createBatchObjectRefused: async (d) => ({
		invalidId: await d.outcome(() =>
			d.wf.createBatch({ instances: [{ id: "echo--bo-ok" }, { id: "not ok" }] }),
		),
		created: await d.outcome(() => d.wf.get("echo--bo-ok")).then((o) => o === "ok"),
		countOver100: await d.outcome(() => d.wf.createBatch({ count: 101 })),
		countZero: await d.outcome(() => d.wf.createBatch({ count: 0 })),
		noInstances: await d.outcome(() => d.wf.createBatch({ instances: [] })),
		instancesOver100: await d.outcome(() =>
			d.wf.createBatch({
				instances: Array.from({ length: 101 }, (_, i) => ({ id: `echo--bo-${i}` })),
			}),
		),
	}),
	deleteBatchResults: async (d) => {
		for (const id of ["twoSteps--del-1", "echo--del-2"]) await d.settle(await d.wf.create({ id }));
		const { deleted, errors } = await d.wf.deleteBatch([
			"twoSteps--del-1",
			"echo--del-unknown",
			"echo--del-2",
			"twoSteps--del-1",
		]);
		const exists: Record<string, boolean> = {};
		for (const id of ["twoSteps--del-1", "echo--del-2"])
			exists[id] = (await d.outcome(() => d.wf.get(id))) === "ok";
		// A deleted id can be used again.
		const again = await d.wf.create({ id: "twoSteps--del-1" });
		return {
			deleted,
			errors: errors.map(({ id, code }) => ({ id, code })),
			messages: errors.map(({ message }) => message),
			exists,
			again: await d.settle(again),
		};
	},
	deleteBatchRefused: async (d) => ({
		empty: await d.outcome(() => d.wf.deleteBatch([])),
		over100: await d.outcome(() =>
			d.wf.deleteBatch(Array.from({ length: 101 }, (_, i) => `echo--dr-${i}`)),
		),
		invalidId: await d.outcome(() => d.wf.deleteBatch(["echo--dr-ok", "not.valid"])),
	}),

	// ── lifecycle ───────────────────────────────────────────────────────────────────────────────
	statusAfterCreate: async (d) => {
		const instance = await d.create(undefined, "gatedThenStep");
		await d.ran(instance, "held");
		const whileStep = await d.status(instance);
		await d.open(instance, "held");
		return { whileStep, ...(await d.settle(instance)) };
	},
	pauseDuringStep: async (d) => {
		const instance = await d.create(undefined, "gatedThenStep");
		await d.ran(instance, "held");
		await instance.pause();
		const afterPause = await d.status(instance);
		await d.open(instance, "held");
		const paused = await d.until(instance, ["paused"]);
		const lastRan = (await d.counts(instance)).last ?? 0;
		await instance.resume();
		return {
			afterPause,
			paused,
			lastRan,
			...(await d.settle(instance)),
			counts: await d.counts(instance),
		};
	},
	pauseWhileWaitingForEvent: async (d) => {
		const instance = await d.create(undefined, "waitEvent");
		await d.ran(instance, "before");
		await untilWaiting(d, instance);
		await instance.pause();
		const paused = await d.until(instance, ["paused"]);
		await instance.sendEvent({ type: "approval", payload: "while paused" });
		const afterEvent = await d.status(instance);
		const afterRan = (await d.counts(instance)).after ?? 0;
		await instance.resume();
		return {
			paused,
			afterEvent,
			afterRan,
			...(await d.settle(instance)),
			counts: await d.counts(instance),
		};
	},
	resumeNotPaused: async (d) => {
		const instance = await d.create(undefined, "forever");
		await untilWaiting(d, instance);
		const resume = await d.outcome(() => instance.resume());
		await instance.terminate();
		return { resume };
	},
	pauseComplete: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		return { pause: await d.outcome(() => instance.pause()), status: await d.status(instance) };
	},
	terminateRunning: async (d) => {
		const instance = await d.create(undefined, "gatedThenStep");
		await d.ran(instance, "held");
		await instance.terminate();
		const afterTerminate = await instance.status();
		await d.open(instance, "held");
		// The released step's result is dropped and "last" never runs: give it the chance to.
		await sleepWhilePolling(d, instance, 200);
		return {
			afterTerminate: afterTerminate.status,
			error: afterTerminate.error,
			end: await d.status(instance),
			counts: await d.counts(instance),
		};
	},
	terminateSleeping: async (d) => {
		const instance = await d.create(undefined, "forever");
		await untilWaiting(d, instance);
		await instance.terminate();
		return { status: await d.status(instance) };
	},
	terminateTwice: async (d) => {
		const instance = await d.create(undefined, "forever");
		await untilWaiting(d, instance);
		await instance.terminate();
		return { second: await d.outcome(() => instance.terminate()) };
	},
	terminateComplete: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		return {
			terminate: await d.outcome(() => instance.terminate()),
			status: await d.status(instance),
		};
	},
	terminateErrored: async (d) => {
		const instance = await d.create(undefined, "uncaught");
		await d.settle(instance);
		return {
			terminate: await d.outcome(() => instance.terminate()),
			status: await d.status(instance),
		};
	},
	restartComplete: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		await instance.restart();
		await d.ran(instance, "second", 2);
		return { ...(await d.settle(instance)), counts: await d.counts(instance) };
	},
	restartErrored: async (d) => {
		const instance = await d.create(undefined, "nonRetryable");
		await d.settle(instance);
		await instance.restart();
		await d.ran(instance, "doomed", 2);
		return { ...(await d.settle(instance)), counts: await d.counts(instance) };
	},
	restartTerminated: async (d) => {
		const instance = await d.create(undefined, "gatedThenStep");
		await d.ran(instance, "held");
		await instance.terminate();
		await d.open(instance, "held");
		await instance.restart();
		return { ...(await d.settle(instance)), counts: await d.counts(instance) };
	},
	// ── more edges ──────────────────────────────────────────────────────────────────────────────
	badStepInput: async (d) => {
		const { output, ...rest } = await run(d);
		return { ...rest, ...(output as Observation) };
	},
	throwsNonError: (d) => run(d),
	throwsAfterCaught: (d) => run(d),
	sleepZero: (d) => run(d),
	returnsError: (d) => run(d),
	unserializableOutput: (d) => run(d),
	nestedSteps: (d) => run(d),
	parallelRetries: (d) => run(d),
	unmatchedEvent: async (d) => {
		const instance = await d.create();
		await instance.sendEvent({ type: "nobody-waits", payload: 1 });
		return d.settle(instance);
	},
	sendEventUndefinedPayload: async (d) => {
		const instance = await d.create(undefined, "waitEvent");
		await d.ran(instance, "before");
		await instance.sendEvent({ type: "approval", payload: undefined });
		const { output, ...rest } = await d.settle(instance);
		return { ...rest, payload: (output as { payload?: unknown } | undefined)?.payload };
	},
	pauseWhileSleeping: async (d) => {
		// The pause must arrive during the sleep. On a machine too loaded for it to arrive within
		// the sleep, the instance completes first, which proves nothing: then an instance with a
		// sleep twice as long is tried.
		for (let seconds = 1; ; seconds *= 2) {
			const instance = await d.wf.create({
				id: `${d.id("sleepString")}-${seconds}`,
				params: { seconds },
			});
			await d.until(instance, ["running", "waiting"]);
			const pause = await d.outcome(() => instance.pause());
			const paused = await d.until(instance, ["paused", ...FINAL]);
			if (paused !== "paused" && seconds < 4) continue;
			// Paused during the sleep, or before it (still in the first step, which is quick).
			// The sleep ends while paused; nothing continues until resume.
			await sleepWhilePolling(d, instance, seconds * 1000 + 100);
			const stillPaused = await d.status(instance);
			await instance.resume();
			return { pause, paused, stillPaused, ...(await d.settle(instance)) };
		}
	},
	terminateWhilePausing: async (d) => {
		const instance = await d.create(undefined, "gatedThenStep");
		await d.ran(instance, "held");
		await instance.pause();
		const pausing = await d.status(instance);
		await instance.terminate();
		const terminated = await d.status(instance);
		await d.open(instance, "held");
		await sleepWhilePolling(d, instance, 100);
		return { pausing, terminated, end: await d.status(instance), counts: await d.counts(instance) };
	},
	restartWhileWaiting: async (d) => {
		const instance = await d.create(undefined, "gatedThenForever");
		await d.ran(instance, "held");
		await d.open(instance, "held");
		await d.ran(instance, "released");
		await untilWaiting(d, instance);
		await instance.restart();
		await d.ran(instance, "released", 2);
		await untilWaiting(d, instance);
		const afterRestart = await d.status(instance);
		await instance.terminate();
		return { afterRestart, counts: await d.counts(instance) };
	},
	restartRunning: async (d) => {
		const instance = await d.create(undefined, "twoSteps");
		await d.settle(instance);
		await instance.restart();
		await instance.restart();
		return { ...(await d.settle(instance)) };
	},
	createBatchWithoutIds: async (d) => {
		const instances = await d.wf.createBatch([{ params: { n: 1 } }, { params: { n: 2 } }]);
		const ids = new Set(instances.map((i) => i.id));
		const outputs = [];
		for (const instance of instances) outputs.push((await d.settle(instance)).status);
		return { count: instances.length, distinct: ids.size, outputs };
	},
	getStatusOfHandle: async (d) => {
		const created = await d.create({ x: "y" }, "echo");
		const got = await d.wf.get(created.id);
		const viaGet = await d.settle(got);
		return { sameId: got.id === created.id, viaGet, viaCreate: await d.settle(created) };
	},
	parallelSameType: async (d) => {
		const instance = await d.create();
		await instance.sendEvent({ type: "same", payload: 1 });
		await instance.sendEvent({ type: "same", payload: 2 });
		return d.settle(instance);
	},
	createWithRetention: async (d) => {
		const instance = await d.wf.create({
			id: "twoSteps--retention",
			retention: { successRetention: "1 day", errorRetention: 60_000 },
		});
		return d.settle(instance);
	},
	createWithLocationHint: async (d) => ({
		create: await d.outcome(() =>
			d.wf.create({
				id: "echo--location-hint",
				locationHint: "weur",
			} as WorkflowInstanceCreateOptions),
		),
	}),
	paramsTooLarge: async (d) => ({
		create: await d.outcome(() =>
			d.wf.create({ id: "echo--too-large", params: { blob: "x".repeat(1024 * 1024 + 16) } }),
		),
	}),
	sendEventInvalidType: async (d) => {
		const instance = await d.create(undefined, "forever");
		await untilWaiting(d, instance);
		const empty = await d.outcome(() => instance.sendEvent({ type: "", payload: 1 }));
		const long = await d.outcome(() => instance.sendEvent({ type: "t".repeat(101), payload: 1 }));
		const fine = await d.outcome(() => instance.sendEvent({ type: "t".repeat(100), payload: 1 }));
		await instance.terminate();
		return { empty, long, fine };
	},
	paramsUnserializable: async (d) => ({
		create: await d.outcome(() =>
			d.wf.create({ id: "echo--fn-params", params: { fn: () => 1 } as unknown as object }),
		),
	}),
};

/** Waits until nothing is in flight: the instance sleeps or waits (whatever status it reports). */
async function untilWaiting(d: Driver, instance: WorkflowInstance) {
	// Ours reports `waiting` exactly when nothing is in flight. The built-in engine reports
	// `running` throughout, and a wait has no side effect to count: give it a moment to reach it.
	if (d.engine === "ours") await d.until(instance, ["waiting"]);
	else await sleepWhilePolling(d, instance, 50);
}

/** Lets time pass while polling the instance (the runtime only advances time on I/O). */
async function sleepWhilePolling(d: Driver, instance: WorkflowInstance, ms: number) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		await d.status(instance);
		await scheduler.wait(10);
	}
}
