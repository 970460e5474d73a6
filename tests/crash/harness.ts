/// <reference types="node" />
/**
 * Helpers of the crash test: a seeded PRNG, a client for the crash Worker's routes, and the
 * analysis that turns the counter object's execution records and the instances' final statuses
 * into a list of violations (one list per guarantee) and the counts the test prints.
 */
import { type DevServer, isRestartedMidRequest } from "../e2e/wrangler";
import {
	type CounterSummary,
	type CrashOutput,
	type CrashParams,
	DO_STEPS,
	type DoStep,
	type ExecutionRecord,
	FINAL_EVENTS,
	LIMITED_STEPS,
	type LimitedOutput,
	type LimitedParams,
	PREVIOUS,
	REQUEST_ID_HEADER,
	ROLLBACK_ERROR,
	ROLLBACK_STEPS,
	type RollbackParams,
	SCHEDULE,
	type SubscribedEvent,
	type TickOutput,
} from "./protocol";

// ---- randomness ----

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** An integer in [min, max]. */
export function between(random: () => number, min: number, max: number): number {
	return min + Math.floor(random() * (max - min + 1));
}

// ---- the Worker's routes ----

/**
 * How long a request may take: only a ceiling. A batch of a hundred creates took over 30 s on two
 * cores kept busy by other processes; a request that times out cannot be sent again (whether it
 * took effect is unknown), so the test fails.
 */
const REQUEST_TIMEOUT_MS = 120_000;

/** How many restarts of the Worker one request may run into before the test gives up. */
const MAX_RESTARTS = 3;

/**
 * What to do when a POST ran into a restart of the Worker after the Worker had begun it: find out
 * what took effect and finish the job, or throw. Undefined: throw (it cannot be told).
 */
type Begun<T> = (() => Promise<T>) | undefined;

async function json<T>(
	server: ServerLike,
	path: string,
	body?: unknown,
	begun?: Begun<T>,
): Promise<T> {
	const method = body === undefined ? "GET" : "POST";
	const requestId = crypto.randomUUID();
	for (let restarts = 0; ; restarts++) {
		const init: RequestInit =
			body === undefined
				? {}
				: {
						method,
						headers: { "content-type": "application/json", [REQUEST_ID_HEADER]: requestId },
						body: JSON.stringify(body),
					};
		const { response, text } = await fetch(`${server.url}${path}`, {
			...init,
			signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
		}).then(
			async (response) => ({ response, text: await response.text() }),
			(error: Error) => {
				throw new Error(`${method} ${path}: ${error.message}\n${server.report()}`, {
					cause: error,
				});
			},
		);
		if (response.ok) return JSON.parse(text) as T;
		// wrangler dev's proxy retries GETs across a restart itself, and answers a POST with this.
		if (
			method === "POST" &&
			restarts < MAX_RESTARTS &&
			isRestartedMidRequest(response.status, response.headers, text)
		) {
			if (!(await received(server, requestId))) continue; // it never began: send it again
			if (begun) return begun();
			throw new Error(
				`POST ${path}: the Worker restarted while it ran the request (wrangler dev's 503), after it had begun; whether it took effect cannot be told, so it is not sent again\n${server.report()}`,
			);
		}
		throw new Error(`${method} ${path}: HTTP ${response.status}: ${text}\n${server.report()}`);
	}
}

/** The part of a DevServer the routes use (a test's fake server stands in for it). */
export type ServerLike = Pick<DevServer, "url" | "report">;

/** Whether the Worker recorded (began) the request of that id. */
async function received(server: ServerLike, requestId: string): Promise<boolean> {
	const answer = await json<{ received: boolean }>(
		server,
		`/counters/received?id=${encodeURIComponent(requestId)}`,
	);
	return answer.received;
}

export const bootOf = (server: ServerLike) =>
	json<{ boot: string }>(server, "/boot").then((answer) => answer.boot);

export const summary = (server: ServerLike) => json<CounterSummary>(server, "/counters/summary");

/** The scheduled workflow's schedules (the scheduler answers once it has started). */
export const schedules = (server: ServerLike) =>
	json<{ cron: string; paused: boolean; nextRunAt: string | number | null }[]>(
		server,
		"/schedules",
	);

export const records = (server: ServerLike) => json<ExecutionRecord[]>(server, "/counters/records");

/** The Worker's workflows: the crash workflow (the default), the rollback and the batch workflows. */
export type WorkflowName = "crash" | "rollback" | "batch" | "limited" | "scheduled";

/** The query that names a workflow in a route under /instances. */
const of = (workflow: WorkflowName) => (workflow === "crash" ? "" : `?workflow=${workflow}`);
/**
 * Creates the instances (one createBatch). Their ids are explicit, so a batch the Worker began
 * before it restarted is finished by checking which exist and creating the others; an "already
 * exists" for one of those counts as created once the instance is seen to exist.
 */
