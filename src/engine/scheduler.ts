/**
 * When the engine object's alarm fires next, and what is due when it does: the timers of the
 * instance's steps (sleeps, retry delays, event timeouts), the lease of a busy run, and the
 * retention of a finished instance. The engine calls it; it owns the {@link Alarm}.
 */
import { Alarm } from "./alarm.js";
import type { Execution } from "./execution.js";
import type { Journal, StepRow } from "./journal.js";
import { isFinal, Status } from "./status.js";
import { StepState, waitTimeoutError } from "./steps.js";

/**
 * While the run is busy, the alarm is kept at most this far ahead: if the runtime dies mid-step,
 * the alarm brings the instance back within this long of the runtime's return.
 */
export const LEASE_MS = 10_000;

/** How many microtasks the lease waits for a run to end before it is armed (see renewLease). */
const LEASE_TICKS = 200;

/** How long a finished instance is kept (ms), by how it ended; null keeps it until deleted. */
export interface Retention {
	success: number | null;
	error: number | null;
}

/** What the scheduler reads of the engine: the instance's status and the run in memory. */
export interface SchedulerHost {
	status(): Status | undefined;
	execution(): Execution | undefined;
	/** When what the concurrency gate has not heard yet is to be sent again, or null. */
	resendAt(now: number): number | null;
	/** True while the instance is queued for a slot: the gate's alarm starts it, not a lease. */
	waitsForSlot(): boolean;
}

export class Scheduler {
	readonly #journal: Journal;
	readonly #host: SchedulerHost;
	readonly #alarm: Alarm;
	/** The workflow's retention, for instances whose create options gave none. */
	readonly #retention: Retention;
	/** A lease is about to be armed (see renewLease). */
	#leasing = false;

	constructor(
		storage: DurableObjectStorage,
		journal: Journal,
		retention: Retention,
		host: SchedulerHost,
	) {
		this.#journal = journal;
		this.#retention = retention;
		this.#host = host;
		this.#alarm = new Alarm(storage, journal);
	}

	/** Makes sure the alarm fires no later than `at`. */
	armBy(at: number): void {
		this.#alarm.armBy(at);
	}

	/**
	 * Called as the alarm fires. Returns how far it reaches: everything due by the time it was set
	 * for counts as due, even if a test runs it early (runDurableObjectAlarm), so a one-day sleep
	 * can be fast-forwarded.
	 */
	fired(now: number): number {
		return this.#alarm.fired(now);
	}

	/** Forgets the alarm (the instance's storage is being deleted). */
	clear(): Promise<void> {
		return this.#alarm.clear();
	}

	/**
	 * Applies every timer due by `threshold` to the journal: sleeps end, retries become ready,
	 * event waits time out. Returns the steps it changed, for a live run to wake.
	 */
	applyDueTimers(threshold: number, now: number): StepRow[] {
		const journal = this.#journal;
		const due = journal.dueTimers(threshold);
		for (const step of due) {
			if (step.state === StepState.Sleeping) journal.complete(step.seq, now);
			else if (step.state === StepState.Retrying) journal.readyForRetry(step.seq);
			else if (step.state === StepState.Waiting) {
				const ms = (step.dueAt ?? now) - (step.startedAt ?? now);
				const error = waitTimeoutError(step.name, step.eventType ?? "", { ms });
				journal.fail(step.seq, error.toJSON(), false, now);
			}
		}
		return due;
	}

	/**
	 * Sets the alarm to the next thing that needs it: a timer or the lease of a busy run while
	 * the instance lives, its retention deadline once it is finished, nothing while it is paused.
	 */
	rearm(now: number): void {
		this.#alarm.set(this.#nextAlarm(now));
	}

	#nextAlarm(now: number): number | null {
		const status = this.#host.status();
		if (status === undefined) return null;
		const resend = this.#host.resendAt(now);
		if (status === Status.Paused) return resend;
		if (isFinal(status)) return earliest(this.retentionDeadline(), resend);
		const next = earliest(this.#journal.nextDue(), resend);
		if (this.#host.waitsForSlot()) return next;
		// A live instance with no run in memory needs its alarm as much as a busy run: the alarm
		// is what starts the run again.
		const execution = this.#host.execution();
		const lease = !execution || execution.busy ? now + LEASE_MS : null;
		return earliest(next, lease);
	}

	/**
	 * When a finished instance is to be deleted, or null to keep it: its create options' retention
	 * for how it ended, else the workflow's; a complete instance by the success side, an errored or
	 * terminated one by the error side.
	 */
	retentionDeadline(): number | null {
		const instance = this.#journal.instance();
		if (!instance?.endedAt) return null;
		return this.#deadline(instance.status, instance.endedAt);
	}

	#deadline(status: Status, endedAt: number): number | null {
		const own = this.#journal.retention();
		const keep =
			status === Status.Complete
				? (own.success ?? this.#retention.success)
				: (own.error ?? this.#retention.error);
		return keep === null ? null : endedAt + keep;
	}

	/**
	 * Sets the alarm of an instance that has just ended with `status` at `now` (its final status
	 * written): its retention deadline, as rearm would set it, without reading the row back. The
	 * engine still calls rearm when the concurrency gate's outbox may need the alarm sooner.
	 */
	ended(status: Status, now: number): void {
		this.#alarm.set(this.#deadline(status, now));
	}

	/**
	 * Keeps the lease alarm armed while the run does work (called as it starts, as attempts start
	 * and as waits end). The runtime commits a turn's writes only once its microtasks have run, so
	 * the lease is armed after {@link LEASE_TICKS} more of them, in the same commit, if the run
	 * still needs it then: a run of quick steps has ended by that time and needs none (setting and
	 * clearing an alarm costs a new object about as much as running two steps).
	 */
	renewLease(): void {
		const at = this.#alarm.at;
		if (this.#leasing || (at !== null && at <= Date.now() + LEASE_MS)) return;
		this.#leasing = true;
		void this.#leaseSoon();
	}

	async #leaseSoon(): Promise<void> {
		for (let tick = 0; tick < LEASE_TICKS && this.#live(); tick++) await undefined;
		this.#leasing = false;
		// Needed while the run is busy, or while no run is in memory to go on.
		const execution = this.#host.execution();
		if (!this.#live() || (execution && !execution.busy)) return;
		try {
			this.armBy(Date.now() + LEASE_MS);
		} catch (error) {
			// Storage refuses writes (a StorageFailure): the alarm set before, if any, stands.
			console.error("do-workflows: the lease alarm could not be armed:", error);
		}
	}

	/** True while the instance may still run: it exists and is neither paused nor finished. */
	#live(): boolean {
		const status = this.#host.status();
		return status !== undefined && status !== Status.Paused && !isFinal(status);
	}
}

function earliest(a: number | null, b: number | null): number | null {
	return a === null ? b : b === null ? a : Math.min(a, b);
}
