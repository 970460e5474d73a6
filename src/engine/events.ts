/**
 * The instance's events, as `instance.subscribe()` delivers them (workers-types 5's
 * `WorkflowInstanceEvent`), derived from the journal: the instance row, the steps (with their
 * config, when not the default), their failed attempts (with the delay chosen before the next),
 * the rollback handlers' rows, and the status changes that these rows do not tell (a wait, a
 * pause, a resume, a place in a concurrency limit's queue), which the journal keeps for their
 * events only (Journal.setStatus). Nothing else is stored for them.
 *
 * Each event's `eventId` is its place in the journal (the layout: event-ids.ts), so the same
 * journal always gives the same ids, across restarts of the engine object and the runtime:
 *
 * - position 0: `workflow_queued`, `workflow_started`, `workflow_running` (as the run first
 *   starts), with the status changes before the first start (paused while queued) after the first;
 * - the step at journal position `seq`: `rollback_started` (on the first rollback handler's row
 *   only), the step's start (`step_started`, `sleep_started`, `wait_started`,
 *   `rollback_step_started`), each attempt's start and end, and the step's end;
 * - after the last step: `rollback_completed` / `rollback_errored` (if handlers ran), then the
 *   final event (`workflow_completed`, `workflow_errored`, `workflow_terminated`);
 * - each status change (`workflow_running`, `workflow_waiting`, `workflow_waiting_for_pause`,
 *   `workflow_paused`, `workflow_queued`) right after the latest event the instance had as it
 *   happened: of the first step not ended, in journal order (`workflow_waiting` after the
 *   `sleep_started` of the sleep it waits for, `workflow_waiting_for_pause` after the
 *   `attempt_started` of the attempt in flight), or in the gap after the last step if every step
 *   had ended (`workflow_paused` after the step that the pause waited for, `workflow_running`
 *   after a resume, before the next step's events). `rollingBack` has no event type.
 *
 * Events are delivered in id order, and a step's events wait until every step started before it
 * has ended (steps run concurrently only when `run()` does not await them one by one): delivery
 * stops at the latest event of the first step not ended, and the status changes after it. A new
 * event, a step's or a status change's, always comes after that, so an id once passed never gains
 * an event before it, and a cursor (the last id a subscriber saw) misses nothing and repeats
 * nothing. Once the instance is finished, everything is delivered.
 */
import {
	DEFAULT_BACKOFF,
	DEFAULT_RETRY_DELAY_MS,
	DEFAULT_RETRY_LIMIT,
	DEFAULT_STEP_TIMEOUT_MS,
} from "../limits.js";
import {
	attemptEnd,
	attemptStart,
	EndPoint,
	eventId,
	latestPoint,
	Point,
	positionOf,
	StartPoint,
} from "./event-ids.js";
import { REDACTED } from "./history.js";
import type {
	CutAttemptRow,
	FailedAttemptRow,
	InstanceRow,
	Journal,
	StatusEventRow,
	StepRow,
} from "./journal.js";
import { isFinal, Status } from "./status.js";
import { StepState } from "./steps.js";

type InstanceEvent = WorkflowInstanceEvent;
type EventType = WorkflowInstanceEventType;

/** Every event type of workers-types 5, which `filter` may name. */
export const EVENT_TYPES: readonly EventType[] = [
	"workflow_queued",
	"workflow_started",
	"workflow_running",
	"workflow_paused",
	"workflow_waiting_for_pause",
	"workflow_waiting",
	"workflow_completed",
	"workflow_errored",
	"workflow_terminated",
	"step_started",
	"step_completed",
	"step_errored",
	"attempt_started",
	"attempt_completed",
	"attempt_errored",
	"sleep_started",
	"sleep_completed",
	"wait_started",
	"wait_completed",
	"wait_timed_out",
	"rollback_started",
	"rollback_step_started",
	"rollback_step_completed",
	"rollback_step_errored",
	"rollback_attempt_started",
	"rollback_attempt_completed",
	"rollback_attempt_errored",
	"rollback_completed",
	"rollback_errored",
];

/** The event of each status change the journal keeps (Journal.setStatus). */
const STATUS_EVENT: Partial<Record<Status, EventType>> = {
	[Status.Queued]: "workflow_queued",
	[Status.Running]: "workflow_running",
	[Status.Waiting]: "workflow_waiting",
	[Status.Paused]: "workflow_paused",
	[Status.WaitingForPause]: "workflow_waiting_for_pause",
};