export function create(
	server: ServerLike,
	list: { id: string; params: CrashParams | RollbackParams | LimitedParams }[],
	workflow: WorkflowName = "crash",
): Promise<{ created: string[] }> {
	const finish = async () => {
		for (let round = 0; round < MAX_RESTARTS; round++) {
			const found = new Set(
				(
					await exists(
						server,
						list.map(({ id }) => id),
						workflow,
					)
				)
					.filter((f) => f.exists)
					.map((f) => f.id),
			);
			const missing = list.filter(({ id }) => !found.has(id));
			if (missing.length === 0) return { created: list.map(({ id }) => id) };
			const done = await json(server, `/instances${of(workflow)}`, missing, finish).then(
				() => true,
				(error: Error) => {
					if (/already exists/.test(error.message)) return false; // check again
					throw error;
				},
			);
			if (done) return { created: list.map(({ id }) => id) };
		}
		throw new Error(
			`POST /instances: could not finish the batch after a restart\n${server.report()}`,
		);
	};
	return json<{ created: string[] }>(server, `/instances${of(workflow)}`, list, finish);
}

/** What createBatch's object forms answer (ids of the instances created, and the errors). */
export interface BatchAnswer {
	created: string[];
	errors: { index: number; id?: string; code: number; message: string }[];
}

/** createBatch's object form, `{ instances }` or `{ count, params }`; not sent again after a restart. */
export function createBatch(
	server: ServerLike,
	workflow: WorkflowName,
	options: { instances: { id: string; params: unknown }[] } | { count: number; params: unknown },
) {
	return json<BatchAnswer>(server, `/instances/batch${of(workflow)}`, options);
}

/** A rollback step of an instance's history, as the history route answers. */
export interface RollbackStepHistory {
	name: string;
	state: string;
	attempts: number;
	interruptedAttempts: number;
}

/** The rollback steps of an instance's history (read only). */
export function rollbackHistory(server: ServerLike, workflow: WorkflowName, id: string) {
	return json<RollbackStepHistory[]>(
		server,
		`/instances/history?workflow=${workflow}&id=${encodeURIComponent(id)}`,
	);
}

/**
 * A subscriber of one instance's events (`instance.subscribe()` through the Worker's subscribe
 * route), as a client that keeps its cursor would be: each connection reads events as they come
 * until the subscription ends or the connection breaks (a kill); the next one starts after the
 * last event it read whole.
 */
export class Subscriber {
	readonly events: SubscribedEvent[] = [];
	/** Connections opened with a cursor: resumptions after a cut. */
	resumed = 0;
	/** Why each connection that broke broke. */
	readonly breaks: string[] = [];
	done = false;

	constructor(
		readonly workflow: WorkflowName,
		readonly id: string,
	) {}

	get cursor(): number | undefined {
		return this.events.at(-1)?.eventId;
	}

	/** One connection: reads until the subscription ends (resolves) or the connection breaks (rejects). */
	async follow(server: ServerLike): Promise<void> {
		const cursor = this.cursor;
		if (cursor !== undefined) this.resumed++;
		const query = `workflow=${this.workflow}&id=${encodeURIComponent(this.id)}`;
		const response = await fetch(
			`${server.url}/instances/subscribe?${query}${cursor === undefined ? "" : `&cursor=${cursor}`}`,
		);
		if (!response.ok || !response.body) {
			throw new Error(`subscribe ${this.id}: HTTP ${response.status}: ${await response.text()}`);
		}
		const decoder = new TextDecoder();
		let buffered = "";
		for await (const chunk of response.body) {
			buffered += decoder.decode(chunk as Uint8Array, { stream: true });
			// Only whole lines: a line cut off by a kill is read again from the cursor.
			for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
				const event = JSON.parse(buffered.slice(0, end)) as SubscribedEvent;
				buffered = buffered.slice(end + 1);
				this.events.push(event);
				if (FINAL_EVENTS.includes(event.type)) this.done = true;
			}
		}
	}

	/** Follows, connecting again after each break, while `live()` holds and the subscription lasts. */
	async keepFollowing(server: ServerLike, live: () => boolean): Promise<void> {
		while (!this.done && live()) {
			await this.follow(server).catch((error: Error) => {
				this.breaks.push(error.message);
			});
			if (!this.done && live()) await new Promise((resolve) => setTimeout(resolve, 250));
		}
	}
}

/** Sends events. Not idempotent: a request the Worker began before it restarted is not sent again. */
export function sendEvents(
	server: ServerLike,
	list: { id: string; type: string; payload: { pid: string } }[],
) {
	return json<{ sent: number }>(server, "/instances/events", list);
}

export interface InstanceStatusAnswer {
	id: string;
	status: string;
	output?: CrashOutput | LimitedOutput | TickOutput;
	error?: { name: string; message: string };
}

export function createOneByOne(server: ServerLike, list: { id: string; params: CrashParams }[]) {
	return json<{ created: string[] }>(server, "/instances/one-by-one", list);
}

/** Whether each exists (read only: sent again after any restart). */
export function exists(
	server: ServerLike,
	ids: string[],
	workflow: WorkflowName = "crash",
): Promise<{ id: string; exists: boolean }[]> {
	return json(server, `/instances/exists${of(workflow)}`, ids, () => exists(server, ids, workflow));
}

/** Every instance the listing shows (it asks unfinished instances, so only after the checks above). */
export function listed(server: ServerLike, workflow: WorkflowName = "crash") {
	return json<{ id: string; status: string }[]>(server, `/instances/listed${of(workflow)}`);
}

