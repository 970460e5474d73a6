/**
 * The engine side of the listing: the statuses an instance settles in (waiting, paused, final),
 * its restarts and its delete, sent to its shard asynchronously, coalesced (one send in flight,
 * the latest state wins) and best effort; held and handed back within a batch's create. The
 * protocol: docs/architecture.md, "The listing protocol".
 */

import { isDurableObjectNamespace } from "../binding/namespace.js";
import type { InstanceRow } from "../engine/journal.js";
import type { EngineNamespace } from "../engine/protocol.js";
import { isFinalStatus, publicStatus } from "../engine/status.js";
import { ListingClient } from "./client.js";
import type { ListingEntry } from "./shard.js";

/** A send the shard did not answer is tried again this many times, 1 s, then 2 s, ... later. */
const PUBLISH_RETRIES = 3;
const PUBLISH_RETRY_MS = 1_000;

export function listingEntry(instance: InstanceRow): ListingEntry {
	return {
		id: instance.id,
		status: publicStatus(instance.status),
		createdAt: instance.createdAt,
		updatedAt: instance.updatedAt,
		endedAt: instance.endedAt,
		error: instance.error && { name: instance.error.name, message: instance.error.message },
		version: instance.version,
	};
}

/**
 * The namespace in `env` whose object for `instanceId` is the object `self`: the engine's own
 * namespace, found without configuration. Undefined if the Worker does not bind it.
 */
export function ownNamespace(env: unknown, self: DurableObjectId, instanceId: string) {
	if (typeof env !== "object" || env === null) return undefined;
	for (const value of Object.values(env)) {
		if (isDurableObjectNamespace(value) && value.idFromName(instanceId).equals(self)) {
			return value as EngineNamespace;
		}
	}
	return undefined;
}

export class ListingPublisher {
	readonly #instanceRow: () => InstanceRow | undefined;
	readonly #namespace: (instanceId: string) => EngineNamespace | undefined;
	readonly #waitUntil: (promise: Promise<unknown>) => void;
	/** The latest version the shard acknowledged, or -1. */
	#published = -1;
	/** The status of that version. */
	#publishedStatus: string | undefined;
	#sending = false;
	/** While true, changes are noted, not sent: the caller of a create may write the row itself. */
	#holding = false;
	/** A change was noted while holding. */
	#changedWhileHeld = false;

	constructor(options: {
		instanceRow: () => InstanceRow | undefined;
		namespace: (instanceId: string) => EngineNamespace | undefined;
		waitUntil: (promise: Promise<unknown>) => void;
	}) {
		this.#instanceRow = options.instanceRow;
		this.#namespace = options.namespace;
		this.#waitUntil = options.waitUntil;
	}

	/** The instance ended or restarted: its shard should hear of it. */
	changed(): void {
		if (this.#holding) {
			this.#changedWhileHeld = true;
			return;
		}
		if (this.#sending) return;
		this.#sending = true;
		this.#waitUntil(this.#send());
	}

	async #send(): Promise<void> {
		let failures = 0;
		try {
			// Sent once the current event is done with the instance: the statuses written by one
			// call (a restart and the end of a run that needed no I/O) travel as one update.
			await Promise.resolve();
			for (;;) {
				const instance = this.#instanceRow();
				const namespace = instance && this.#namespace(instance.id);
				if (!instance || !namespace || instance.version <= this.#published) return;
				const entry = listingEntry(instance);
				// The shard's row already says so (a listing checks non-final rows with the instance).
				if (entry.status === this.#publishedStatus && !isFinalStatus(entry.status)) return;
				try {
					await new ListingClient(namespace).put(entry);
				} catch (error) {
					// The shard did not answer (reset, overloaded): try again a little later, a few
					// times. If the runtime stops meanwhile, listInstances finds the row stale.
					if (++failures > PUBLISH_RETRIES) throw error;
					await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS * failures));
					continue;
				}
				this.#published = entry.version;
				this.#publishedStatus = entry.status;
			}
		} catch {
			// Given up: listInstances checks the row with the instance (see operations.ts).
		} finally {
			this.#sending = false;
		}
	}

	/** True between {@link holdSends} and {@link releaseSends}. */
	get holding(): boolean {
		return this.#holding;
	}

	/** Holds what changes would send, until {@link releaseSends}. */
	holdSends(): void {
		this.#holding = true;
		this.#changedWhileHeld = false;
	}

	/**
	 * Ends a hold. With `handOver`, the entry of a change noted meanwhile is returned for the
	 * caller to write, and counts as published; otherwise (or if there was none) null, and a noted
	 * change is sent as usual.
	 */
	releaseSends(handOver: boolean): ListingEntry | null {
		this.#holding = false;
		if (!this.#changedWhileHeld) return null;
		this.#changedWhileHeld = false;
		const instance = handOver ? this.#instanceRow() : undefined;
		if (!instance) {
			this.changed();
			return null;
		}
		const entry = listingEntry(instance);
		this.#published = entry.version;
		this.#publishedStatus = entry.status;
		return entry;
	}

	/** Tells the shard the instance is gone (best effort: the object's storage is gone with it). */
	deleted(instance: InstanceRow): void {
		const namespace = this.#namespace(instance.id);
		if (!namespace) return;
		// An instance created again with this id starts over; its versions are higher.
		this.#published = -1;
		this.#publishedStatus = undefined;
		const removal = new ListingClient(namespace).remove(instance.id, instance.version);
		this.#waitUntil(removal.catch(() => {}));
	}
}
