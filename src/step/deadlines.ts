/**
 * The timeouts of a run's step attempts, on one timer rather than one per attempt.
 *
 * Setting and clearing a timer was about an eighth of a quick step's time (`node
 * bench/profile.mjs steps ours 5000`), and nearly every attempt ends long before its timeout.
 * Attempts that start one after the other have later and later deadlines, so one timer, armed
 * for the earliest deadline pending, serves them all: it moves only when an attempt's deadline
 * comes before it. As it fires, the attempts whose deadline has come fail, and it is armed again
 * for the next deadline still pending, if any.
 *
 * A pending timer keeps a Durable Object in memory, so the run drops it as soon as it waits with
 * no attempt in flight (see {@link AttemptDeadlines.idle}) and when it is abandoned. A run that
 * awaits something else between its steps (a fetch outside any step) keeps it until it fires:
 * at most one step timeout after the last attempt started, as that attempt's own timer would have.
 */
import { WorkflowTimeoutError } from "../errors.js";

/** An attempt that has a deadline: `expire` fails it. */
interface Pending {
	deadline: number;
	expire(): void;
}

export class AttemptDeadlines {
	readonly #pending = new Set<Pending>();
	#timer: ReturnType<typeof setTimeout> | undefined;
	/** The deadline the timer is armed for; Infinity when it is not armed. */
	#armedFor = Number.POSITIVE_INFINITY;

	/**
	 * `promise`, or a {@link WorkflowTimeoutError} with `message()` if it has not settled `ms` from
	 * now: as a timer of its own would, the attempt fails once its time is up.
	 */
	within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
		return new Promise<T>((resolve, reject) => {
			const pending: Pending = {
				deadline: Date.now() + ms,
				expire: () => reject(new WorkflowTimeoutError(message())),
			};
			this.#pending.add(pending);
			if (pending.deadline < this.#armedFor) this.#arm(pending.deadline);
			promise.then(
				(value) => {
					this.#pending.delete(pending);
					resolve(value);
				},
				(error: unknown) => {
					this.#pending.delete(pending);
					reject(error);
				},
			);
		});
	}

	/**
	 * No attempt is in flight and the run waits (a sleep, an event, a retry's delay): the timer,
	 * which would only fire to find nothing due, is dropped so that the object may be evicted.
	 */
	idle(): void {
		if (this.#pending.size === 0) this.#disarm();
	}

	/** The run is abandoned: its attempts' outcomes no longer matter. */
	clear(): void {
		this.#pending.clear();
		this.#disarm();
	}

	#arm(at: number): void {
		if (this.#timer !== undefined) clearTimeout(this.#timer);
		this.#armedFor = at;
		this.#timer = setTimeout(() => this.#fire(at), Math.max(0, at - Date.now()));
	}

	#disarm(): void {
		if (this.#timer === undefined) return;
		clearTimeout(this.#timer);
		this.#timer = undefined;
		this.#armedFor = Number.POSITIVE_INFINITY;
	}

	/** The timer armed for `at` fired: every deadline up to `at` (or now, if later) has passed. */
	#fire(at: number): void {
		this.#timer = undefined;
		this.#armedFor = Number.POSITIVE_INFINITY;
		const passed = Math.max(at, Date.now());
		let next = Number.POSITIVE_INFINITY;
		for (const pending of this.#pending) {
			if (pending.deadline <= passed) {
				this.#pending.delete(pending);
				pending.expire();
			} else if (pending.deadline < next) next = pending.deadline;
		}
		if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
	}
}