/** Pauses each; answers which were paused (an instance that had finished is not). */
export function pause(server: ServerLike, ids: string[]) {
	return json<{ id: string; paused: boolean; status: string }[]>(server, "/instances/pause", ids);
}

export function resume(server: ServerLike, ids: string[]) {
	return json<{ resumed: number }>(server, "/instances/resume", ids);
}

/** Statuses (read only: sent again after any restart). */
export function statuses(
	server: ServerLike,
	ids: string[],
	workflow: WorkflowName = "crash",
): Promise<InstanceStatusAnswer[]> {
	return json(server, `/instances/status${of(workflow)}`, ids, () =>
		statuses(server, ids, workflow),
	);
}

// ---- analysis ----

export interface Planned {
	id: string;
	params: CrashParams;
	/** Payload ids of the events sent to it, by type, in the order sent. */
	sent: { early: string[]; late: string[] };
}

export interface Analysis {
	/** Violations, by guarantee: each list must be empty. */
	problems: {
		finalState: string[];
		exactlyOnceResults: string[];
		atLeastOnce: string[];
		replayConsistency: string[];
		durableAttempts: string[];
		durableTimers: string[];
		events: string[];
	};
	counts: {
		attemptsStarted: number;
		plannedFailures: number;
		/** Attempts started and never finished: cut off by a kill or a stop. */
		cutOffAttempts: number;
		/** Steps (instance × step) that had at least one attempt cut off, then ran again. */
		rerunSteps: number;
		/** Attempts whose callback completed but whose result the kill kept from the journal (they ran again). */
		completedNotJournaled: number;
		/** Records written in the last runtime lifetime, which nothing but alarms could cause. */
		recordsAfterLastRestart: number;
		instancesWokenAfterLastRestart: number;
		eventsDelivered: number;
	};
}

/** Allowed early wake-up of a timer, in ms (clock reads in different objects, timer rounding). */
const TIMER_SLACK_MS = 50;

/**
 * Checks the guarantees of docs/guarantees.md against what happened.
 * @param boots the boot ids of the runtime's lifetimes, in order; the last one was never killed.
 */
