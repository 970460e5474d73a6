/**
 * An instance's step history, built from its journal: what ran, how often, when, and how it
 * ended. Timestamps are `Date`s (ISO strings once serialised to JSON).
 *
 * Read a page at a time (`historyPage`): a page holds at most `limit` steps and values (step
 * outputs, events received) of at most `maxValueBytes` each, a larger one being replaced by a
 * marker (`outputOmitted`, `eventOmitted`); one step, value included, is read with `historyStep`.
 * A page's values and errors together stay within HISTORY_PAGE_BYTES, so that a page of any
 * instance fits in one RPC answer (32 MiB): 40 steps of 1 MB each do not.
 */
import type { SerializedError } from "../errors.js";
import { HISTORY_PAGE_BYTES } from "../limits.js";
import { serializedSize } from "../serialized-size.js";
import type { FailedAttemptRow, Journal, StepRow } from "./journal.js";
import { publicStatus } from "./status.js";
import { StepState, type StepType } from "./steps.js";

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
	/**
	 * In place of `output` when it is larger than the page's `maxValueBytes`: its size. Read the
	 * step with `getStepHistory` (or `GET …/steps/do/:name/:index`) for the output itself.
	 */
	outputOmitted?: ValueOmitted;
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
	/** In place of `event` when it is larger than the page's `maxValueBytes` (see `outputOmitted`). */
	eventOmitted?: ValueOmitted;
	error?: HistoryError;
}

/** A value left out of a page of history for its size. */
export interface ValueOmitted {
	/**
	 * Its size: of its structured-clone encoding, as the 1 MiB limits measure it; for a step's
	 * `ReadableStream` output, the stream's bytes.
	 */
	bytes: number;
	/** Set for a step's `ReadableStream` output, which the history never shows (run() reads it). */
	stream?: true;
}

/**
 * The rollback handler of a `step.do` (its `name` and `index` are the step's), run as the instance
 * rolled back: its attempts like a step's, no output.
 */
export interface RollbackStepHistory
	extends Omit<DoStepHistory, "type" | "output" | "outputOmitted"> {
	type: "rollback";
}

export type StepHistory = DoStepHistory | SleepStepHistory | WaitStepHistory | RollbackStepHistory;

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
	/** The steps, in order: all of them, or one page (see `cursor`). */
	steps: StepHistory[];
	/** Set by `getInstanceHistory` when more steps follow: pass it back as `cursor` for the next page. */
	cursor?: string;
	/** Set by `getInstanceHistory` for a queued instance: its place in the queue, 1 first. */
	queuePosition?: number;
}

/** What a page of history holds (see the module's doc). */
export interface HistoryPageRequest {
	/** The journal position of the previous page's last step; the first page without it. */
	after?: number;
	/** At most this many steps. */
	limit: number;
	/** Step outputs and events received larger than this (bytes) are left out, with a marker. */
	maxValueBytes: number;
}

/** A page of history, as the engine answers it. */
export interface HistoryPage {
	history: InstanceHistory;
	/** When more steps follow: the `after` of the next page. */
	after?: number;
}

/** One step of the history, as `getStepHistory` names it. */
export interface StepKey {
	type: "do" | "sleep" | "waitForEvent" | "rollback";
	name: string;
	/** Which call of this type and name: 1 for the first. */
	index: number;
}

/** One step, its value included, and the instance's status then. */
export interface StepLookup {
	status: InstanceStatus["status"];
	step: StepHistory | null;
}

/** The history of the journal's types: the journal stores an event wait as "wait". */
const STORED_TYPE: Record<StepKey["type"], StepType> = {
	do: "do",
	sleep: "sleep",
	waitForEvent: "wait",
	rollback: "rollback",
};

/**
 * Values read but left out count too, against this many times a page's budget (a page of a
 * thousand 1 MiB outputs left out would otherwise read a GiB): the page ends once it has read that.
 */
const READS_PER_PAGE = 8;

/**
 * What operators see in place of the output of a step with `sensitive: "output"` (the history,
 * the admin API, the CLI, the dashboard, the test kit's history), as the product shows it.
 */
export const REDACTED = "[REDACTED]";

/** Reads a step's value (output or event) for the history: the value, or its size if too large. */
type ValueReader = (seq: number) => { value: unknown } | { omitted: ValueOmitted };

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

const shown = (error: SerializedError): HistoryError => ({
	name: error.name,
	message: error.message,
});

/** The whole history of the instance in `journal` (every step, every value), or undefined if there is none. */
export function instanceHistory(journal: Journal): InstanceHistory | undefined {
	return historyPage(journal, {
		limit: Number.POSITIVE_INFINITY,
		maxValueBytes: Number.POSITIVE_INFINITY,
		pageBytes: Number.POSITIVE_INFINITY,
	})?.history;
}

/**
 * A page of the history of the instance in `journal` (see the module's doc), or undefined if
 * there is none. A page holds at least one step (if any follow `after`), and stops before the
 * step that would take its values and errors over `pageBytes`.
 */
