/**
 * The instance listing, sharded: a shard's table and its four operations (intend, put, remove,
 * query). The protocol, who writes what and why a late write never wins, is drawn once in
 * docs/architecture.md ("The listing protocol").
 */

/** How many shards a workflow's listing is spread over. Fixed: changing it would strand entries. */
export const LISTING_SHARDS = 16;

/** What the listing knows of an instance. */
export interface ListingEntry {
	id: string;
	status: InstanceStatus["status"];
	createdAt: number;
	/** When its status last changed. */
	updatedAt: number;
	endedAt: number | null;
	error: { name: string; message: string } | null;
	/** Grows with every status change of the instance (and across delete and re-create). */
	version: number;
	/** Set by a create's intent until the instance publishes: the row must be checked with it. */
	pending?: boolean;
}

/**
 * The RPC methods by which an engine object hosts its listing shard (engine objects named
 * `shardName(n)`): the part of the engine's contract (engine/protocol.ts) the listing uses.
 */
export interface ListingRpc {
	/** The listing entry of the instance this object hosts, or null. */
	listingEntry(): Promise<ListingEntry | null>;
	/** Marks rows of instances being created; answers the ids that had a live row. */
	listingIntend(entries: Pick<ListingEntry, "id" | "createdAt">[]): Promise<string[]>;
	listingPut(entry: ListingEntry, checked?: boolean): Promise<void>;
	/** Records entries as their instances published them (a batch's, written by its caller). */
	listingPutAll(entries: ListingEntry[]): Promise<void>;
	listingRemove(id: string, version: number, abandoned?: { updatedAt: number }): Promise<void>;
	listingQuery(query: ShardQuery): Promise<ListingEntry[]>;
}

/** A namespace of objects that host listing shards (every engine namespace is one). */
export type ListingNamespace = DurableObjectNamespace<ListingRpc & Rpc.DurableObjectBranded>;

/** A stub of one listing shard's object. */
export type ListingStub = DurableObjectStub<ListingRpc & Rpc.DurableObjectBranded>;

/** One shard's part of a listing query. */
export interface ShardQuery {
	status?: InstanceStatus["status"][];
	/** Only instances created at or after this time (ms). */
	createdAfter?: number;
	/** Only instances created before this time (ms). */
	createdBefore?: number;
	/** Only instances after this one in listing order (newest first, then by id). */
	after?: { createdAt: number; id: string };
	limit: number;
}

/** The shard an instance id belongs to (FNV-1a over its UTF-16 code units). */
export function shardOf(id: string): number {
	let hash = 0x811c9dc5;
	for (let i = 0; i < id.length; i++) {
		hash ^= id.charCodeAt(i);
		hash = Math.imul(hash, 0x01000193);
	}
	return (hash >>> 0) % LISTING_SHARDS;
}

/** The engine-object name of shard `n`; the `:` keeps it out of the instance id space. */
export function shardName(n: number): string {
	return `listing:${n}`;
}