export function analyse(
	plan: Planned[],
	all: ExecutionRecord[],
	answers: InstanceStatusAnswer[],
	boots: string[],
): Analysis {
	const problems: Analysis["problems"] = {
		finalState: [],
		exactlyOnceResults: [],
		atLeastOnce: [],
		replayConsistency: [],
		durableAttempts: [],
		durableTimers: [],
		events: [],
	};
	const counts: Analysis["counts"] = {
		attemptsStarted: 0,
		plannedFailures: 0,
		cutOffAttempts: 0,
		rerunSteps: 0,
		completedNotJournaled: 0,
		recordsAfterLastRestart: 0,
		instancesWokenAfterLastRestart: 0,
		eventsDelivered: 0,
	};
	const bootIndex = new Map(boots.map((boot, index) => [boot, index]));
	const lastBoot = boots.length - 1;
	// Node 20 has no Map.groupBy.
	const byInstance = new Map<string, ExecutionRecord[]>();
	for (const record of all) {
		const list = byInstance.get(record.instance);
		if (list) list.push(record);
		else byInstance.set(record.instance, [record]);
	}
	const statusById = new Map(answers.map((answer) => [answer.id, answer]));
	const delivered = new Map<string, number>();

	const planned = new Set(plan.map(({ id }) => id));
	for (const record of all) {
		if (!planned.has(record.instance)) {
			problems.finalState.push(
				`record #${record.seq} comes from instance ${record.instance}, which does not exist`,
			);
		}
		if (!bootIndex.has(record.boot)) {
			problems.finalState.push(
				`record #${record.seq} comes from an unknown runtime ${record.boot}`,
			);
		}
	}
	for (const { id, params, sent } of plan) {
		const answer = statusById.get(id);
		const mine = byInstance.get(id) ?? [];
		if (mine.some((record) => bootIndex.get(record.boot) === lastBoot)) {
			counts.instancesWokenAfterLastRestart++;
		}
		counts.recordsAfterLastRestart += mine.filter(
			(record) => bootIndex.get(record.boot) === lastBoot,
		).length;
		if (answer?.status !== "complete" || !answer.output) {
			problems.finalState.push(
				`${id}: ${JSON.stringify(answer)} (expected complete with an output)`,
			);
			continue;
		}
		const output = answer.output as CrashOutput;
		const tokenOf = (step: DoStep): string | undefined =>
			step === "finish" ? undefined : output.tokens[step];
		const bySeq = (a: ExecutionRecord, b: ExecutionRecord) => a.seq - b.seq;

		// The finished marker: every completion of the last step recorded the output run() returned.
		const finishes = mine.filter((r) => r.step === "finish" && r.kind === "completed");
		if (finishes.length === 0) problems.finalState.push(`${id}: no finished marker`);
		for (const finish of finishes) {
			if (
				finish.data === null ||
				JSON.stringify(JSON.parse(finish.data)) !== JSON.stringify(output)
			) {
				problems.replayConsistency.push(
					`${id}: finished marker #${finish.seq} recorded ${finish.data}, the instance's output is ${JSON.stringify(output)}`,
				);
			}
		}

		for (const step of DO_STEPS) {
			const recs = mine.filter((r) => r.step === step).sort(bySeq);
			const started = recs.filter((r) => r.kind === "started");
			const outcome = new Map(recs.filter((r) => r.kind !== "started").map((r) => [r.token, r]));
			counts.attemptsStarted += started.length;
			const where = `${id} step "${step}"`;
			const token = tokenOf(step);
			// The journaled attempt: the one whose token run() got; for "finish", its last completion.
			const journaled =
				token === undefined
					? started.findLast((r) => outcome.get(r.token)?.kind === "completed")
					: started.find((r) => r.token === token);
			if (!journaled || outcome.get(journaled.token)?.kind !== "completed") {
				problems.exactlyOnceResults.push(
					`${where}: run() got token ${token}, which no completed attempt produced`,
				);
				continue;
			}
			const journaledBoot = bootIndex.get(journaled.boot) ?? -1;

			let cutOff = 0;
			for (const attempt of started) {
				const end = outcome.get(attempt.token);
				const attemptBoot = bootIndex.get(attempt.boot) ?? -1;
				if (attempt.seq > journaled.seq) {
					problems.exactlyOnceResults.push(
						`${where}: attempt ${attempt.attempt} (record #${attempt.seq}, runtime ${attemptBoot}) started after the attempt whose result was journaled (record #${journaled.seq}, runtime ${journaledBoot})`,
					);
				}
				if (end === undefined) {
					// Cut off: only a kill or a stop may do that, and the step must have run again.
					cutOff++;
					counts.cutOffAttempts++;
					if (attemptBoot === lastBoot) {
						problems.atLeastOnce.push(
							`${where}: attempt ${attempt.attempt} (record #${attempt.seq}) never finished, in the runtime that was never stopped`,
						);
					}
				} else if (end.kind === "completed" && attempt !== journaled) {
					// Completed, yet run() got another attempt's result: the kill must have come between
					// the callback's return and the journal write, in an earlier runtime.
					counts.completedNotJournaled++;
					if (attemptBoot >= journaledBoot) {
						problems.exactlyOnceResults.push(
							`${where}: attempt ${attempt.attempt} (record #${attempt.seq}, runtime ${attemptBoot}) completed, and the step ran again in the same or a later runtime (runtime ${journaledBoot}, record #${journaled.seq})`,
						);
					}
				} else if (end.kind === "failed") {
					counts.plannedFailures++;
				}
				// Each attempt got the previous step's journaled result, whichever runtime replayed it.
				const previous = PREVIOUS[step];
				const expectedPrev = previous === null ? "" : tokenOf(previous);
				if (attempt.prev !== expectedPrev) {
					problems.replayConsistency.push(
						`${where}: attempt ${attempt.attempt} got ${attempt.prev} from step "${previous}", whose journaled result is ${expectedPrev}`,
					);
				}
			}
			if (cutOff > 0) counts.rerunSteps++;

			// The attempt counter is durable before a callback runs: numbers only go up.
			for (let i = 1; i < started.length; i++) {
				const before = started[i - 1];
				const after = started[i];
				if (before && after && after.attempt <= before.attempt) {
					problems.durableAttempts.push(
						`${where}: attempt ${after.attempt} (record #${after.seq}, runtime ${bootIndex.get(after.boot)}) after attempt ${before.attempt} (record #${before.seq}, runtime ${bootIndex.get(before.boot)})`,
					);
				}
			}
			if (step === "flaky") {
				if (journaled.attempt <= params.failures) {
					problems.durableAttempts.push(
						`${where}: succeeded at attempt ${journaled.attempt}, but attempts 1..${params.failures} fail by design`,
					);
				}
				// A retry waits out its delay, across restarts too.
				for (const failure of recs.filter((r) => r.kind === "failed")) {
					const next = started.find((r) => r.seq > failure.seq);
					if (next && next.at - failure.at < params.retryDelayMs - TIMER_SLACK_MS) {
						problems.durableTimers.push(
							`${where}: attempt ${next.attempt} started ${next.at - failure.at} ms after attempt ${failure.attempt} failed; the retry delay is ${params.retryDelayMs} ms`,
						);
					}
				}
			}
		}

		// Sleeps: the step after a sleep never starts before the sleep's end, across restarts too.
		const completedAt = (step: DoStep) =>
			mine.find((r) => r.kind === "completed" && r.token === tokenOf(step))?.at;
		const firstStart = (step: DoStep) =>
			mine.find((r) => r.step === step && r.kind === "started")?.at;
		for (const [before, after, ms, name] of [
			["quick-2", "flaky", params.nap1Ms, "nap-1"],
			["long-2", "quick-3", params.nap2Ms, "nap-2"],
		] as const) {
			const from = completedAt(before);
			const to = firstStart(after);
			if (from !== undefined && to !== undefined && to - from < ms - TIMER_SLACK_MS) {
				problems.durableTimers.push(
					`${id}: "${after}" started ${to - from} ms after "${before}" completed; "${name}" sleeps ${ms} ms`,
				);
			}
		}

		// Events: FIFO per type, each delivered once, none invented.
		const expected = { early1: sent.early[0], late1: sent.late[0], early2: sent.early[1] };
		if (JSON.stringify(output.events) !== JSON.stringify(expected)) {
			problems.events.push(
				`${id}: received ${JSON.stringify(output.events)}, expected ${JSON.stringify(expected)}`,
			);
		}
		for (const pid of Object.values(output.events)) {
			delivered.set(pid, (delivered.get(pid) ?? 0) + 1);
			counts.eventsDelivered++;
		}
	}
	const sentPids = new Set(plan.flatMap(({ sent }) => [...sent.early, ...sent.late]));
	for (const [pid, times] of delivered) {
		if (times !== 1) problems.events.push(`event ${pid} was delivered ${times} times`);
		if (!sentPids.has(pid)) problems.events.push(`event ${pid} was delivered but never sent`);
	}
	for (const pid of sentPids) {
		if (!delivered.has(pid))
			problems.events.push(`event ${pid} was sent (and acknowledged) but never delivered`);
	}
	return { problems, counts };
}

