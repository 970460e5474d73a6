/**
 * One live run of a workflow's `run()` inside the engine object: its in-memory timers, how many
 * step attempts are in flight (which decides `running` versus `waiting`), a pending pause, and
 * whether it has been abandoned. Everything durable goes through the journal; this object only
 * exists while the engine object is in memory, and a replay after eviction builds a fresh one.
 */
import { StepLimitError } from "../errors.js";
import { AttemptDeadlines } from "../step/deadlines.js";
import type { OutputLimits, StepHost, TimerKind } from "../step/host.js";
import type { Journal } from "./journal.js";
import { Status } from "./status.js";
import type { StorageFailure } from "./store.js";

/** What an execution needs from the engine object that hosts it. */
export interface ExecutionOwner {
	readonly journal: Journal;
	readonly stepLimit: number;
	readonly outputLimits: OutputLimits;
	/** Records `running` or `waiting`, durably, if it changed. */
	setRunStatus(status: typeof Status.Running | typeof Status.Waiting): void;
	/** Makes sure the object's alarm fires no later than `at`. */
	armAlarm(at: number): void;
	/** Makes sure the lease alarm fires within the lease: the run is about to do work. */
	renewLease(): void;
	/** A pause was requested and the last attempt in flight has finished. */
	attemptsDrained(execution: Execution): void;
	/** Storage refused a write of this run: abandon it and let the lease replay it (see StepHost). */
	storageFailed(execution: Execution, error: StorageFailure, cutOff?: number): void;
	/** See StepHost.excusedInterruptions. */
	excusedInterruptions(seq: number): number;
}

const never = new Promise<never>(() => {});

export class Execution implements StepHost {
	readonly #owner: ExecutionOwner;
	readonly #waiters = new Map<number, { resolve(): void; kind: TimerKind }>();
	#steps: number;
	#inFlight = 0;
	/** While a pause is pending: the gate that new steps wait at, opened if the pause is withdrawn. */
	#pauseGate: PromiseWithResolvers<void> | undefined;
	#abandoned = false;
	/** The timeouts of the attempts in flight, on one timer. */
	readonly #deadlines = new AttemptDeadlines();

	/**
	 * True if the journal held no step as this run started. Only this run adds entries while it
	 * lives (a restart abandons it first), and each call it makes is a new (type, name, count), so
	 * none of its calls can find an entry it did not create.
	 */
	readonly startedEmpty: boolean;

	/** `steps`: how many steps the journal holds, if the caller knows (0 for a new instance). */
	constructor(owner: ExecutionOwner, steps = owner.journal.stepCount()) {
		this.#owner = owner;
		this.#steps = steps;
		this.startedEmpty = steps === 0;
	}

	get journal(): Journal {
		return this.#owner.journal;
	}

	now(): number {
		return Date.now();
	}

	checkStepLimit(): void {
		if (this.#steps >= this.#owner.stepLimit) {
			throw new StepLimitError(
				`instance reached its limit of ${this.#owner.stepLimit} steps; ` +
					"raise it with createWorkflowEngine(Workflow, { stepLimit })",
			);
		}
		this.#steps++;
	}

	/**
	 * Settles once the run may go on. While a pause is pending it waits: released if the pause is
	 * withdrawn, never if it takes effect (the run is abandoned; a resume replays it).
	 */
	atStepBoundary(): Promise<void> {
		if (this.#abandoned) return never;
		return this.#pauseGate?.promise ?? Promise.resolve();
	}

	timer(seq: number, dueAt: number | null, kind: TimerKind): Promise<void> {
		return this.guard(
			new Promise<void>((resolve) => {
				this.#waiters.set(seq, { resolve, kind });
				if (dueAt !== null) this.#owner.armAlarm(dueAt);
				this.#dropIdleDeadlines();
				this.updateStatus();
			}),
		);
	}

	/** Resumes whoever waits on step `seq`; false if nobody in this run does. */
	wake(seq: number): boolean {
		const waiter = this.#waiters.get(seq);
		if (!waiter) return false;
		this.#waiters.delete(seq);
		// The woken code runs next, whatever else still waits: it needs the lease.
		this.#owner.renewLease();
		this.updateStatus();
		waiter.resolve();
		return true;
	}

	attemptStarted(): void {
		this.#owner.renewLease();
		this.#inFlight++;
		this.updateStatus();
	}

	attemptEnded(): void {
		this.#inFlight--;
		this.#dropIdleDeadlines();
		if (this.#pauseGate && this.#inFlight === 0) {
			this.#owner.attemptsDrained(this);
			return;
		}
		this.updateStatus();
	}

	within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
		return this.#deadlines.within(promise, ms, message);
	}

	/**
	 * Once no attempt is in flight and the run waits for a timer or an event, the deadline timer
	 * goes: a pending timer would keep the object in memory. Between two steps of a run that
	 * waits for nothing, it stays armed for the next attempt (the point of sharing it).
	 */
	#dropIdleDeadlines(): void {
		if (this.#inFlight === 0 && this.#waiters.size > 0) this.#deadlines.idle();
	}

	/** Attempts in flight right now. */
	get inFlight(): number {
		return this.#inFlight;
	}

	/**
	 * True while the run is doing work (a step attempt, or code between steps) rather than only
	 * waiting for timers or events. A busy run keeps a lease alarm armed; an idle one needs none,
	 * since a timer's alarm, or the event that ends a wait, replays it if the object was evicted.
	 */
	get busy(): boolean {
		return this.#inFlight > 0 || this.#waiters.size === 0;
	}

	/** `waiting` while nothing runs and every wait is a sleep or an event wait; a retry delay counts as `running`. */
	get waiting(): boolean {
		if (this.#inFlight > 0 || this.#waiters.size === 0) return false;
		for (const { kind } of this.#waiters.values()) if (kind === "retry") return false;
		return true;
	}

	/** Stops new steps from starting; the owner is told once the attempts in flight end. */
	requestPause(): void {
		this.#pauseGate ??= Promise.withResolvers<void>();
	}

	/** Withdraws a pending pause (resume during `waitingForPause`). */
	cancelPause(): void {
		// Whatever reached a step boundary meanwhile goes on now.
		this.#pauseGate?.resolve();
		this.#pauseGate = undefined;
	}

	storageFailed(error: StorageFailure, cutOff?: number): Promise<never> {
		if (!this.#abandoned) this.#owner.storageFailed(this, error, cutOff);
		return never;
	}

	excusedInterruptions(seq: number): number {
		return this.#owner.excusedInterruptions(seq);
	}

	get abandoned(): boolean {
		return this.#abandoned;
	}

	get outputLimits(): OutputLimits {
		return this.#owner.outputLimits;
	}

	guard<T>(promise: Promise<T>): Promise<T> {
		return promise.then(
			(value) => (this.#abandoned ? never : value),
			(error: unknown) => (this.#abandoned ? never : Promise.reject(error)),
		);
	}

	/**
	 * Abandons the run (pause, terminate, restart, completion): no step of it starts or records a
	 * result again, and its pending promises never settle, so the user's code simply stops and is
	 * collected.
	 */
	abandon(): void {
		this.#abandoned = true;
		this.#waiters.clear();
		this.#deadlines.clear();
	}

	/** Reports `running` or `waiting` to the owner, as the run's state says. */
	updateStatus(): void {
		if (this.#abandoned || this.#pauseGate) return;
		this.#owner.setRunStatus(this.waiting ? Status.Waiting : Status.Running);
	}
}