/** What a page of events holds. */
export interface EventPageRequest {
	/** The id of the last event already seen; from the first event without it. */
	after?: number;
	/** Only events of these types; all without it. */
	filter?: EventType[];
	/** At most this many events. */
	limit: number;
	/** Step outputs, params and the workflow's output together stay within this (bytes), past the first event. */
	pageBytes: number;
	/** Wait up to this long (ms) for a first event when none is there yet (the engine's to apply). */
	waitMs?: number;
}

/** A page of events, as the engine answers it. */
export interface EventPage {
	events: InstanceEvent[];
	/** The id read up to (events filtered out included): the `after` of the next page. */
	cursor: number;
	/** Nothing more is there now: the next page waits for the journal to change. */
	caughtUp: boolean;
	/** The final event has been read: no event follows, ever. */
	ended: boolean;
}

/** How many journal rows a page reads at most (a filter may skip all of them). */
const ROWS_PER_PAGE = 256;

/**
 * The page of events after `request.after`, or undefined if there is no instance. `size` measures
 * a value (its structured-clone size).
 */
export function eventPage(
	journal: Journal,
	request: EventPageRequest,
	size: (value: unknown) => number,
): EventPage | undefined {
	const instance = journal.instance();
	if (!instance) return undefined;
	const after = request.after ?? -1;
	const filter = request.filter && new Set(request.filter);
	const events: InstanceEvent[] = [];
	let cursor = after;
	let bytes = 0;
	let full = false;
	/** Offers the event of id `id`; false once the page is full (the event is left for the next). */
	const offer = (
		id: number,
		make: () => InstanceEvent,
		measured?: (event: InstanceEvent) => unknown,
	): boolean => {
		if (id <= after) return true;
		if (full) return false;
		const event = make();
		if (filter && !filter.has(event.type)) {
			cursor = id;
			return true;
		}
		const cost = measured ? size(measured(event)) : 0;
		if (events.length >= request.limit || (events.length > 0 && bytes + cost > request.pageBytes)) {
			full = true;
			return false;
		}
		bytes += cost;
		events.push(event);
		cursor = id;
		return true;
	};
	const common = (id: number, timestamp: number | null) => ({
		instanceId: instance.id,
		eventId: id,
		timestamp: timestamp ?? instance.updatedAt,
	});
	const final = isFinal(instance.status);
	const result = (caughtUp: boolean, ended = false): EventPage => ({
		events,
		cursor,
		caughtUp: caughtUp && !full,
		ended: ended && !full,
	});

	// The status changes kept, merged in id order: each is offered before the first event after it.
	const statuses: StatusEventRow[] = [];
	let loaded = after + 1;
	/** Offers the status changes with ids below `before`; false once the page is full. */
	const flush = (before: number): boolean => {
		if (before > loaded) {
			statuses.push(...journal.statusEventsBetween(loaded, before));
			loaded = before;
		}
		for (;;) {
			const status = statuses[0];
			if (status === undefined || status.id >= before) return true;
			const type = STATUS_EVENT[status.status] ?? "workflow_running";
			if (!offer(status.id, () => ({ ...common(status.id, status.at), type }) as InstanceEvent))
				return false;
			statuses.shift();
		}
	};
	/** Offers the status changes before `id`, then the event of `id`. */
	const emit: Emit["offer"] = (id, make, measured) => flush(id) && offer(id, make, measured);

	if (!emit(0, () => ({ ...common(0, instance.createdAt), type: "workflow_queued" })))
		return result(false);
	const started = eventId(0, StartPoint.Started);
	if (instance.startedAt === null && !final) return result(flush(started));
	if (
		!emit(
			started,
			() => ({
				...common(started, instance.startedAt ?? instance.createdAt),
				type: "workflow_started",
				params: journal.params(),
			}),
			(event) => ("params" in event ? event.params : undefined),
		)
	)
		return result(false);
	const running = eventId(0, StartPoint.Running);
	if (
		!emit(running, () => ({
			...common(running, instance.startedAt ?? instance.createdAt),
			type: "workflow_running",
		}))
	)
		return result(false);

	const firstRollback = journal.firstRollbackSeq();
	let seq = Math.max(1, positionOf(Math.max(after, 0)));
	let read = 0;
	let lastSeq = 0;
	for (;;) {
		const rows = journal.stepsFrom(seq, Math.min(64, ROWS_PER_PAGE - read));
		const first = rows[0];
		if (!first) break;
		const last = rows.at(-1)?.seq ?? 0;
		const failed = byAttempt(journal.failedAttemptsBetween(first.seq, last));
		const cut = byAttempt(journal.cutAttemptsBetween(first.seq, last));
		// The status changes of these steps, read at once.
		if (!flush(eventId(first.seq, Point.Gap))) return result(false);
		if (loaded < eventId(last + 1, Point.Gap)) {
			statuses.push(...journal.statusEventsBetween(loaded, eventId(last + 1, Point.Gap)));
			loaded = eventId(last + 1, Point.Gap);
		}
		for (const row of rows) {
			read += 1;
			lastSeq = row.seq;
			const attempts = { failed: failed.get(row.seq), cut: cut.get(row.seq) };
			const done = stepEvents(row, attempts, row.seq === firstRollback, {
				journal,
				offer: emit,
				common,
			});
			if (!done) return result(false);
			if (!final && row.state !== StepState.Done && row.state !== StepState.Failed)
				// The step has not ended: its events so far, and the status changes after them.
				return result(flush(eventId(row.seq, latestPoint(row) + 1)));
		}
		seq = lastSeq + 1;
		if (read >= ROWS_PER_PAGE) return result(false);
	}
	// Every step has ended: the status changes in the gap after the last one.
	const end = Math.max(lastSeq, journal.lastSeq()) + 1;
	if (!final) return result(flush(eventId(end, EndPoint.Gap + 1)));

	// The instance is finished: its rollback's end, then its own.
	if (firstRollback !== null) {
		const errored = journal.rollbackFailed();
		const id = eventId(end, EndPoint.Rollback);
		if (
			!emit(id, () => ({
				...common(id, instance.endedAt),
				type: errored ? "rollback_errored" : "rollback_completed",
			}))
		)
			return result(false);
	}
	const id = eventId(end, EndPoint.Final);
	if (!emit(id, () => finalEvent(journal, instance, common(id, instance.endedAt)), outputOf))
		return result(false);
	return result(true, true);
}