/**
 * The eventIds of the `attempt_started` (and `rollback_attempt_started`) events of attempts that a
 * stop cut off: no event of their end follows. Their timestamps are the ones most at risk of
 * changing after a subscriber read them (the next attempt's start overwrites the step's), so the
 * summary counts how many the subscribers read.
 */
export function cutOffAttemptStarts(events: SubscribedEvent[]): Set<number> {
	const key = (event: SubscribedEvent) =>
		`${event.type.startsWith("rollback_") ? "rollback " : ""}${String(event.stepName)}#${String(event.attempt)}`;
	const ended = new Set(
		events.filter(({ type }) => /attempt_(completed|errored)$/.test(type)).map(key),
	);
	return new Set(
		events
			.filter((event) => /attempt_started$/.test(event.type) && !ended.has(key(event)))
			.map(({ eventId }) => eventId),
	);
}

// ---- the rollback workflow ----

export interface RollbackAnalysis {
	/** Violations, by guarantee: each list must be empty. */
	problems: {
		finalState: string[];
		forwardResults: string[];
		exactlyOnceHandlers: string[];
		reverseOrder: string[];
	};
	counts: {
		/** Runs of handlers started (each records "started"). */
		handlerRuns: number;
		/** Handler runs started and never finished: cut off by a kill or a stop. */
		handlersCutOff: number;
		/** Handler runs that completed, but whose completion a kill kept from the journal (they ran again). */
		completedNotJournaled: number;
		/** Interrupted attempts of rollback steps, as the instances' histories count them. */
		interruptedInHistory: number;
	};
}

/** The handlers in the order they must run: reverse step-start order. */
const HANDLER_ORDER = [...ROLLBACK_STEPS].reverse();

/**
 * Checks the rollback instances: each ended errored with the run's error, after the handlers of
 * its three steps ran in reverse step-start order, each to completion exactly once as journaled
 * (a run cut off by a kill ran again; a run that completed but whose completion a kill kept from
 * the journal ran again, in a later runtime; nothing ran after the journaled completion), each
 * given its step's journaled output and the run's error; the history shows the three rollback
 * steps complete, in that order.
 * @param boots the boot ids of the runtime's lifetimes, in order; the last one was never killed.
 */
