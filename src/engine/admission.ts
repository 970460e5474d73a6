/**
 * An instance's side of its workflow's concurrency limit (docs/limits.md): whether it holds a
 * slot, queues for one, or must tell the gate (concurrency/gate.ts) that it wants or gives one
 * back. The state is kept in the object's KV store, written in the same commit as the status it
 * goes with; what the gate has not yet heard of (`Want`, `Releasing`) is an outbox, sent by one
 * send at a time (the latest state wins) and sent again by the object's alarm until the gate
 * answers, so neither a crash nor a gate that does not answer loses it.
 */
import type { GateRpc, WantAnswer } from "../concurrency/gate.js";

export const Slot = {
	/** Holds no slot, wants none. */
	None: 0,
	/** Wants a slot; the gate has not answered yet. */
	Want: 1,
	/** Queued at the gate, whose alarm admits it (admit()). */
	Queued: 2,
	/** Holds a slot. */
	Held: 3,
	/** Gives its slot (or queue place) back; the gate has not answered yet. */
	Releasing: 4,
} as const;
export type Slot = (typeof Slot)[keyof typeof Slot];

const KEY = "concurrency.slot";
/** The id of a deleted instance whose release the gate has not heard (see keepAfterDelete). */
const ORPHAN_KEY = "concurrency.orphan";

/** A send to the gate that failed is tried again by the alarm this long after (ms). */
export const RESEND_MS = 1_000;

export interface AdmissionHost {
	/** The instance's id (the gate's key for it). */
	id(): string | undefined;
	/**
	 * The workflow's gate, found through instance `id`'s name, or undefined if the Worker does not
	 * bind the engine's namespace.
	 */
	gate(id: string): Pick<GateRpc, "gateWant" | "gateRelease"> | undefined;
	waitUntil(promise: Promise<unknown>): void;
	/** Makes sure the object's alarm fires no later than `at` (the outbox's retry). */
	armBy(at: number): void;
	/** The gate granted a slot the instance asked for: its run may start. */
	granted(): void;
	/** The outbox changed: the alarm should be set again (see {@link Admission.resendAt}). */
	changed(): void;
}

export class Admission {
	readonly #kv: SyncKvStorage;
	readonly #host: AdmissionHost;
	#slot: Slot;
	/** The send in flight, if any. */
	#sending: Promise<void> | undefined;
	/** When a send last failed (ms), for the alarm's retry. */
	#failedAt: number | undefined;
	/** The id of the deleted instance whose release is still to be sent, if any. */
	#orphan: string | undefined;

	constructor(kv: SyncKvStorage, host: AdmissionHost) {
		this.#kv = kv;
		this.#host = host;
		this.#slot = (kv.get(KEY) as Slot | undefined) ?? Slot.None;
		this.#orphan = kv.get(ORPHAN_KEY) as string | undefined;
	}

	/** True if a deleted instance's release is still to be sent (by the object's alarm). */
	get orphaned(): boolean {
		return this.#orphan !== undefined;
	}

	get slot(): Slot {
		return this.#slot;
	}

	/** True if the instance holds a slot: its run may go on. */
	holds(): boolean {
		return this.#slot === Slot.Held;
	}

	/** True if the instance wants a slot and the gate has it, or is being told (Want, Queued). */
	asked(): boolean {
		return this.#slot === Slot.Want || this.#slot === Slot.Queued;
	}

	#set(slot: Slot): void {
		if (slot === this.#slot) return;
		if (slot === Slot.None) this.#kv.delete(KEY);
		else this.#kv.put(KEY, slot);
		this.#slot = slot;
	}