type EventStepConfig = NonNullable<Extract<InstanceEvent, { type: "step_started" }>["config"]>;

/** A step's config as its start event reports it, from the JSON text stored (step/retry.ts's stepConfigJson). */
function parseEventConfig(json: string | null): EventStepConfig {
	if (json === null)
		return {
			retries: {
				limit: DEFAULT_RETRY_LIMIT,
				delay: DEFAULT_RETRY_DELAY_MS,
				backoff: DEFAULT_BACKOFF,
			},
			timeout: DEFAULT_STEP_TIMEOUT_MS,
		};
	const config = JSON.parse(json) as EventStepConfig;
	// JSON has no Infinity: a limit of Infinity is stored as null.
	if (config.retries.limit === null) config.retries.limit = Number.POSITIVE_INFINITY;
	return config;
}

const outputOf = (event: InstanceEvent): unknown => ("output" in event ? event.output : undefined);

function finalEvent(
	journal: Journal,
	instance: InstanceRow,
	common: { instanceId: string; eventId: number; timestamp: number },
): InstanceEvent {
	if (instance.status === Status.Complete)
		return { ...common, type: "workflow_completed", output: journal.output() };
	if (instance.status === Status.Errored) {
		const error = instance.error ?? { name: "Error", message: "" };
		return {
			...common,
			type: "workflow_errored",
			error: { name: error.name, message: error.message },
		};
	}
	return { ...common, type: "workflow_terminated" };
}

/** Rows of attempts, by step (journal position), then attempt. */
function byAttempt<R extends { seq: number; attempt: number }>(
	rows: R[],
): Map<number, Map<number, R>> {
	const bySeq = new Map<number, Map<number, R>>();
	for (const row of rows) {
		const attempts = bySeq.get(row.seq) ?? new Map<number, R>();
		bySeq.set(row.seq, attempts);
		attempts.set(row.attempt, row);
	}
	return bySeq;
}

interface Emit {
	journal: Journal;
	offer: (
		id: number,
		make: () => InstanceEvent,
		measured?: (event: InstanceEvent) => unknown,
	) => boolean;
	common: (
		id: number,
		timestamp: number | null,
	) => { instanceId: string; eventId: number; timestamp: number };
}

