/**
 * One live run of a workflow's `run()` inside the engine object: its in-memory timers, how many
 * step attempts are in flight (which decides `running` versus `waiting`), and whether it has been
 * abandoned. Everything durable goes through the journal; this object only exists while the
 * engine object is in memory, and a replay after eviction builds a fresh one.
 */
import { StepLimitError } from "../errors";
import type { StepHost } from "../step/context";
import type { Journal } from "./journal";
import { Status } from "./status";

/** What an execution needs from the engine object that hosts it. */
export interface ExecutionOwner {
	readonly journal: Journal;
	readonly stepLimit: number;
	/** Records `running` or `waiting`, durably, if it changed. */
	setRunStatus(status: typeof Status.Running | typeof Status.Waiting): void;
	/** Makes sure the object's alarm fires no later than `at`. */
	armAlarm(at: number): void;
}

interface Waiter {
	resolve(): void;
	kind: "sleep" | "retry";
}

export class Execution implements StepHost {
	readonly #owner: ExecutionOwner;
	readonly #waiters = new Map<number, Waiter>();
	#steps: number;
	#inFlight = 0;
	#sleepers = 0;
	#abandoned = false;

	constructor(owner: ExecutionOwner) {
		this.#owner = owner;
		this.#steps = owner.journal.stepCount();
	}

	get journal(): Journal {
		return this.#owner.journal;
	}

	get abandoned(): boolean {
		return this.#abandoned;
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

	timer(seq: number, dueAt: number, kind: "sleep" | "retry"): Promise<void> {
		return this.guard(
			new Promise<void>((resolve) => {
				this.#waiters.set(seq, { resolve, kind });
				if (kind === "sleep") this.#sleepers++;
				this.#owner.armAlarm(dueAt);
				this.#updateStatus();
			}),
		);
	}

	/** Resumes whoever waits on step `seq`'s timer; false if nobody in this run does. */
	wake(seq: number): boolean {
		const waiter = this.#waiters.get(seq);
		if (!waiter) return false;
		this.#waiters.delete(seq);
		if (waiter.kind === "sleep") this.#sleepers--;
		this.#updateStatus();
		waiter.resolve();
		return true;
	}

	attemptStarted(): void {
		this.#inFlight++;
		this.#updateStatus();
	}

	attemptEnded(): void {
		this.#inFlight--;
		this.#updateStatus();
	}

	/**
	 * True while the run is doing work (a step attempt, or code between steps) rather than only
	 * waiting for durable timers. A busy run keeps a lease alarm armed; an idle one needs none,
	 * since the timers' own alarm replays it if the object is evicted meanwhile.
	 */
	get busy(): boolean {
		return this.#inFlight > 0 || this.#waiters.size === 0;
	}

	/** `waiting` while nothing runs and a sleep is pending; a retry delay still counts as `running`. */
	get waiting(): boolean {
		return this.#inFlight === 0 && this.#sleepers > 0 && this.#sleepers === this.#waiters.size;
	}

	guard<T>(promise: Promise<T>): Promise<T> {
		const never = new Promise<T>(() => {});
		return promise.then(
			(value) => (this.#abandoned ? never : value),
			(error: unknown) => (this.#abandoned ? never : Promise.reject(error)),
		);
	}

	/**
	 * Abandons the run (terminate, restart): no step of it starts or finishes again, and its
	 * pending promises never settle, so the user's code simply stops and is collected.
	 */
	abandon(): void {
		this.#abandoned = true;
		this.#waiters.clear();
	}

	#updateStatus(): void {
		if (this.#abandoned) return;
		this.#owner.setRunStatus(this.waiting ? Status.Waiting : Status.Running);
	}
}