export function analyseRollbacks(
	ids: string[],
	all: ExecutionRecord[],
	answers: InstanceStatusAnswer[],
	histories: Map<string, RollbackStepHistory[]>,
	boots: string[],
): RollbackAnalysis {
	const problems: RollbackAnalysis["problems"] = {
		finalState: [],
		forwardResults: [],
		exactlyOnceHandlers: [],
		reverseOrder: [],
	};
	const counts: RollbackAnalysis["counts"] = {
		handlerRuns: 0,
		handlersCutOff: 0,
		completedNotJournaled: 0,
		interruptedInHistory: 0,
	};
	const bootIndex = new Map(boots.map((boot, index) => [boot, index]));
	const lastBoot = boots.length - 1;
	const statusById = new Map(answers.map((answer) => [answer.id, answer]));
	const bySeq = (a: ExecutionRecord, b: ExecutionRecord) => a.seq - b.seq;
	for (const id of ids) {
		const answer = statusById.get(id);
		const expectedError = { name: "NonRetryableError", message: ROLLBACK_ERROR };
		if (
			answer?.status !== "errored" ||
			JSON.stringify(answer.error) !== JSON.stringify(expectedError)
		) {
			problems.finalState.push(
				`${id}: ${JSON.stringify(answer)} (expected errored with ${JSON.stringify(expectedError)})`,
			);
		}
		const history = histories.get(id) ?? [];
		const shown = history.map(({ name, state }) => `${name}:${state}`).join(", ");
		if (shown !== HANDLER_ORDER.map((name) => `${name}:complete`).join(", ")) {
			problems.finalState.push(`${id}: the history's rollback steps are [${shown}]`);
		}
		for (const step of history) counts.interruptedInHistory += step.interruptedAttempts;

		const mine = all.filter((record) => record.instance === id).sort(bySeq);
		for (const record of mine) {
			if (!bootIndex.has(record.boot)) {
				problems.finalState.push(`${id}: record #${record.seq} comes from an unknown runtime`);
			}
		}
		const forwardEnd = Math.max(
			0,
			...mine.filter((r) => r.step.startsWith("fwd:")).map((r) => r.seq),
		);
		let previousJournaled: ExecutionRecord | undefined;
		for (const name of HANDLER_ORDER) {
			const where = `${id} handler "${name}"`;
			const forward = mine.filter((r) => r.step === `fwd:${name}`);
			const handler = mine.filter((r) => r.step === `undo:${name}`);
			const starts = handler.filter((r) => r.kind === "started");
			const completions = handler.filter((r) => r.kind === "completed");
			counts.handlerRuns += starts.length;
			const journaled = completions.at(-1);
			if (!journaled) {
				problems.exactlyOnceHandlers.push(`${where}: never completed`);
				continue;
			}
			const journaledBoot = bootIndex.get(journaled.boot) ?? -1;

			// The output the handler got: "ship" failed, so none; else the token its step's journaled
			// attempt returned, the same on every run (replays return journaled results).
			const completedForward = forward.filter((r) => r.kind === "completed");
			const expectedOutput =
				name === "ship" ? "" : (handler.find((r) => r.kind === "started")?.prev ?? "");
			const source = completedForward.find((r) => r.token === expectedOutput);
			if (name !== "ship" && !source) {
				problems.forwardResults.push(
					`${where}: got output ${expectedOutput}, which no completed attempt of its step returned`,
				);
			}
			if (source) {
				for (const later of forward.filter((r) => r.kind === "started" && r.seq > source.seq)) {
					problems.forwardResults.push(
						`${id} step "${name}": attempt record #${later.seq} started after the attempt whose result was journaled (#${source.seq})`,
					);
				}
			}
			for (const record of handler) {
				if (record.prev !== expectedOutput) {
					problems.forwardResults.push(
						`${where}: record #${record.seq} got output "${record.prev}", another run got "${expectedOutput}"`,
					);
				}
				if (record.data !== ROLLBACK_ERROR) {
					problems.forwardResults.push(
						`${where}: record #${record.seq} got the error "${record.data}", not the run's ("${ROLLBACK_ERROR}")`,
					);
				}
				if (record.seq < forwardEnd) {
					problems.reverseOrder.push(
						`${where}: record #${record.seq} before the forward steps had ended (#${forwardEnd})`,
					);
				}
				if (previousJournaled && record.seq < previousJournaled.seq) {
					problems.reverseOrder.push(
						`${where}: record #${record.seq} before the journaled completion of the handler before it (#${previousJournaled.seq}, "${previousJournaled.step}")`,
					);
				}
			}

			const ended = new Set(completions.map((r) => r.token));
			for (const start of starts) {
				const startBoot = bootIndex.get(start.boot) ?? -1;
				if (start.seq > journaled.seq) {
					problems.exactlyOnceHandlers.push(
						`${where}: a run started (record #${start.seq}, runtime ${startBoot}) after the completion that was journaled (#${journaled.seq}, runtime ${journaledBoot})`,
					);
				}
				if (!ended.has(start.token)) {
					counts.handlersCutOff++;
					if (startBoot === lastBoot) {
						problems.exactlyOnceHandlers.push(
							`${where}: the run of record #${start.seq} never finished, in the runtime that was never stopped`,
						);
					}
				}
			}
			for (const completion of completions) {
				if (completion === journaled) continue;
				counts.completedNotJournaled++;
				if ((bootIndex.get(completion.boot) ?? -1) >= journaledBoot) {
					problems.exactlyOnceHandlers.push(
						`${where}: completed (record #${completion.seq}) and ran again in the same or a later runtime (#${journaled.seq})`,
					);
				}
			}
			previousJournaled = journaled;
		}
	}
	return { problems, counts };
}

// ---- journaled steps of the limited and scheduled workflows ----

/**
 * The exactly-once rules of one journaled step (as `analyse` applies them to the crash workflow's
 * steps): the attempt whose token run() got completed; no attempt started after it; any other
 * attempt that completed did so in an earlier runtime than it (a kill kept its result from the
 * journal); an attempt that never finished was cut off by a stop, never in the last runtime.
 * Returns the violations and how many attempts were cut off.
 */
function journaledStep(
	where: string,
	recs: ExecutionRecord[],
	token: string | undefined,
	bootIndex: Map<string, number>,
	lastBoot: number,
): { problems: string[]; cutOff: number } {
	const problems: string[] = [];
	const started = recs.filter((r) => r.kind === "started").sort((a, b) => a.seq - b.seq);
	const ended = new Map(recs.filter((r) => r.kind !== "started").map((r) => [r.token, r]));
	const journaled = started.find((r) => r.token === token);
	if (!journaled || ended.get(journaled.token)?.kind !== "completed") {
		return {
			problems: [`${where}: run() got token ${token}, which no completed attempt produced`],
			cutOff: 0,
		};
	}
	const journaledBoot = bootIndex.get(journaled.boot) ?? -1;
	let cutOff = 0;
	for (const attempt of started) {
		const boot = bootIndex.get(attempt.boot) ?? -1;
		const end = ended.get(attempt.token);
		if (attempt.seq > journaled.seq) {
			problems.push(
				`${where}: an attempt started (record #${attempt.seq}, runtime ${boot}) after the one whose result was journaled (#${journaled.seq}, runtime ${journaledBoot})`,
			);
		}
		if (end === undefined) {
			cutOff++;
			if (boot === lastBoot) {
				problems.push(
					`${where}: the attempt of record #${attempt.seq} never finished, in the runtime that was never stopped`,
				);
			}
		} else if (attempt !== journaled && end.kind === "completed" && boot >= journaledBoot) {
			problems.push(
				`${where}: completed (record #${end.seq}, runtime ${boot}) and ran again in the same or a later runtime (#${journaled.seq}, runtime ${journaledBoot})`,
			);
		}
	}
	return { problems, cutOff };
}

