/**
 * The instance's events, as `instance.subscribe()` delivers them (workers-types 5's
 * `WorkflowInstanceEvent`), derived from the journal: the instance row, the steps, their failed
 * attempts and the rollback handlers' rows. Nothing else is stored for them.
 *
 * Each event's `eventId` is its place in the journal, so the same journal always gives the same
 * ids, across restarts of the engine object and the runtime:
 *
 * - 0 `workflow_queued`, 1 `workflow_started`, 2 `workflow_running` (as the run first starts);
 * - for the step at journal position `seq`, ids from `seq × 2^32`: slot 0 `rollback_started`
 *   (on the first rollback handler's row only), slot 1 the step's start (`step_started`,
 *   `sleep_started`, `wait_started`, `rollback_step_started`), slots 2n and 2n + 1 its attempt
 *   n's start and end, and the last slot (2^32 − 1) its end;
 * - after the last step, slot 0 `rollback_completed` / `rollback_errored` (if handlers ran) and
 *   slot 1 the final event (`workflow_completed`, `workflow_errored`, `workflow_terminated`).
 *
 * Events are delivered in id order, and a step's events wait until every step started before it
 * has ended (steps run concurrently only when `run()` does not await them one by one): an id
 * once passed never gains an event before it, so a cursor (the last id a subscriber saw) misses
 * nothing and repeats nothing. Once the instance is finished, everything is delivered.
 */
import { REDACTED } from "./history.js";
import type { CutAttemptRow, FailedAttemptRow, InstanceRow, Journal, StepRow } from "./journal.js";
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

