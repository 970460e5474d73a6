/**
 * What the step context needs from the run that hosts it: the engine's Execution implements it.
 */
import type { Journal } from "../engine/journal.js";
import type { StorageFailure } from "../engine/store.js";

/** What a step waits for: a sleep's end, a retry's delay, an event (or its timeout). */
export type TimerKind = "sleep" | "retry" | "event";

/** What the step context needs from the run that hosts it (implemented by the engine's Execution). */
export interface StepHost {
	readonly journal: Journal;
	/**
	 * True if the run started from an empty journal: then no call of it has an entry before the
	 * call creates one, and looking it up can be skipped.
	 */
	readonly startedEmpty: boolean;
	now(): number;
	/** Throws if starting one more step would pass the instance's step limit. */
	checkStepLimit(): void;
	/** Settles when the run may start something new: never while a pause is pending. */
	atStepBoundary(): Promise<void>;
	/**
	 * Settles when step `seq`'s wait ends: its durable timer fires (at `dueAt`), or an event
	 * arrives. Sleeps and event waits make the instance `waiting`.
	 */
	timer(seq: number, dueAt: number | null, kind: TimerKind): Promise<void>;
	/** Counts an attempt in flight: the instance is `running` while any is. */
	attemptStarted(): void;
	/** Called once the attempt's outcome is durable; a pending pause may take effect here. */
	attemptEnded(): void;
	/**
	 * `promise`, or a WorkflowTimeoutError with `message()` if it has not settled within `ms`: a
	 * step attempt's timeout (one timer serves every attempt of the run, see deadlines.ts).
	 */
	within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T>;
	/** Passes `promise` through, unless the run is abandoned: then it never settles. */
	guard<T>(promise: Promise<T>): Promise<T>;
	/**
	 * Storage refused a write the run needed: the run stops (the returned promise never settles)
	 * and its lease alarm replays it. `cutOff`: the step whose attempt ran but whose outcome could
	 * not be recorded; that attempt is not counted against the step's interruption budget.
	 */
	storageFailed(error: StorageFailure, cutOff?: number): Promise<never>;
	/** Attempts of step `seq` cut off by storage failures rather than crashes (see storageFailed). */
	excusedInterruptions(seq: number): number;
	/** True once the run is abandoned (paused, terminated, restarted): it must write nothing more. */
	readonly abandoned: boolean;
	/** The engine's bounds on step outputs (createWorkflowEngine options). */
	readonly outputLimits: OutputLimits;
}

/** How large a step's output may be, by kind. */
export interface OutputLimits {
	/** A structured output: MAX_VALUE_BYTES (1 MiB) unless the engine's `maxStepOutputBytes` raises it. */
	stepOutputBytes: number;
	/** A `ReadableStream` output: MAX_STREAM_OUTPUT_BYTES unless `maxStreamOutputBytes` lowers it. */
	streamOutputBytes: number;
}