/** The engine object hosting shard `n` of the listing of `namespace`'s workflow. */
export function shardStub(namespace: ListingNamespace, n: number): ListingStub {
	return namespace.get(namespace.idFromName(shardName(n)));
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS listing (
	id TEXT PRIMARY KEY,
	status TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	ended_at INTEGER,
	error TEXT,
	version INTEGER NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	pending INTEGER NOT NULL DEFAULT 0,
	removed_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS listing_by_created ON listing (deleted, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS listing_by_status ON listing (deleted, status, created_at DESC, id DESC);
`;

/** How long a deleted instance's tombstone is kept. */
const TOMBSTONE_MS = 24 * 60 * 60 * 1000;

/** A shard's table, in the SQLite database of the engine object that hosts it. */
export class ListingShard {
	readonly #sql: SqlStorage;
	#ready = false;

	constructor(storage: DurableObjectStorage) {
		this.#sql = storage.sql;
	}

	#schema(): void {
		if (this.#ready) return;
		this.#sql.exec(SCHEMA);
		// A shard created before intents existed gets the column.
		const table = this.#sql
			.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'listing'")
			.one();
		if (!table.sql.includes("pending")) {
			this.#sql.exec("ALTER TABLE listing ADD COLUMN pending INTEGER NOT NULL DEFAULT 0");
		}
		if (!table.sql.includes("removed_version")) {
			this.#sql.exec("ALTER TABLE listing ADD COLUMN removed_version INTEGER NOT NULL DEFAULT 0");
		}
		this.#ready = true;
	}

	/**
	 * Records `entry` as its instance published it, unless the shard holds this version or a newer
	 * one, or a removal of this version or a newer one came while the row was pending (the
	 * instance was deleted before this update arrived: `createBatch` writes its instances' rows
	 * after their create calls). With `checked`, `entry` is what the instance answered a listing
	 * just now: it also settles a row a create's intent marked pending at the same version (the
	 * intent was for an id already in use), but never brings back a deleted row.
	 */
	put(entry: ListingEntry, checked = false): void {
		this.#schema();
		this.#sql.exec(
			`INSERT INTO listing (id, status, created_at, updated_at, ended_at, error, version)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, created_at = excluded.created_at,
				updated_at = excluded.updated_at, ended_at = excluded.ended_at, error = excluded.error,
				version = excluded.version, deleted = 0, pending = 0
			WHERE (excluded.version > listing.version
					AND (? OR excluded.version > listing.removed_version))
				OR (? AND excluded.version = listing.version AND listing.deleted = 0)`,
			entry.id,
			entry.status,
			entry.createdAt,
			entry.updatedAt,
			entry.endedAt,
			entry.error && JSON.stringify(entry.error),
			entry.version,
			checked ? 1 : 0,
			checked ? 1 : 0,
		);
	}

	/**
	 * Records that an instance with this id is being created. A new row, or a deleted one listed
	 * again (keeping its tombstone's version, so updates of the deleted instance stay refused),
	 * starts as `queued`; a row no instance has published to yet takes the new creation time (it
	 * may be left by a create that failed). Any row is marked pending: whatever it says, a
	 * listing asks the instance until the instance publishes. That covers a create that fails as a
	 * duplicate (the row is the existing instance's), and one whose id's last instance was deleted
	 * without its row being removed.
	 *
	 * Returns whether the shard listed the id already (a row not deleted): an instance with that
	 * id may exist. An id it did not list has no instance unless the instance's row never arrived
	 * (both writes of a `create()` lost) or predates the listing.
	 */
	intend(entry: Pick<ListingEntry, "id" | "createdAt">): boolean {
		this.#schema();
		const listed =
			this.#sql.exec("SELECT 1 FROM listing WHERE id = ? AND deleted = 0", entry.id).toArray()
				.length > 0;
		this.#sql.exec(
			`INSERT INTO listing (id, status, created_at, updated_at, version, pending)
			VALUES (?, 'queued', ?, ?, 0, 1)
			ON CONFLICT (id) DO UPDATE SET pending = 1, updated_at = excluded.updated_at,
				status = IIF(listing.deleted, 'queued', listing.status),
				created_at = IIF(listing.deleted OR listing.version = 0, excluded.created_at,
					listing.created_at),
				ended_at = IIF(listing.deleted, NULL, listing.ended_at),
				error = IIF(listing.deleted, NULL, listing.error),
				deleted = 0`,
			entry.id,
			entry.createdAt,
			entry.createdAt,
		);
		return listed;
	}

	/**
	 * Forgets a deleted instance, unless a newer version of it is recorded, or a create of its id
	 * was intended since (`pending`: a removal that arrives late must not hide the new instance;
	 * if that create failed, a listing drops the row as abandoned). A tombstone keeps the version,
	 * so an update of the deleted instance that arrives after its removal cannot bring it back;
	 * tombstones older than a day are purged. A removal refused for a pending row is remembered
	 * (`removed_version`), so that such an update cannot settle the row either (see put).
	 *
	 * `abandoned`: a listing found no instance behind the row, last written at `abandoned.updatedAt`;
	 * it goes unless it was written since (a create of its id may be under way).
	 */
	remove(id: string, version: number, now: number, abandoned?: { updatedAt: number }): void {
		this.#schema();
		this.#sql.exec(
			`INSERT INTO listing (id, status, created_at, updated_at, version, deleted)
			VALUES (?, 'unknown', 0, ?, ?, 1)
			ON CONFLICT (id) DO UPDATE SET deleted = 1, pending = 0, updated_at = excluded.updated_at,
				version = MAX(excluded.version, listing.version)
			WHERE (NOT listing.pending AND excluded.version >= listing.version)
				OR (? AND listing.updated_at = ?)`,
			id,
			now,
			version,
			abandoned ? 1 : 0,
			abandoned?.updatedAt ?? null,
		);
		// Refused for a pending row: remembered, so an update of the deleted instance that is still
		// on its way (a batch's row) cannot settle the row; a listing checks it.
		this.#sql.exec(
			"UPDATE listing SET removed_version = MAX(removed_version, ?) WHERE id = ? AND pending = 1",
			version,
			id,
		);
		this.#sql.exec("DELETE FROM listing WHERE deleted = 1 AND updated_at < ?", now - TOMBSTONE_MS);
	}

	query(query: ShardQuery): ListingEntry[] {
		this.#schema();
		const where: string[] = ["deleted = 0"];
		const bindings: SqlStorageValue[] = [];
		if (query.status?.length) {
			// A pending row may turn out to be in any status.
			where.push(`(status IN (${query.status.map(() => "?").join(", ")}) OR pending = 1)`);
			bindings.push(...query.status);
		}
		if (query.createdAfter !== undefined) {
			where.push("created_at >= ?");
			bindings.push(query.createdAfter);
		}
		if (query.createdBefore !== undefined) {
			where.push("created_at < ?");
			bindings.push(query.createdBefore);
		}
		if (query.after) {
			where.push("(created_at < ? OR (created_at = ? AND id < ?))");
			bindings.push(query.after.createdAt, query.after.createdAt, query.after.id);
		}
		const sql = `SELECT * FROM listing WHERE ${where.join(" AND ")}
			ORDER BY created_at DESC, id DESC LIMIT ?`;
		return this.#sql
			.exec<Record<string, SqlStorageValue>>(sql, ...bindings, query.limit)
			.toArray()
			.map((row) => ({
				id: row.id as string,
				status: row.status as ListingEntry["status"],
				createdAt: row.created_at as number,
				updatedAt: row.updated_at as number,
				endedAt: row.ended_at as number | null,
				error: typeof row.error === "string" ? JSON.parse(row.error) : null,
				version: row.version as number,
				pending: row.pending === 1,
			}));
	}
}
