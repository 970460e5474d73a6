/**
 * The engine side of the listing: after each status change, the instance's engine object sends
 * its new listing entry to its shard. Sends are asynchronous (a status change never waits for the
 * listing), coalesced (one in flight per instance; the latest state wins), and ordered at the
 * shard by version. If a send is lost (the runtime stopped first), the object publishes again
 * when it next starts, and an alarm makes sure it starts within {@link LISTING_RETRY_MS}.
 */
import { isDurableObjectNamespace } from "../binding/namespace";
import type { WorkflowEngine } from "../engine/engine";
import type { InstanceRow } from "../engine/journal";
import { publicStatus } from "../engine/status";
import { type ListingEntry, shardOf, shardStub } from "./shard";

/** A publish not yet acknowledged keeps an alarm armed at most this far ahead. */
export const LISTING_RETRY_MS = 30_000;

type Namespace = DurableObjectNamespace<WorkflowEngine>;

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
			return value as Namespace;
		}
	}
	return undefined;
}

export class ListingPublisher {
	readonly #current: () => InstanceRow | undefined;
	readonly #namespace: (instanceId: string) => Namespace | undefined;
	readonly #waitUntil: (promise: Promise<unknown>) => void;
	readonly #settled: () => void;
	/** The latest version the shard acknowledged, or -1. */
	#published = -1;
	#sending = false;
	#pending = false;

	constructor(options: {
		current: () => InstanceRow | undefined;
		namespace: (instanceId: string) => Namespace | undefined;
		waitUntil: (promise: Promise<unknown>) => void;
		/** Called once the shard has the latest version: the retry alarm is no longer needed. */
		settled: () => void;
	}) {
		this.#current = options.current;
		this.#namespace = options.namespace;
		this.#waitUntil = options.waitUntil;
		this.#settled = options.settled;
	}

	/** True from a status change until the shard has acknowledged it. */
	get pending(): boolean {
		return this.#pending;
	}

	/** The object just started: a publish may have been lost. The next alarm sends it again. */
	stale(): void {
		this.#pending = true;
	}

	/** The status changed: the shard should hear of it. */
	changed(): void {
		this.#pending = true;
		if (this.#sending) return;
		this.#sending = true;
		this.#waitUntil(this.#send());
	}

	async #send(): Promise<void> {
		try {
			// Sent once the current event is done with the instance: the statuses written by one
			// call (queued and running, when a create starts the run) travel as one update.
			await Promise.resolve();
			for (;;) {
				const instance = this.#current();
				const namespace = instance && this.#namespace(instance.id);
				if (!instance || !namespace || instance.version <= this.#published) {
					this.#pending = false;
					this.#settled();
					return;
				}
				const entry = listingEntry(instance);
				const shard = shardStub(namespace, shardOf(entry.id));
				await shard.listingPut(entry);
				this.#published = entry.version;
			}
		} catch {
			// The shard did not answer: the pending publish is retried when the alarm fires.
		} finally {
			this.#sending = false;
		}
	}

	/** Tells the shard the instance is gone (best effort: the object's storage is gone with it). */
	deleted(instance: InstanceRow): void {
		const namespace = this.#namespace(instance.id);
		if (!namespace) return;
		const shard = shardStub(namespace, shardOf(instance.id));
		// An instance created again with this id starts over; its versions are higher.
		this.#pending = false;
		this.#published = -1;
		this.#waitUntil(shard.listingRemove(instance.id, instance.version).catch(() => {}));
	}
}
