/**
 * Every call to a workflow's listing (docs/architecture.md, "The listing protocol"): the binding's
 * intents and batch rows, the engine's publishes and removals, the operations' queries and
 * repairs. It finds an id's shard and groups a batch by shard, one request per shard.
 */
import {
	LISTING_SHARDS,
	type ListingEntry,
	type ListingNamespace,
	type ListingStub,
	type ShardQuery,
	shardOf,
	shardStub,
} from "./shard.js";

export class ListingClient {
	readonly #namespace: ListingNamespace;

	constructor(namespace: ListingNamespace) {
		this.#namespace = namespace;
	}

	#shardOf(id: string): ListingStub {
		return shardStub(this.#namespace, shardOf(id));
	}

	/** Sends each shard its share of `items` (grouped by id), all at once; their answers. */
	#perShard<T extends { id: string }, R>(
		items: T[],
		send: (shard: ListingStub, group: T[]) => Promise<R>,
	): Promise<R[]> {
		const byShard = Map.groupBy(items, ({ id }) => shardOf(id));
		return Promise.all(
			Array.from(byShard, ([n, group]) => send(shardStub(this.#namespace, n), group)),
		);
	}

	/**
	 * Intents for instances being created. (Each shard answers which of the ids it knew already;
	 * no caller needs that since createBatch learns of an id in use from its instance.)
	 */
	async intend(items: { id: string; createdAt: number }[]): Promise<void> {
		await this.#perShard(items, (shard, group) => shard.listingIntend(group));
	}

	/** Rows as their instances published them (a batch's, written by its caller). */
	async putAll(entries: ListingEntry[]): Promise<void> {
		await this.#perShard(entries, (shard, group) => shard.listingPutAll(group));
	}

	/** A row as its instance published it; `checked`: as it answered a listing just now (a repair). */
	put(entry: ListingEntry, checked = false): Promise<void> {
		return this.#shardOf(entry.id).listingPut(entry, checked);
	}

	/** A deleted instance's row, or (`abandoned`) a row no instance stands behind. */
	remove(id: string, version: number, abandoned?: { updatedAt: number }): Promise<void> {
		return this.#shardOf(id).listingRemove(id, version, abandoned);
	}

	/** Every shard's rows for `query`, in no particular order. */
	async query(query: ShardQuery): Promise<ListingEntry[]> {
		const rows = await Promise.all(
			Array.from({ length: LISTING_SHARDS }, (_, n) =>
				shardStub(this.#namespace, n).listingQuery(query),
			),
		);
		return rows.flat();
	}
}