	/** The instance has work to do and no slot: it asks the gate for one. */
	want(): void {
		if (this.#slot === Slot.Held || this.#slot === Slot.Want || this.#slot === Slot.Queued) return;
		this.#set(Slot.Want);
		this.#host.armBy(Date.now() + RESEND_MS);
		void this.send();
	}

	/** The instance stops running (it waits, pauses, ends): its slot or queue place goes back. */
	release(): void {
		if (this.#slot === Slot.None || this.#slot === Slot.Releasing) return;
		this.#set(Slot.Releasing);
		this.#host.armBy(Date.now() + RESEND_MS);
		void this.send();
	}

	/**
	 * The instance is being deleted: the gate is told now, as its storage (and so the outbox) goes
	 * with it. False if the gate did not hear: the engine then calls {@link keepAfterDelete} once
	 * the storage is gone.
	 */
	async leave(id: string): Promise<boolean> {
		const slot = this.#slot;
		this.#slot = Slot.None;
		if (slot === Slot.None && this.#orphan === undefined) return true;
		// A want in flight lands before the release; the send loop stops, finding no slot wanted.
		await this.#sending;
		try {
			await this.#host.gate(id)?.gateRelease(id);
			// An earlier deletion's release (the same id) is heard with it; its key goes with the storage.
			this.#orphan = undefined;
			return true;
		} catch (error) {
			console.error(
				`do-workflows: instance "${id}" was deleted, but the concurrency gate did not hear of it (${(error as Error)?.message ?? error}); the object's alarm tells it again`,
			);
			return false;
		}
	}

	/**
	 * After the deletion of instance `id`, whose release the gate did not hear: the release stays
	 * in the emptied object's storage, with the id, for its alarm to send (a held slot would
	 * otherwise never come back). It is sent before anything an instance created again with the
	 * id sends, so that instance queues behind those already queued.
	 */
	keepAfterDelete(id: string): void {
		this.#kv.put(ORPHAN_KEY, id);
		this.#orphan = id;
		this.#slot = Slot.None;
	}

	/**
	 * The gate admitted the instance (its alarm granted it a slot). True if it takes it: it still
	 * wants one. Otherwise (it was paused, terminated or deleted meanwhile) the gate frees it.
	 */
	admit(): boolean {
		if (this.#slot === Slot.Held) return true;
		if (this.#slot !== Slot.Want && this.#slot !== Slot.Queued) return false;
		this.#set(Slot.Held);
		return true;
	}

	/** True if something is still to be sent to the gate. */
	#unsent(): boolean {
		return this.#orphan !== undefined || this.#slot === Slot.Want || this.#slot === Slot.Releasing;
	}

	/** When the alarm should send the outbox again, or null if the gate has heard everything. */
	resendAt(now: number): number | null {
		if (!this.#unsent()) return null;
		return (this.#failedAt ?? now) + RESEND_MS;
	}

	/**
	 * Sends what the gate has not heard (one send at a time; a change meanwhile is sent after it).
	 * Resolves once the gate has answered, or the send failed (the alarm tries again).
	 */
	send(): Promise<void> {
		if (this.#sending) return this.#sending;
		if (!this.#unsent()) return Promise.resolve();
		const sending = this.#sendAll().finally(() => {
			this.#sending = undefined;
			this.#host.changed();
		});
		this.#sending = sending;
		this.#host.waitUntil(sending);
		return sending;
	}

	async #sendAll(): Promise<void> {
		// Sent once the current event is done with the instance: what it decided goes as one.
		await Promise.resolve();
		for (;;) {
			const orphan = this.#orphan;
			const id = orphan ?? this.#host.id();
			const gate = id === undefined ? undefined : this.#host.gate(id);
			if (id === undefined || !gate) return;
			const slot = this.#slot;
			try {
				if (orphan !== undefined) {
					// A deleted instance's release first (see keepAfterDelete).
					await gate.gateRelease(orphan);
					this.#failedAt = undefined;
					this.#kv.delete(ORPHAN_KEY);
					this.#orphan = undefined;
				} else if (slot === Slot.Want) {
					const answer: WantAnswer = await gate.gateWant(id);
					// Applied only if nothing changed meanwhile (an admit, a terminate, a delete).
					if (this.#slot !== Slot.Want) continue;
					this.#failedAt = undefined;
					if (answer === "granted") {
						this.#set(Slot.Held);
						this.#host.granted();
					} else {
						this.#set(Slot.Queued);
					}
				} else if (slot === Slot.Releasing) {
					await gate.gateRelease(id);
					this.#failedAt = undefined;
					if (this.#slot === Slot.Releasing) this.#set(Slot.None);
				} else {
					return;
				}
			} catch (error) {
				this.#failedAt = Date.now();
				console.error(
					`do-workflows: instance "${id}": the concurrency gate did not answer (${(error as Error)?.message ?? error}); its alarm tries again`,
				);
				return;
			}
		}
	}
}
