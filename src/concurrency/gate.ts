/**
 * A workflow's concurrency gate: who holds its slots and who queues for one, first in first out
 * (docs/limits.md, "Concurrency limits"). One engine object of the workflow's own namespace hosts
 * it, under a name no instance id can take ({@link GATE_NAME}), as listing shards are hosted.
 *
 * Instances ask for a slot (`want`) and give it back (`release`), each call idempotent. A slot
 * that frees goes to the oldest queued instance in the same commit as the release that freed it,
 * and the gate tells that instance (`admit`) at once, without waiting for its answer; the same
 * commit sets the gate's alarm, which tells again every admission not yet answered. So a queued
 * instance is admitted whatever the requests (by the alarm, across restarts of either side), and
 * everything here is in the object's SQLite database.
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

/**
 * The backstop: an admission granted and not yet answered is told again by the alarm this long
 * after (ms), at most (a gate that crashed before telling, an instance that did not answer).
 */
const RETELL_MS = 1_000;

/** True if the object's database holds a gate (an alarm of an object that hosts no instance). */
export function hostsGate(sql: SqlStorage): boolean {
	return (
		sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gate_queue'").toArray()
			.length > 0
	);
}

/** What the gate needs of the object that hosts it. */
export interface GateHost {
	/** Tells instance `id` that it holds a slot: true if it took it. */
	admit(id: string): Promise<boolean>;
	/** Keeps the object alive until `promise` settles (ctx.waitUntil). */
	waitUntil(promise: Promise<unknown>): void;
}

export class ConcurrencyGate {
	readonly #storage: DurableObjectStorage;
	readonly #sql: SqlStorage;
	readonly #limit: number;
	readonly #host: GateHost;
	/** Slots held, counted once as the gate opens and kept since. */
	#held: number;
	#queued: number;
	/** Admissions being told now (in memory: after a crash, the alarm tells them again). */
	readonly #telling = new Set<string>();
	/** Failed tells in a row, for the backstop's delay. */
	#failures = 0;
	/** When this object set its alarm for (undefined: not known, or it fired since). */
	#alarmAt: number | undefined;

	constructor(storage: DurableObjectStorage, limit: number, host: GateHost) {
		this.#storage = storage;
		this.#sql = storage.sql;
		this.#limit = limit;
		this.#host = host;
		this.#sql.exec(SCHEMA);
		this.#held = this.#count("gate_holders");
		this.#queued = this.#count("gate_queue");
	}

	#count(table: "gate_holders" | "gate_queue"): number {
		return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
	}

	/**
	 * Instance `id` wants a slot. Every call leaves the gate full or its queue empty (see #fill),
	 * so a free slot goes to the caller only when nobody queues before it.
	 */
	want(id: string, now: number): WantAnswer {
		const holder = this.#sql
			.exec<{ told: number }>("SELECT told FROM gate_holders WHERE id = ?", id)
			.toArray()[0];
		if (holder) {
			// Granted already, and told now by this answer.
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
		this.#fill(now);
		return "queued";
	}

	/** Instance `id` gives its slot or its queue place back; the slots freed go to the next in line. */
	release(id: string, now: number): void {
		this.#held -= this.#sql.exec("DELETE FROM gate_holders WHERE id = ?", id).rowsWritten;
		this.#queued -= this.#sql.exec("DELETE FROM gate_queue WHERE id = ?", id).rowsWritten;
		this.#fill(now);
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

	/**
	 * Grants the free slots to the oldest queued instances, in the caller's commit, and tells them
	 * at once without waiting for their answers. The same commit sets the alarm as the backstop
	 * that tells them again if they have not answered by then (a crash of either side).
	 */
	#fill(now: number): void {
		const free = this.#limit - this.#held;
		if (free <= 0 || this.#queued === 0) return;
		const granted = this.#sql
			.exec<{ id: string }>(
				"DELETE FROM gate_queue WHERE seq IN (SELECT seq FROM gate_queue ORDER BY seq LIMIT ?) RETURNING id",
				free,
			)
			.toArray();
		for (const { id } of granted)
			this.#sql.exec("INSERT INTO gate_holders (id, granted_at, told) VALUES (?, ?, 0)", id, now);
		this.#held += granted.length;
		this.#queued -= granted.length;
		this.#backstop(now + RETELL_MS);
		for (const { id } of granted) this.#tell(id);
	}

	/**
	 * Sets the alarm for `at` (in the caller's commit) unless it is set for earlier already, so
	 * that a steady flow of grants cannot keep putting the backstop off.
	 */
	#backstop(at: number): void {
		if (this.#alarmAt !== undefined && this.#alarmAt <= at) return;
		this.#alarmAt = at;
		void this.#storage.setAlarm(at);
	}

	/** Tells instance `id` it was granted a slot; its answer is recorded when it comes. */
	#tell(id: string): void {
		if (this.#telling.has(id)) return;
		this.#telling.add(id);
		const told = this.#host.admit(id).then(
			(taken) => {
				this.#telling.delete(id);
				this.#failures = 0;
				if (taken) {
					this.#sql.exec("UPDATE gate_holders SET told = 1 WHERE id = ? AND told = 0", id);
					return;
				}
				// Not taken (deleted, paused or terminated meanwhile): the slot goes to the next in line.
				this.#held -= this.#sql.exec(
					"DELETE FROM gate_holders WHERE id = ? AND told = 0",
					id,
				).rowsWritten;
				this.#fill(Date.now());
			},
			(error: unknown) => {
				this.#telling.delete(id);
				this.#failures++;
				console.error(
					`do-workflows: the concurrency gate could not tell instance "${id}" it holds a slot (${(error as Error)?.message ?? error}); its alarm tries again`,
				);
			},
		);
		this.#host.waitUntil(told);
	}

	/**
	 * The alarm, the backstop: grants free slots (none are, unless a crash came between a release
	 * and its grants) and tells again every admission granted and not answered, without waiting
	 * for the answers; it runs again while some are unanswered.
	 */
	async alarm(now: number): Promise<void> {
		this.#alarmAt = undefined;
		this.#fill(now);
		const untold = this.#sql
			.exec<{ id: string }>("SELECT id FROM gate_holders WHERE told = 0 LIMIT ?", ADMIT_BATCH)
			.toArray();
		for (const { id } of untold) this.#tell(id);
		if (untold.length > 0) this.#backstop(now + Math.min(RETELL_MS * (1 + this.#failures), 30_000));
	}
}