/** Ids per journal position (see the module's doc). */
const SLOTS = 2 ** 32;
const LAST_SLOT = SLOTS - 1;

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

	if (!offer(0, () => ({ ...common(0, instance.createdAt), type: "workflow_queued" })))
		return result(false);
	if (instance.startedAt === null && !final) return result(true);
	if (
		!offer(
			1,
			() => ({
				...common(1, instance.startedAt ?? instance.createdAt),
				type: "workflow_started",
				params: journal.params(),
			}),
			(event) => ("params" in event ? event.params : undefined),
		)
	)
		return result(false);
	if (
		!offer(2, () => ({
			...common(2, instance.startedAt ?? instance.createdAt),
			type: "workflow_running",
		}))
	)
		return result(false);

	const firstRollback = journal.firstRollbackSeq();
	let seq = Math.floor(Math.max(after, 0) / SLOTS);
	let read = 0;
	let lastSeq = 0;
	for (;;) {
		const rows = journal.stepsFrom(seq, Math.min(64, ROWS_PER_PAGE - read));
		const first = rows[0];
		if (!first) break;
		const last = rows.at(-1)?.seq ?? 0;
		const failed = byAttempt(journal.failedAttemptsBetween(first.seq, last));
		const cut = byAttempt(journal.cutAttemptsBetween(first.seq, last));
		for (const row of rows) {
			read += 1;
			lastSeq = row.seq;
			const attempts = { failed: failed.get(row.seq), cut: cut.get(row.seq) };
			const done = stepEvents(row, attempts, row.seq === firstRollback, {
				journal,
				offer,
				common,
			});
			if (!done) return result(false);
			if (!final && row.state !== StepState.Done && row.state !== StepState.Failed)
				return result(true);
		}
		seq = lastSeq + 1;
		if (read >= ROWS_PER_PAGE) return result(false);
	}
	if (!final) return result(true);

	// The instance is finished: its rollback's end, then its own.
	const end = Math.max(lastSeq, journal.lastSeq()) + 1;
	if (firstRollback !== null) {
		const errored = journal.rollbackFailed();
		if (
			!offer(end * SLOTS, () => ({
				...common(end * SLOTS, instance.endedAt),
				type: errored ? "rollback_errored" : "rollback_completed",
			}))
		)
			return result(false);
	}
	const id = end * SLOTS + 1;
	if (!offer(id, () => finalEvent(journal, instance, common(id, instance.endedAt)), outputOf))
		return result(false);
	return result(true, true);
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
	const base = row.seq * SLOTS;
	// As the product's instance logs name steps: with their counter (`"fetch-1"`, `"fetch-2"`).
	const stepName = `${row.name}-${row.count}`;
	const at = (slot: number, timestamp: number | null) => common(base + slot, timestamp);
	if (row.type === "sleep") {
		return (
			offer(base + 1, () => ({
				...at(1, row.startedAt),
				type: "sleep_started",
				stepName,
				durationMs:
					row.sleepMs ?? Math.max(0, (row.dueAt ?? row.endedAt ?? 0) - (row.startedAt ?? 0)),
			})) &&
			(row.state !== StepState.Done ||
				offer(base + LAST_SLOT, () => ({
					...at(LAST_SLOT, row.endedAt),
					type: "sleep_completed",
					stepName,
				})))
		);
	}
	if (row.type === "wait") {
		return (
			offer(base + 1, () => ({
				...at(1, row.startedAt),
				type: "wait_started",
				stepName,
				eventType: row.eventType ?? "",
			})) &&
			(row.state !== StepState.Done ||
				offer(base + LAST_SLOT, () => ({
					...at(LAST_SLOT, row.endedAt),
					type: "wait_completed",
					stepName,
				}))) &&
			(row.state !== StepState.Failed ||
				offer(base + LAST_SLOT, () => ({
					...at(LAST_SLOT, row.endedAt),
					type: "wait_timed_out",
					stepName,
				})))
		);
	}
	const rollback = row.type === "rollback";
	if (firstRollback && !offer(base, () => ({ ...at(0, row.startedAt), type: "rollback_started" })))
		return false;
	if (
		!offer(base + 1, () => ({
			...at(1, row.startedAt),
			type: rollback ? "rollback_step_started" : "step_started",
			stepName,
		}))
	)
		return false;
	const done = row.state === StepState.Done;
	for (let attempt = 1; attempt <= row.attempts; attempt++) {
		const failure = failed?.get(attempt);
		const latest = attempt === row.attempts;
		const startedAt =
			failure?.startedAt ??
			(latest ? row.attemptStartedAt : cut?.get(attempt)?.startedAt) ??
			row.startedAt;
		const slot = 2 * attempt;
		if (
			!offer(base + slot, () => ({
				...at(slot, startedAt),
				type: rollback ? "rollback_attempt_started" : "attempt_started",
				stepName,
				attempt,
			}))
		)
			return false;
		if (failure) {
			const error = { name: failure.error.name, message: failure.error.message };
			if (
				!offer(base + slot + 1, () => ({
					...at(slot + 1, failure.endedAt),
					type: rollback ? "rollback_attempt_errored" : "attempt_errored",
					stepName,
					attempt,
					error,
				}))
			)
				return false;
		} else if (latest && done) {
			if (
				!offer(base + slot + 1, () => ({
					...at(slot + 1, row.endedAt),
					type: rollback ? "rollback_attempt_completed" : "attempt_completed",
					stepName,
					attempt,
				}))
			)
				return false;
		}
	}
	if (done) {
		return offer(
			base + LAST_SLOT,
			() => {
				if (rollback)
					return { ...at(LAST_SLOT, row.endedAt), type: "rollback_step_completed", stepName };
				const output = row.sensitive ? REDACTED : journal.stepOutput(row.seq);
				const event: InstanceEvent = {
					...at(LAST_SLOT, row.endedAt),
					type: "step_completed",
					stepName,
				};
				if (output !== undefined) event.output = output;
				return event;
			},
			outputOf,
		);
	}
	if (row.state === StepState.Failed) {
		const stored = row.error ?? { name: "Error", message: "" };
		return offer(base + LAST_SLOT, () =>
			rollback
				? {
						...at(LAST_SLOT, row.endedAt),
						type: "rollback_step_errored",
						stepName,
						error: { name: stored.name, message: stored.message },
					}
				: { ...at(LAST_SLOT, row.endedAt), type: "step_errored", stepName },
		);
	}
	return true;
}
