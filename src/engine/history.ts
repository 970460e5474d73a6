/**
 * An instance's step history, built from its journal: what ran, how often, when, and how it
 * ended. Timestamps are `Date`s (ISO strings once serialised to JSON).
 */
import type { SerializedError } from "../errors.js";
import type { FailedAttemptRow, Journal, StepRow } from "./journal.js";
import { publicStatus } from "./status.js";
import { StepState } from "./steps.js";

/** A failure as the history shows it. */
export interface HistoryError {
	name: string;
	message: string;
}

/** One attempt of a `step.do`. */
export interface AttemptHistory {
	/** 1-based, counting attempts cut off by a crash or an eviction. */
	attempt: number;
	startedAt: Date | null;
	endedAt: Date | null;
	outcome: "success" | "error" | "running";
	error?: HistoryError;
}

interface StepHistoryBase {
	name: string;
	/** Which call of this type and name it is in the run: 1 for the first. */
	index: number;
	startedAt: Date | null;
	endedAt: Date | null;
}

/** A `step.do`. */
export interface DoStepHistory extends StepHistoryBase {
	type: "do";
	state: "pending" | "running" | "retrying" | "complete" | "errored";
	/** The attempts that ended (or are running), in order. Attempts cut off by a crash are counted in `interruptedAttempts`. */
	attempts: AttemptHistory[];
	interruptedAttempts: number;
	/** While retrying: when the next attempt is due. */
	nextAttemptAt: Date | null;
	output?: unknown;
	error?: HistoryError;
}

/** A `step.sleep` or `step.sleepUntil`. */
export interface SleepStepHistory extends StepHistoryBase {
	type: "sleep";
	state: "sleeping" | "complete";
	/** While sleeping: when it ends. */
	wakeAt: Date | null;
}

/** A `step.waitForEvent`. */
export interface WaitStepHistory extends StepHistoryBase {
	type: "waitForEvent";
	state: "waiting" | "complete" | "errored";
	eventType: string;
	/** While waiting: when it times out. */
	timeoutAt: Date | null;
	/** The event it received. */
	event?: { type: string; payload: unknown; timestamp: Date };
	error?: HistoryError;
}

export type StepHistory = DoStepHistory | SleepStepHistory | WaitStepHistory;

/** An instance and every step it met, in the order it met them. */
export interface InstanceHistory {
	id: string;
	workflow: string;
	status: InstanceStatus["status"];
	createdAt: Date;
	startedAt: Date | null;
	endedAt: Date | null;
	params: unknown;
	output?: unknown;
	error?: HistoryError;
	steps: StepHistory[];
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

const shown = (error: SerializedError): HistoryError => ({
	name: error.name,
	message: error.message,
});

/** The history of the instance in `journal`, or undefined if there is none. */
export function instanceHistory(journal: Journal): InstanceHistory | undefined {
	const instance = journal.instance();
	if (!instance) return undefined;
	const failed = new Map<number, FailedAttemptRow[]>();
	for (const attempt of journal.failedAttempts()) {
		const list = failed.get(attempt.seq) ?? [];
		list.push(attempt);
		failed.set(attempt.seq, list);
	}
	const history: InstanceHistory = {
		id: instance.id,
		workflow: instance.workflow,
		status: publicStatus(instance.status),
		createdAt: new Date(instance.createdAt),
		startedAt: date(instance.startedAt),
		endedAt: date(instance.endedAt),
		params: journal.params(),
		steps: journal.steps().map((step) => stepHistory(journal, step, failed.get(step.seq) ?? [])),
	};
	if (history.status === "complete") history.output = journal.output();
	if (instance.error) history.error = shown(instance.error);
	return history;
}

function stepHistory(journal: Journal, step: StepRow, failed: FailedAttemptRow[]): StepHistory {
	const base = {
		name: step.name,
		index: step.count,
		startedAt: date(step.startedAt),
		endedAt: date(step.endedAt),
	};
	const done = step.state === StepState.Done;
	if (step.type === "sleep") {
		return {
			type: "sleep",
			...base,
			state: done ? "complete" : "sleeping",
			wakeAt: date(step.dueAt),
		};
	}
	if (step.type === "wait") {
		const wait: WaitStepHistory = {
			type: "waitForEvent",
			...base,
			state: done ? "complete" : step.state === StepState.Failed ? "errored" : "waiting",
			eventType: step.eventType ?? "",
			timeoutAt: date(step.dueAt),
		};
		if (done) wait.event = journal.stepOutput(step.seq) as WaitStepHistory["event"];
		if (step.error) wait.error = shown(step.error);
		return wait;
	}
	const attempts: AttemptHistory[] = failed.map((attempt) => ({
		attempt: attempt.attempt,
		startedAt: date(attempt.startedAt),
		endedAt: date(attempt.endedAt),
		outcome: "error",
		error: shown(attempt.error),
	}));
	// The latest attempt, if it neither failed nor was cut off: it succeeded, or it is running now.
	const latestFailed = failed.at(-1)?.attempt ?? 0;
	if ((done || step.state === StepState.Running) && step.attempts > latestFailed) {
		attempts.push({
			attempt: step.attempts,
			startedAt: date(step.attemptStartedAt),
			endedAt: done ? date(step.endedAt) : null,
			outcome: done ? "success" : "running",
		});
	}
	const state = done
		? "complete"
		: step.state === StepState.Failed
			? "errored"
			: step.state === StepState.Running
				? "running"
				: step.state === StepState.Retrying
					? "retrying"
					: "pending";
	const result: DoStepHistory = {
		type: "do",
		...base,
		state,
		attempts,
		interruptedAttempts: Math.max(0, step.attempts - attempts.length),
		nextAttemptAt: step.state === StepState.Retrying ? date(step.dueAt) : null,
	};
	if (done) result.output = journal.stepOutput(step.seq);
	if (step.error) result.error = shown(step.error);
	return result;
}