/** Offers step `row`'s events in order; false once the page is full. */
function stepEvents(
	row: StepRow,
	{ failed, cut }: { failed?: Map<number, FailedAttemptRow>; cut?: Map<number, CutAttemptRow> },
	firstRollback: boolean,
	{ journal, offer, common }: Emit,
): boolean {
	// As the product's instance logs name steps: with their counter (`"fetch-1"`, `"fetch-2"`).
	const stepName = `${row.name}-${row.count}`;
	const at = (point: number, timestamp: number | null) =>
		common(eventId(row.seq, point), timestamp);
	const offerAt = (
		point: number,
		make: () => InstanceEvent,
		measured?: (event: InstanceEvent) => unknown,
	) => offer(eventId(row.seq, point), make, measured);
	const { Start, End } = Point;
	if (row.type === "sleep") {
		return (
			offerAt(Start, () => ({
				...at(Start, row.startedAt),
				type: "sleep_started",
				stepName,
				durationMs:
					row.sleepMs ?? Math.max(0, (row.dueAt ?? row.endedAt ?? 0) - (row.startedAt ?? 0)),
			})) &&
			(row.state !== StepState.Done ||
				offerAt(End, () => ({ ...at(End, row.endedAt), type: "sleep_completed", stepName })))
		);
	}
	if (row.type === "wait") {
		return (
			offerAt(Start, () => ({
				...at(Start, row.startedAt),
				type: "wait_started",
				stepName,
				eventType: row.eventType ?? "",
			})) &&
			(row.state !== StepState.Done ||
				offerAt(End, () => ({ ...at(End, row.endedAt), type: "wait_completed", stepName }))) &&
			(row.state !== StepState.Failed ||
				offerAt(End, () => ({ ...at(End, row.endedAt), type: "wait_timed_out", stepName })))
		);
	}
	const rollback = row.type === "rollback";
	if (
		firstRollback &&
		!offerAt(Point.RollbackStarted, () => ({
			...at(Point.RollbackStarted, row.startedAt),
			type: "rollback_started",
		}))
	)
		return false;
	if (
		!offerAt(Start, () => ({
			...at(Start, row.startedAt),
			type: rollback ? "rollback_step_started" : "step_started",
			stepName,
			// Rows older than the config's column do not know it ("?").
			...(row.config === "?" ? {} : { config: parseEventConfig(row.config) }),
		}))
	)
		return false;
	const done = row.state === StepState.Done;
	for (let attempt = 1; attempt <= row.attempts; attempt++) {
		const latest = attempt === row.attempts;
		// The latest attempt failed, but its step is still running: the delay before the next
		// attempt is being chosen (a delay function). Its end comes with that delay.
		const failure = latest && row.state === StepState.Running ? undefined : failed?.get(attempt);
		const startedAt =
			failed?.get(attempt)?.startedAt ??
			(latest ? row.attemptStartedAt : cut?.get(attempt)?.startedAt) ??
			row.startedAt;
		const start = attemptStart(attempt);
		if (
			!offerAt(start, () => ({
				...at(start, startedAt),
				type: rollback ? "rollback_attempt_started" : "attempt_started",
				stepName,
				attempt,
			}))
		)
			return false;
		const end = attemptEnd(attempt);
		if (failure) {
			const error = { name: failure.error.name, message: failure.error.message };
			if (
				!offerAt(end, () => ({
					...at(end, failure.endedAt),
					type: rollback ? "rollback_attempt_errored" : "attempt_errored",
					stepName,
					attempt,
					...(failure.retryDelayMs === null ? {} : { retryDelayMs: failure.retryDelayMs }),
					error,
				}))
			)
				return false;
		} else if (latest && done) {
			if (
				!offerAt(end, () => ({
					...at(end, row.endedAt),
					type: rollback ? "rollback_attempt_completed" : "attempt_completed",
					stepName,
					attempt,
				}))
			)
				return false;
		}
	}
	if (done) {
		return offerAt(
			End,
			() => {
				if (rollback) return { ...at(End, row.endedAt), type: "rollback_step_completed", stepName };
				const output = row.sensitive ? REDACTED : journal.stepOutput(row.seq);
				const event: InstanceEvent = { ...at(End, row.endedAt), type: "step_completed", stepName };
				if (output !== undefined) event.output = output;
				return event;
			},
			outputOf,
		);
	}
	if (row.state === StepState.Failed) {
		const stored = row.error ?? { name: "Error", message: "" };
		return offerAt(End, () =>
			rollback
				? {
						...at(End, row.endedAt),
						type: "rollback_step_errored",
						stepName,
						error: { name: stored.name, message: stored.message },
					}
				: { ...at(End, row.endedAt), type: "step_errored", stepName },
		);
	}
	return true;
}