// ---- the limited workflow ----

export interface LimitedAnalysis {
	problems: {
		finalState: string[];
		exactlyOnce: string[];
		/** Moments at which more instances than the limit were inside a step. */
		overLimit: string[];
	};
	counts: {
		attemptsStarted: number;
		cutOff: number;
		/** The most instances inside a step at once. */
		maxInside: number;
		/**
		 * For each stop (by index), the instances created before it that had not started a step
		 * when it came (queued, or admitted and not yet started), all of which started later.
		 */
		notStartedAtStop: number[];
	};
}

/**
 * Checks the limited-workflow instances: each complete, with the tokens of attempts that
 * completed (exactly once as journaled), and never more than `limit` of them inside a step at
 * once. The records are taken in the counter object's order (seq); an attempt a stop cut off has
 * no end record and is taken to end with its runtime, i.e. before the first record of a later
 * runtime (a killed runtime records nothing more).
 * @param createdIn the lifetime each instance was created in.
 */
export function analyseLimited(
	createdIn: Map<string, number>,
	all: ExecutionRecord[],
	answers: InstanceStatusAnswer[],
	boots: string[],
	limit: number,
): LimitedAnalysis {
	const problems: LimitedAnalysis["problems"] = { finalState: [], exactlyOnce: [], overLimit: [] };
	const counts: LimitedAnalysis["counts"] = {
		attemptsStarted: 0,
		cutOff: 0,
		maxInside: 0,
		notStartedAtStop: boots.slice(1).map(() => 0),
	};
	const bootIndex = new Map(boots.map((boot, index) => [boot, index]));
	const lastBoot = boots.length - 1;
	const statusById = new Map(answers.map((answer) => [answer.id, answer]));
	const mine = all
		.filter((r) => (LIMITED_STEPS as readonly string[]).includes(r.step))
		.sort((a, b) => a.seq - b.seq);
	for (const record of mine) {
		if (!createdIn.has(record.instance)) {
			problems.finalState.push(`record #${record.seq}: unknown instance ${record.instance}`);
		}
	}
	for (const [id, lifetime] of createdIn) {
		const answer = statusById.get(id);
		const output = answer?.output as LimitedOutput | undefined;
		if (answer?.status !== "complete" || !output?.tokens) {
			problems.finalState.push(`${id}: ${JSON.stringify(answer)} (expected complete)`);
			continue;
		}
		const recs = mine.filter((r) => r.instance === id);
		for (const step of LIMITED_STEPS) {
			const stepRecs = recs.filter((r) => r.step === step);
			counts.attemptsStarted += stepRecs.filter((r) => r.kind === "started").length;
			const { problems: found, cutOff } = journaledStep(
				`${id} step "${step}"`,
				stepRecs,
				output.tokens[step],
				bootIndex,
				lastBoot,
			);
			problems.exactlyOnce.push(...found);
			counts.cutOff += cutOff;
		}
		const firstStart = recs.find((r) => r.kind === "started");
		const firstBoot = firstStart ? (bootIndex.get(firstStart.boot) ?? -1) : -1;
		// Stop k ends runtime k: an instance created in a runtime up to k that started in a later one.
		for (let stop = lifetime; stop < counts.notStartedAtStop.length; stop++) {
			if (firstBoot > stop)
				counts.notStartedAtStop[stop] = (counts.notStartedAtStop[stop] ?? 0) + 1;
		}
	}

	// Who is inside a step, record by record.
	const inside = new Map<string, string>(); // token -> instance
	const openedIn = new Map<string, number>(); // token -> runtime
	let runtime = 0;
	for (const record of mine) {
		const boot = bootIndex.get(record.boot) ?? -1;
		if (boot > runtime) {
			// A later runtime: whatever the earlier ones left open was cut off by their stops.
			for (const [token, opened] of openedIn) {
				if (opened < boot) {
					inside.delete(token);
					openedIn.delete(token);
				}
			}
			runtime = boot;
		}
		if (record.kind === "started") {
			inside.set(record.token, record.instance);
			openedIn.set(record.token, boot);
		} else {
			inside.delete(record.token);
			openedIn.delete(record.token);
		}
		const instances = new Set(inside.values());
		counts.maxInside = Math.max(counts.maxInside, instances.size);
		if (instances.size > limit) {
			problems.overLimit.push(
				`at record #${record.seq} (runtime ${boot}), ${instances.size} instances inside a step: ${[...instances].sort().join(", ")}`,
			);
		}
	}
	return { problems, counts };
}

