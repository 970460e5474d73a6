/**
 * A workflow's concurrency gate: who holds its slots and who queues for one, first in first out
 * (docs/limits.md, "Concurrency limits"). One engine object of the workflow's own namespace hosts
 * it, under a name no instance id can take ({@link GATE_NAME}), as listing shards are hosted.
 *
 * Instances ask for a slot (`want`) and give it back (`release`), each call idempotent; the gate
 * grants queued instances from its alarm, oldest first, and tells each one (`admit`) until it has
 * answered. So a queued instance is admitted by this object's alarm, whatever the requests, and
 * both sides survive a restart: everything here is in the object's SQLite database.
 */

/** The engine-object name of a workflow's gate; the `:` keeps it out of the instance id space. */
export const GATE_NAME = "concurrency:gate";

/** A gate's answer to an instance that wants a slot. */
export type WantAnswer = "granted" | "queued";

/** What a gate tells of itself. */
export interface ConcurrencySummary {
	/** The workflow's concurrency limit. */
	limit: number;
	/** Instances holding a slot (running, or granted one and about to run). */
	running: number;
	/** Instances waiting for a slot. */
	queued: number;
}

/**
 * The RPC methods by which an engine object hosts its workflow's gate: the part of the engine's
 * contract (engine/protocol.ts) the concurrency limit uses.
 */
export interface GateRpc {
	/** Instance `id` wants a slot: granted at once, or queued (once; a queued id keeps its place). */
	gateWant(id: string): Promise<WantAnswer>;
	/** Instance `id` holds no slot and wants none (it waits, is paused, ended or was deleted). */
	gateRelease(id: string): Promise<void>;
	/** The 1-based queue position of each of `ids` that queues. */
	gatePositions(ids: string[]): Promise<Record<string, number>>;
	gateSummary(): Promise<ConcurrencySummary | null>;
}

