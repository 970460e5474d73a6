/**
 * A step's states and the moves between them: the step lifecycle, beside the instance's
 * (status.ts). The journal's named transitions (`startAttempt`, `succeed`, `scheduleRetry`,
 * `readyForRetry`, `complete`, `fail`, `reset`) each move a step only from the states listed here,
 * in the same SQL statement, and throw {@link StepMoveError} if the step was in any other.
 *
 * ```
 *   do:     Pending ──> Running ──> Done
 *              ^ │        │ ^ │
 *              │ │        │ │ └──> Retrying ──(delay over)──> Pending, or straight to Running
 *              │ │        │ └── (an attempt cut off by a crash runs again)
 *              │ └────────┴──────> Failed   (non-retryable, retries spent, cut off too often)
 *              └── Running (restart from a later step: its attempt in flight starts over)
 *   rollback: as do (the handler of a step.do, run while the instance is rollingBack)
 *   sleep:  Sleeping ──> Done
 *   wait:   Waiting ──> Done (an event) | Failed (its timeout)
 * ```
 */
import { WorkflowTimeoutError } from "../errors.js";

/** Persisted step states; values never change. */
export const StepState = {
	/** Known, not yet attempted (or a retry whose delay has elapsed). */
	Pending: 0,
	/** An attempt was started and has not finished (in flight, or cut off by a crash). */
	Running: 1,
	/** The last attempt failed; the next one is due at `due_at`. */
	Retrying: 2,
	/** A sleep that ends at `due_at`. */
	Sleeping: 3,
	/** An event wait that times out at `due_at`. */
	Waiting: 4,
	/** Finished: a step's output, an elapsed sleep, a received event. */
	Done: 5,
	/** Failed for good: retries exhausted, non-retryable, or timed out waiting. */
	Failed: 6,
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

/**
 * How the journal names a step's kind: `step.do`, `step.sleep` / `sleepUntil`, `step.waitForEvent`,
 * and the rollback handler of a `step.do` (same name and occurrence as the step it undoes), which
 * moves through the states of a `do`.
 */
export type StepType = "do" | "sleep" | "wait" | "rollback";

const { Pending, Running, Retrying, Sleeping, Waiting, Done, Failed } = StepState;

/** Each transition, by the journal method that makes it, with the states it may start from. */
export const STEP_MOVES = {
	/** An attempt starts: the first, a retry, or one that a crash cut off, again. */
	startAttempt: { from: [Pending, Running, Retrying], to: Running },
	/** The attempt returned, and its output is stored. */
	succeed: { from: [Running], to: Done },
	/** The attempt failed; another is due after the retry delay. */
	scheduleRetry: { from: [Running], to: Retrying },
	/** The retry delay is over (the alarm): the next attempt may start. */
	readyForRetry: { from: [Retrying], to: Pending },
	/** A sleep ends, or a wait receives its event. */
	complete: { from: [Sleeping, Waiting], to: Done },
	/** For good: a step's last attempt failed (or could not start), or a wait timed out. */
	fail: { from: [Pending, Running, Retrying, Waiting], to: Failed },
	/** A restart from a later step: a kept step's attempt in flight starts over. */
	reset: { from: [Running], to: Pending },
} as const satisfies Record<string, { from: readonly StepState[]; to: StepState }>;

export type StepMove = keyof typeof STEP_MOVES;

/** A journal transition found its step in a state it may not leave that way: a bug of ours. */
export class StepMoveError extends Error {
	constructor(move: StepMove, seq: number) {
		super(
			`step #${seq} cannot ${move}: it is not in one of the states ${STEP_MOVES[move].from.join(", ")} (engine invariant)`,
		);
		this.name = "StepMoveError";
	}
}

/**
 * The error a `waitForEvent` fails with when no event came: by its timeout, or forced by a test.
 * A forced one reads as the product's test kit (`cloudflare:test`'s `forceEventTimeout`) words
 * it, "Execution timed out after <timeout>ms", so a test that checks the message passes on both.
 */
export function waitTimeoutError(
	name: string,
	type: string,
	timeout: { ms: number; forced?: boolean },
): WorkflowTimeoutError {
	return new WorkflowTimeoutError(
		timeout.forced
			? `Execution timed out after ${timeout.ms}ms`
			: `waitForEvent("${name}") received no event of type "${type}" within ${timeout.ms} ms`,
	);
}