// ---- the scheduled workflow ----

export interface TickAnalysis {
	problems: {
		finalState: string[];
		exactlyOnce: string[];
		/** Ticks with no instance that no restart explains, and more catch-up runs than one. */
		ticks: string[];
	};
	counts: {
		ticks: number;
		cutOff: number;
		/** Ticks before their runtime came up (fired or run late, after a stop), by runtime. */
		late: number[];
		/** Ticks skipped in a downtime (a later one was its catch-up run). */
		skipped: number;
	};
}

const MINUTE = 60_000;

/**
 * Checks the instances of the every-minute schedule: each complete, its id `<cron>-<T>` and its
 * `event.schedule` `{ cron, scheduledTime: T }` with T on a minute, its step run to completion
 * exactly once as journaled. Between the first and the last tick every minute has its instance,
 * except ticks missed while no runtime was up: a minute T may lack one only if the next tick's
 * instance first ran in a runtime that came up after T (its catch-up run). A runtime runs at
 * most one tick that fell wholly in the downtime before it (`(stop, up)`: the one catch-up run),
 * and at most one more from before the stop (a tick due or pending when it came).
 * @param ups when each runtime was up (Node's clock, the Worker's too); `stops`, when each stopped.
 */
export function analyseTicks(
	ids: string[],
	all: ExecutionRecord[],
	answers: InstanceStatusAnswer[],
	boots: string[],
	ups: number[],
	stops: number[],
): TickAnalysis {
	const problems: TickAnalysis["problems"] = { finalState: [], exactlyOnce: [], ticks: [] };
	const counts: TickAnalysis["counts"] = {
		ticks: ids.length,
		cutOff: 0,
		late: boots.map(() => 0),
		skipped: 0,
	};
	const bootIndex = new Map(boots.map((boot, index) => [boot, index]));
	const lastBoot = boots.length - 1;
	const statusById = new Map(answers.map((answer) => [answer.id, answer]));
	const firstBootOf = new Map<number, number>();
	const times: number[] = [];
	for (const id of ids) {
		const answer = statusById.get(id);
		const output = answer?.output as TickOutput | undefined;
		const match = /^(.+)-(\d+)$/.exec(id);
		const time = Number(match?.[2]);
		if (match?.[1] !== SCHEDULE || time % MINUTE !== 0) {
			problems.finalState.push(`${id}: not the id of a tick of "${SCHEDULE}" on a minute`);
			continue;
		}
		if (answer?.status !== "complete" || !output) {
			problems.finalState.push(`${id}: ${JSON.stringify(answer)} (expected complete)`);
			continue;
		}
		if (
			JSON.stringify(output.schedule) !== JSON.stringify({ cron: SCHEDULE, scheduledTime: time })
		) {
			problems.finalState.push(`${id}: event.schedule was ${JSON.stringify(output.schedule)}`);
		}
		const recs = all.filter((r) => r.instance === id && r.step === "tick");
		for (const record of recs) {
			if (record.data !== JSON.stringify(output.schedule)) {
				problems.finalState.push(`${id}: record #${record.seq} saw event.schedule ${record.data}`);
			}
		}
		const { problems: found, cutOff } = journaledStep(
			`${id} step "tick"`,
			recs,
			output.token,
			bootIndex,
			lastBoot,
		);
		problems.exactlyOnce.push(...found);
		counts.cutOff += cutOff;
		const first = recs.sort((a, b) => a.seq - b.seq)[0];
		const boot = first ? (bootIndex.get(first.boot) ?? -1) : -1;
		firstBootOf.set(time, boot);
		times.push(time);
		if (boot >= 0 && time < (ups[boot] ?? 0)) counts.late[boot] = (counts.late[boot] ?? 0) + 1;
	}
	times.sort((a, b) => a - b);
	for (let i = 1; i < times.length; i++) {
		const before = times[i - 1] as number;
		const after = times[i] as number;
		const boot = firstBootOf.get(after) ?? -1;
		for (let missed = before + MINUTE; missed < after; missed += MINUTE) {
			if (missed < (ups[boot] ?? Number.NEGATIVE_INFINITY)) counts.skipped++;
			else {
				problems.ticks.push(
					`no instance for the tick at ${new Date(missed).toISOString()}, though runtime ${boot}, which ran the next one (${new Date(after).toISOString()}), was up before it (${new Date(ups[boot] ?? 0).toISOString()})`,
				);
			}
		}
	}
	for (let boot = 1; boot < boots.length; boot++) {
		const up = ups[boot] ?? 0;
		const stop = stops[boot - 1] ?? 0;
		const late = times.filter((t) => firstBootOf.get(t) === boot && t < up);
		const inDowntime = late.filter((t) => t > stop);
		if (inDowntime.length > 1 || late.length - inDowntime.length > 1) {
			problems.ticks.push(
				`runtime ${boot} ran ${late.length} ticks from before it came up (${inDowntime.length} of them after the stop before it): ${late.map((t) => new Date(t).toISOString()).join(", ")}`,
			);
		}
	}
	return { problems, counts };
}