/** The answer of an instance the gate admitted: true if it took the slot. */
export type Admit = (id: string) => Promise<boolean>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS gate_holders (
	id TEXT PRIMARY KEY,
	granted_at INTEGER NOT NULL,
	told INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS gate_untold ON gate_holders (told) WHERE told = 0;
CREATE TABLE IF NOT EXISTS gate_queue (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL UNIQUE,
	queued_at INTEGER NOT NULL
);
`;

/** Admissions told per alarm at most; the alarm runs again at once for the rest. */
const ADMIT_BATCH = 200;

/** An instance that did not answer its admission is told again this long after (ms), at most. */
const RETRY_MS = 1_000;

/** True if the object's database holds a gate (an alarm of an object that hosts no instance). */
export function hostsGate(sql: SqlStorage): boolean {
	return (
		sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gate_queue'").toArray()
			.length > 0
	);
}

export class ConcurrencyGate {
	readonly #storage: DurableObjectStorage;
	readonly #sql: SqlStorage;
	readonly #limit: number;
	/** Slots held, counted once as the gate opens and kept since. */
	#held: number;
	#queued: number;
	/** Failed rounds of admissions in a row, for the retry's delay. */
	#failures = 0;

	constructor(storage: DurableObjectStorage, limit: number) {
		this.#storage = storage;
		this.#sql = storage.sql;
		this.#limit = limit;
		this.#sql.exec(SCHEMA);
		this.#held = this.#count("gate_holders");
		this.#queued = this.#count("gate_queue");
	}

	#count(table: "gate_holders" | "gate_queue"): number {
		return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
	}

	want(id: string, now: number): WantAnswer {
		const holder = this.#sql
			.exec<{ told: number }>("SELECT told FROM gate_holders WHERE id = ?", id)
			.toArray()[0];
		if (holder) {
			// Granted by the alarm, and told now by this answer.
			if (holder.told === 0) this.#sql.exec("UPDATE gate_holders SET told = 1 WHERE id = ?", id);
			return "granted";
		}
		if (this.#sql.exec("SELECT 1 FROM gate_queue WHERE id = ?", id).toArray().length > 0)
			return "queued";
		if (this.#queued === 0 && this.#held < this.#limit) {
			this.#sql.exec("INSERT INTO gate_holders (id, granted_at, told) VALUES (?, ?, 1)", id, now);
			this.#held++;
			return "granted";
		}
		this.#sql.exec("INSERT INTO gate_queue (id, queued_at) VALUES (?, ?)", id, now);
		this.#queued++;
		// A slot is free but others queue before it: the alarm grants them in order.
		this.#wake();
		return "queued";
	}

	release(id: string): void {
		const held = this.#sql.exec("DELETE FROM gate_holders WHERE id = ?", id).rowsWritten;
		this.#held -= held;
		this.#queued -= this.#sql.exec("DELETE FROM gate_queue WHERE id = ?", id).rowsWritten;
		if (held > 0) this.#wake();
	}

	positions(ids: string[]): Record<string, number> {
		const positions: Record<string, number> = {};
		for (const id of ids) {
			const row = this.#sql
				.exec<{ n: number }>(
					`SELECT COUNT(*) AS n FROM gate_queue
					WHERE seq <= (SELECT seq FROM gate_queue WHERE id = ?)`,
					id,
				)
				.one();
			if (row.n > 0) positions[id] = row.n;
		}
		return positions;
	}

	summary(): ConcurrencySummary {
		return { limit: this.#limit, running: this.#held, queued: this.#queued };
	}

	/** Sets the alarm for now if it has work: a free slot and a queue, or admissions to tell. */
	#wake(): void {
		if (this.#queued > 0 && this.#held < this.#limit) void this.#storage.setAlarm(Date.now());
	}

	/**
	 * The alarm: grants the free slots to the oldest queued instances (one commit), then tells each
	 * instance granted and not yet told, in parallel. An instance that does not take its slot (it
	 * was deleted, paused or terminated meanwhile) gives it back at once; one that does not answer
	 * is told again later.
	 */
	async alarm(now: number, admit: Admit): Promise<void> {
		const free = this.#limit - this.#held;
		if (free > 0 && this.#queued > 0) {
			const granted = this.#sql
				.exec<{ id: string }>("SELECT id FROM gate_queue ORDER BY seq LIMIT ?", free)
				.toArray();
			for (const { id } of granted) {
				this.#sql.exec("DELETE FROM gate_queue WHERE id = ?", id);
				this.#sql.exec("INSERT INTO gate_holders (id, granted_at, told) VALUES (?, ?, 0)", id, now);
			}
			this.#held += granted.length;
			this.#queued -= granted.length;
		}
		const untold = this.#sql
			.exec<{ id: string }>("SELECT id FROM gate_holders WHERE told = 0 LIMIT ?", ADMIT_BATCH)
			.toArray();
		const answers = await Promise.allSettled(untold.map(({ id }) => admit(id)));
		let failed = 0;
		for (const [i, answer] of answers.entries()) {
			const { id } = untold[i] as { id: string };
			if (answer.status === "rejected") {
				failed++;
				continue;
			}
			if (answer.value) {
				this.#sql.exec("UPDATE gate_holders SET told = 1 WHERE id = ?", id);
			} else {
				// Not taken: the slot is free again (and the gate's count with it).
				this.#held -= this.#sql.exec(
					"DELETE FROM gate_holders WHERE id = ? AND told = 0",
					id,
				).rowsWritten;
			}
		}
		this.#failures = failed > 0 ? this.#failures + 1 : 0;
		const pending = this.#sql.exec("SELECT 1 FROM gate_holders WHERE told = 0 LIMIT 1").toArray();
		if (failed > 0) {
			await this.#storage.setAlarm(now + Math.min(RETRY_MS * this.#failures, 30_000));
		} else if (pending.length > 0 || (this.#queued > 0 && this.#held < this.#limit)) {
			await this.#storage.setAlarm(Date.now());
		}
	}
}
