/**
 * The engine object's one alarm, and the record of when it was set for.
 *
 * The alarm is always at or before the earliest thing that needs it (a timer, a lease). The time
 * it was set for is also written to the journal, in the same transaction, because the alarm
 * handler is not told: an alarm run early by a test (`runDurableObjectAlarm`) then still knows
 * how far it reaches, and treats every timer due by that time as due.
 */
import type { Journal } from "./journal.js";

export class Alarm {
	readonly #storage: DurableObjectStorage;
	readonly #journal: Journal;
	#at: number | null;

	constructor(storage: DurableObjectStorage, journal: Journal) {
		this.#storage = storage;
		this.#journal = journal;
		this.#at = journal.alarmAt();
	}

	/** The time the alarm is set for, or null. */
	get at(): number | null {
		return this.#at;
	}

	/** Makes sure the alarm fires no later than `at`. An early alarm is harmless: it re-arms itself. */
	armBy(at: number): void {
		if (this.#at !== null && this.#at <= at) return;
		this.set(at);
	}

	/** Sets the alarm to `at`, or clears it. */
	set(at: number | null): void {
		if (at === this.#at) return;
		// Written first: if storage refuses it, the alarm is still to be set.
		this.#journal.setAlarmAt(at);
		this.#at = at;
		// Storage operations apply in order and the output gate waits for them; a failure here
		// breaks the object, which the runtime reports, so there is nothing to handle.
		void (at === null ? this.#storage.deleteAlarm() : this.#storage.setAlarm(at));
	}

	/**
	 * Called as the alarm fires: the alarm is spent. Returns how far it reaches: now, or the time
	 * it was set for if it runs early.
	 */
	fired(now: number): number {
		const reach = Math.max(now, this.#at ?? now);
		this.#at = null;
		this.#journal.setAlarmAt(null);
		return reach;
	}

	/** Forgets the alarm (the instance's storage is being deleted). */
	async clear(): Promise<void> {
		this.#at = null;
		await this.#storage.deleteAlarm();
	}
}