export function historyPage(
	journal: Journal,
	{
		after = 0,
		limit,
		maxValueBytes,
		pageBytes = HISTORY_PAGE_BYTES,
	}: HistoryPageRequest & {
		pageBytes?: number;
	},
): HistoryPage | undefined {
	const instance = journal.instance();
	if (!instance) return undefined;
	const rows = journal.steps().filter((step) => step.seq > after);
	const failed = new Map<number, FailedAttemptRow[]>();
	for (const attempt of journal.failedAttempts()) {
		if (attempt.seq <= after) continue;
		const list = failed.get(attempt.seq) ?? [];
		list.push(attempt);
		failed.set(attempt.seq, list);
	}
	const steps: StepHistory[] = [];
	let bytes = 0;
	let read = 0;
	let next: number | undefined;
	for (const row of rows) {
		if (steps.length >= limit || (steps.length > 0 && read >= pageBytes * READS_PER_PAGE)) {
			next = steps.length > 0 ? rows[steps.length - 1]?.seq : undefined;
			break;
		}
		let cost = 0;
		const value: ValueReader = (seq) => {
			const chunked = streamOrLarge(journal, seq, maxValueBytes);
			if (chunked) return chunked;
			const stored = journal.stepOutput(seq);
			const size = serializedSize(stored);
			read += size;
			if (size > maxValueBytes) return { omitted: { bytes: size } };
			cost += size;
			return { value: stored };
		};
		const step = stepHistory(row, failed.get(row.seq) ?? [], value);
		cost += errorBytes(step);
		if (steps.length > 0 && bytes + cost > pageBytes) {
			next = rows[steps.length - 1]?.seq;
			break;
		}
		bytes += cost;
		steps.push(step);
	}
	const history: InstanceHistory = {
		id: instance.id,
		workflow: instance.workflow,
		status: publicStatus(instance.status),
		createdAt: new Date(instance.createdAt),
		startedAt: date(instance.startedAt),
		endedAt: date(instance.endedAt),
		params: journal.params(),
		steps,
	};
	if (history.status === "complete") history.output = journal.output();
	if (instance.error) history.error = shown(instance.error);
	return next === undefined ? { history } : { history, after: next };
}

/** One step of the instance in `journal`, its value included; undefined if there is no instance. */
export function historyStep(journal: Journal, ref: StepKey): StepLookup | undefined {
	const instance = journal.instance();
	if (!instance) return undefined;
	const status = publicStatus(instance.status);
	const row = journal.step(STORED_TYPE[ref.type], ref.name, ref.index);
	if (!row) return { status, step: null };
	const failed = journal.failedAttempts().filter((attempt) => attempt.seq === row.seq);
	return {
		status,
		step: stepHistory(
			row,
			failed,
			(seq) =>
				streamOrLarge(journal, seq, Number.POSITIVE_INFINITY) ?? { value: journal.stepOutput(seq) },
		),
	};
}

/**
 * The stored bytes of a step whose output is a `ReadableStream`, as a new stream (what the test
 * kit's `waitForStepResult` resolves with, as the product's does); null if the step has no
 * streamed output (yet), undefined if there is no instance.
 */
export function stepStream(
	journal: Journal,
	ref: StepKey,
): ReadableStream<Uint8Array> | null | undefined {
	if (!journal.instance()) return undefined;
	const row = journal.step(STORED_TYPE[ref.type], ref.name, ref.index);
	if (!row || journal.chunkedOutput(row.seq)?.kind !== "stream") return null;
	return journal.stepOutput(row.seq) as ReadableStream<Uint8Array>;
}

/**
 * The history's marker for a step output stored in chunks that it leaves out: a stream always (it
 * is bytes for run() to read, not a value to show), a structured output over `maxValueBytes`
 * without reading its chunks. Undefined for any other output, read as usual.
 */
function streamOrLarge(
	journal: Journal,
	seq: number,
	maxValueBytes: number,
): { omitted: ValueOmitted } | undefined {
	const chunked = journal.chunkedOutput(seq);
	if (!chunked) return undefined;
	if (chunked.kind === "stream") return { omitted: { bytes: chunked.bytes, stream: true } };
	const size = chunked.size ?? chunked.bytes;
	return size > maxValueBytes ? { omitted: { bytes: size } } : undefined;
}

/** What a step's errors (its own, its failed attempts') weigh on a page. */
function errorBytes(step: StepHistory): number {
	let bytes = step.type === "sleep" || !step.error ? 0 : serializedSize(step.error);
	if (step.type === "do" || step.type === "rollback") {
		for (const attempt of step.attempts) if (attempt.error) bytes += serializedSize(attempt.error);
	}
	return bytes;
}

function stepHistory(step: StepRow, failed: FailedAttemptRow[], value: ValueReader): StepHistory {
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
		if (done) {
			const event = value(step.seq);
			if ("value" in event) wait.event = event.value as WaitStepHistory["event"];
			else wait.eventOmitted = event.omitted;
		}
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
	const common = {
		...base,
		state,
		attempts,
		interruptedAttempts: Math.max(0, step.attempts - attempts.length),
		nextAttemptAt: step.state === StepState.Retrying ? date(step.dueAt) : null,
	} as const;
	if (step.type === "rollback") {
		const rollback: RollbackStepHistory = { type: "rollback", ...common };
		if (step.error) rollback.error = shown(step.error);
		return rollback;
	}
	const result: DoStepHistory = { type: "do", ...common };
	if (done && step.sensitive) result.output = REDACTED;
	else if (done) {
		const output = value(step.seq);
		if ("value" in output) result.output = output.value;
		else result.outputOmitted = output.omitted;
	}
	if (step.error) result.error = shown(step.error);
	return result;
}
