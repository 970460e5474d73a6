/**
 * The layout of the instance events' ids (events.ts), shared by the reader and the journal, which
 * places each status change it records (see Journal.setStatus).
 *
 * An id is `seq × 2^37 + point × 2^10 + sub`:
 *
 * - `seq`, a journal position (a step's row), 0 for the instance's start, and one past the last
 *   step for the instance's end;
 * - `point`, one moment of that position: of a step, 0 the gap before it (nothing of it has
 *   happened yet), 1 `rollback_started`, 2 its start, 2n + 1 and 2n + 2 its attempt n's start and
 *   end, 2^27 − 1 its end; of position 0, 0 `workflow_queued`, 1 `workflow_started`, 2
 *   `workflow_running`; of the end position, 0 the gap after the last step, 1 the rollback's end, 2
 *   the final event;
 * - `sub`, 0 for the point's own event, 1 to 1,023 for the status changes recorded right after it,
 *   in the order they happened.
 *
 * Ids stay exact (within Number.MAX_SAFE_INTEGER) up to position 65,535 (25,000 steps with a
 * rollback handler each) and attempt 67,108,862 of a step.
 */
import { StepState, type StepType } from "./steps.js";

/** Ids per point: its own event, then up to 1,023 status changes. */
export const SUBS = 2 ** 10;
/** Points per journal position. */
export const POINTS = 2 ** 27;

/** A step's points (see the module's doc); attempts' are {@link attemptStart} and {@link attemptEnd}. */
export const Point = { Gap: 0, RollbackStarted: 1, Start: 2, End: POINTS - 1 } as const;
/** The points of position 0, the instance's start. */
export const StartPoint = { Queued: 0, Started: 1, Running: 2 } as const;
/** The points of the position after the last step, the instance's end. */
export const EndPoint = { Gap: 0, Rollback: 1, Final: 2 } as const;

export const attemptStart = (attempt: number): number => 2 * attempt + 1;
export const attemptEnd = (attempt: number): number => 2 * attempt + 2;

/** The id of `point`'s event at journal position `seq` (`sub` 0), or of a status change after it. */
export function eventId(seq: number, point: number, sub = 0): number {
	return seq * POINTS * SUBS + point * SUBS + sub;
}

/** The journal position of event `id`. */
export function positionOf(id: number): number {
	return Math.floor(id / (POINTS * SUBS));
}

/**
 * The point of the latest event an unfinished step has: its start, or its latest attempt's start,
 * or that attempt's end once it failed and the step is no longer running (a failed attempt whose
 * retry delay a delay function is still choosing has not ended yet, for its events).
 */
export function latestPoint(step: {
	type: StepType;
	state: StepState;
	attempts: number;
	failures: number;
}): number {
	if (step.type === "sleep" || step.type === "wait" || step.attempts === 0) return Point.Start;
	return step.failures >= step.attempts && step.state !== StepState.Running
		? attemptEnd(step.attempts)
		: attemptStart(step.attempts);
}
