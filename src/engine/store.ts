/**
 * The engine object's storage calls: its SQLite database and the synchronous KV store beside it.
 * Every call goes through here, which turns storage refusing it into a StorageFailure (see there);
 * other errors (a value that cannot be cloned, an engine bug in a statement) pass unchanged.
 */
import { isStorageRefusal, StorageUnavailableError } from "../errors.js";
import { fromJsonText, toJsonText } from "./values.js";

export type Row = Record<string, SqlStorageValue>;

/**
 * Storage refused a call: SQLite ran out of memory or disk (SQLITE_NOMEM, SQLITE_FULL), failed
 * an I/O, or the runtime answered with its opaque internal error. The instance's storage is at
 * fault, not the value or the statement, and the call may succeed later. Journal methods throw
 * it in place of the runtime's error; callers over RPC get it as the public
 * StorageUnavailableError, and a run that meets it stops and is replayed by its lease.
 */
export class StorageFailure extends StorageUnavailableError {
	constructor(cause: unknown) {
		super(
			`the instance's storage is unavailable (${(cause as Error)?.message ?? String(cause)}); ` +
				"the call stored nothing, retry it later",
		);
		this.cause = cause;
	}
}

/** `error` as a StorageFailure if storage refused the call, else unchanged. */
function refused(error: unknown): unknown {
	if (error instanceof StorageFailure) return error;
	return isStorageRefusal(error) ? new StorageFailure(error) : error;
}

export class Store {
	readonly #sql: SqlStorage;
	readonly #kv: SyncKvStorage;
	readonly #storage: DurableObjectStorage;

	constructor(storage: DurableObjectStorage) {
		this.#storage = storage;
		this.#sql = storage.sql;
		this.#kv = storage.kv;
	}

	/** Deletes everything the object stored (the alarm aside). */
	deleteAll(): Promise<void> {
		return this.#storage.deleteAll();
	}

	one(query: string, ...bindings: SqlStorageValue[]): Row | undefined {
		return this.run<Row>(query, ...bindings).rows[0];
	}

	/** Runs a statement to its end: its rows, and how many rows it wrote. */
	run<T extends Row>(
		query: string,
		...bindings: SqlStorageValue[]
	): { rows: T[]; rowsWritten: number } {
		try {
			const cursor = this.#sql.exec<T>(query, ...bindings);
			const rows = cursor.toArray();
			return { rows, rowsWritten: cursor.rowsWritten };
		} catch (error) {
			throw refused(error);
		}
	}

	/**
	 * Runs a statement that returns no rows (no RETURNING): how many rows it wrote. The runtime
	 * runs such a statement to its end as it is executed, so there is no cursor to drain.
	 */
	write(query: string, ...bindings: SqlStorageValue[]): number {
		try {
			return this.#sql.exec(query, ...bindings).rowsWritten;
		} catch (error) {
			throw refused(error);
		}
	}

	transaction<T>(body: () => T): T {
		try {
			return this.#storage.transactionSync(body);
		} catch (error) {
			throw refused(error);
		}
	}

	kvPut(key: string, value: unknown): void {
		try {
			this.#kv.put(key, value);
		} catch (error) {
			throw refused(error);
		}
	}

	kvGet(key: string): unknown {
		try {
			return this.#kv.get(key);
		} catch (error) {
			throw refused(error);
		}
	}

	kvDelete(key: string): void {
		try {
			this.#kv.delete(key);
		} catch (error) {
			throw refused(error);
		}
	}

	/**
	 * Keeps a value (see values.ts): returns its JSON text for the row, or null once it is in the
	 * KV store under `key`. Throws (and stores nothing) if the value cannot be cloned.
	 */
	put(key: string, value: unknown): string | null {
		const json = toJsonText(value);
		if (json === null) this.kvPut(key, value);
		return json;
	}

	/** A value kept by #put: from its row's JSON text, or else from the KV store. */
	get(json: SqlStorageValue | undefined, key: string): unknown {
		return typeof json === "string" ? fromJsonText(json) : this.kvGet(key);
	}
}
