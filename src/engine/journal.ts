/**
 * The engine object's durable state, in its own SQLite database.
 *
 * - `instance`: one row, the instance's identity, status and final error.
 * - `steps`: the journal, one row per step keyed by (type, name, occurrence), with its state,
 *   attempts, timestamps, the time it is next due (sleep end, retry, timeout) and its final error.
 * - Values (params, step outputs, the workflow's output) live in the synchronous KV store beside
 *   the tables, because it stores them in the structured-clone format: Dates, Maps, Sets and typed
 *   arrays come back as they went in, which SQLite columns cannot do without a serialiser.
 *
 * Every method is synchronous: SQLite-backed storage commits writes made in one turn of the event
 * loop together, and the runtime's output gate holds anything the object sends until they are
 * durable, so a status is never reported before it is written.
 */
import type { SerializedError } from "../errors";
import type { Status } from "./status";

/** Persisted step states; values never change. */
export const StepState = {
	/** Known, not yet attempted (or a retry whose delay has elapsed). */
	Pending: 0,
	/** An attempt was started and has not finished (in flight, or cut off by a crash). */
	Running: 1,
	/** The last attempt failed; the next one is due at `due_at`. */
	Retrying: 2,
	/** A sleep that ends at `due_at`. */
	Sleeping: 3,
	/** An event wait that times out at `due_at`. */
	Waiting: 4,
	/** Finished: a step's output, an elapsed sleep, a received event. */
	Done: 5,
	/** Failed for good: retries exhausted, non-retryable, or timed out waiting. */
	Failed: 6,
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];

export type StepType = "do" | "sleep" | "wait";

export interface InstanceRow {
	id: string;
	workflow: string;
	status: Status;
	createdAt: number;
	startedAt: number | null;
	endedAt: number | null;
	error: SerializedError | null;
}

export interface StepRow {
	seq: number;
	type: StepType;
	name: string;
	count: number;
	state: StepState;
	attempts: number;
	failures: number;
	dueAt: number | null;
	startedAt: number | null;
	endedAt: number | null;
	error: SerializedError | null;
	nonRetryable: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instance (
	singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
	id TEXT NOT NULL,
	workflow TEXT NOT NULL,
	status INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	started_at INTEGER,
	ended_at INTEGER,
	error TEXT,
	alarm_at INTEGER
);
CREATE TABLE IF NOT EXISTS steps (
	seq INTEGER PRIMARY KEY,
	type TEXT NOT NULL,
	name TEXT NOT NULL,
	count INTEGER NOT NULL,
	state INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	failures INTEGER NOT NULL DEFAULT 0,
	due_at INTEGER,
	started_at INTEGER,
	ended_at INTEGER,
	error TEXT,
	non_retryable INTEGER NOT NULL DEFAULT 0,
	UNIQUE (type, name, count)
);
CREATE INDEX IF NOT EXISTS steps_due ON steps (due_at) WHERE due_at IS NOT NULL;
`;

type Row = Record<string, SqlStorageValue>;

function toStep(row: Row): StepRow {
	return {
		seq: row.seq as number,
		type: row.type as StepType,
		name: row.name as string,
		count: row.count as number,
		state: row.state as StepState,
		attempts: row.attempts as number,
		failures: row.failures as number,
		dueAt: row.due_at as number | null,
		startedAt: row.started_at as number | null,
		endedAt: row.ended_at as number | null,
		error: row.error === null ? null : (JSON.parse(row.error as string) as SerializedError),
		nonRetryable: row.non_retryable === 1,
	};
}

const outputKey = (seq: number) => `step:${seq}`;

export class Journal {
	readonly #sql: SqlStorage;
	readonly #kv: SyncKvStorage;

	constructor(storage: DurableObjectStorage) {
		this.#sql = storage.sql;
		this.#kv = storage.kv;
		this.#sql.exec(SCHEMA);
	}

	#one(query: string, ...bindings: SqlStorageValue[]): Row | undefined {
		return this.#sql.exec<Row>(query, ...bindings).toArray()[0];
	}

	// ---- instance ----

	instance(): InstanceRow | undefined {
		const row = this.#one("SELECT * FROM instance");
		if (!row) return undefined;
		return {
			id: row.id as string,
			workflow: row.workflow as string,
			status: row.status as Status,
			createdAt: row.created_at as number,
			startedAt: row.started_at as number | null,
			endedAt: row.ended_at as number | null,
			error: row.error === null ? null : (JSON.parse(row.error as string) as SerializedError),
		};
	}

	createInstance(id: string, workflow: string, status: Status, params: unknown, now: number): void {
		// The KV write comes first: if the params cannot be stored, no instance row is left behind.
		this.#kv.put("params", params);
		this.#sql.exec(
			"INSERT INTO instance (singleton, id, workflow, status, created_at) VALUES (1, ?, ?, ?, ?)",
			id,
			workflow,
			status,
			now,
		);
	}

	params(): unknown {
		return this.#kv.get("params");
	}

	setStatus(status: Status, now: number): void {
		this.#sql.exec(
			`UPDATE instance SET status = ?,
				started_at = COALESCE(started_at, CASE WHEN ? = 1 THEN ? END)
			WHERE singleton = 1`,
			status,
			status,
			now,
		);
	}

	/** Ends the instance: its final status, the time, and the output or error. */
	finish(
		status: Status,
		now: number,
		result: { output: unknown } | { error: SerializedError },
	): void {
		if ("output" in result) this.#kv.put("output", result.output);
		this.#sql.exec(
			"UPDATE instance SET status = ?, ended_at = ?, error = ? WHERE singleton = 1",
			status,
			now,
			"error" in result ? JSON.stringify(result.error) : null,
		);
	}

	output(): unknown {
		return this.#kv.get("output");
	}

	/** The time the engine last asked its alarm for, so an alarm run early (by a test) knows how far it reaches. */
	alarmAt(): number | null {
		return (this.#one("SELECT alarm_at FROM instance")?.alarm_at as number | null) ?? null;
	}

	setAlarmAt(at: number | null): void {
		this.#sql.exec("UPDATE instance SET alarm_at = ? WHERE singleton = 1", at);
	}

	// ---- steps ----

	step(type: StepType, name: string, count: number): StepRow | undefined {
		const row = this.#one(
			"SELECT * FROM steps WHERE type = ? AND name = ? AND count = ?",
			type,
			name,
			count,
		);
		return row && toStep(row);
	}

	stepCount(): number {
		return this.#one("SELECT COUNT(*) AS n FROM steps")?.n as number;
	}

	insertStep(
		type: StepType,
		name: string,
		count: number,
		state: StepState,
		dueAt: number | null,
		now: number,
	): StepRow {
		const row = this.#one(
			`INSERT INTO steps (type, name, count, state, due_at, started_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
			type,
			name,
			count,
			state,
			dueAt,
			now,
		);
		if (!row) throw new Error("steps insert returned no row");
		return toStep(row);
	}

	/** Records that an attempt starts; returns its 1-based number. */
	startAttempt(seq: number, now: number): number {
		const row = this.#one(
			`UPDATE steps SET state = ?, attempts = attempts + 1, due_at = NULL,
				started_at = COALESCE(started_at, ?)
			WHERE seq = ? RETURNING attempts`,
			StepState.Running,
			now,
			seq,
		);
		return row?.attempts as number;
	}

	/** Stores a step's output; throws (and stores nothing) if the value cannot be cloned. */
	succeed(seq: number, output: unknown, now: number): void {
		this.#kv.put(outputKey(seq), output);
		this.#sql.exec(
			"UPDATE steps SET state = ?, ended_at = ?, due_at = NULL WHERE seq = ?",
			StepState.Done,
			now,
			seq,
		);
	}

	stepOutput(seq: number): unknown {
		return this.#kv.get(outputKey(seq));
	}

	/** Records a failed attempt; returns how many attempts of this step have failed. */
	failAttempt(seq: number): number {
		const row = this.#one(
			"UPDATE steps SET failures = failures + 1 WHERE seq = ? RETURNING failures",
			seq,
		);
		return row?.failures as number;
	}

	scheduleRetry(seq: number, dueAt: number): void {
		this.#sql.exec(
			"UPDATE steps SET state = ?, due_at = ? WHERE seq = ?",
			StepState.Retrying,
			dueAt,
			seq,
		);
	}

	/** Marks a step failed for good. */
	fail(seq: number, error: SerializedError, nonRetryable: boolean, now: number): void {
		this.#sql.exec(
			`UPDATE steps SET state = ?, ended_at = ?, due_at = NULL, error = ?, non_retryable = ?
			WHERE seq = ?`,
			StepState.Failed,
			now,
			JSON.stringify(error),
			nonRetryable ? 1 : 0,
			seq,
		);
	}

	/** Marks a sleep elapsed (or, later, an event received). */
	complete(seq: number, now: number): void {
		this.#sql.exec(
			"UPDATE steps SET state = ?, ended_at = ?, due_at = NULL WHERE seq = ?",
			StepState.Done,
			now,
			seq,
		);
	}

	/**
	 * Applies every timer due at or before `threshold`: sleeps become done, retries become
	 * pending. Returns the rows it changed, so a live run can be woken for each.
	 */
	fireDueTimers(threshold: number, now: number): StepRow[] {
		const due = this.#sql
			.exec<Row>(
				"SELECT * FROM steps WHERE due_at IS NOT NULL AND due_at <= ? AND state IN (?, ?)",
				threshold,
				StepState.Sleeping,
				StepState.Retrying,
			)
			.toArray()
			.map(toStep);
		for (const step of due) {
			if (step.state === StepState.Sleeping) this.complete(step.seq, now);
			else
				this.#sql.exec(
					"UPDATE steps SET state = ?, due_at = NULL WHERE seq = ?",
					StepState.Pending,
					step.seq,
				);
		}
		return due;
	}

	/** The earliest pending timer, if any. */
	nextDue(): number | null {
		return (
			(this.#one("SELECT MIN(due_at) AS at FROM steps WHERE due_at IS NOT NULL")?.at as
				| number
				| null) ?? null
		);
	}

	hasRunningSteps(): boolean {
		return (
			this.#one("SELECT 1 FROM steps WHERE state = ? LIMIT 1", StepState.Running) !== undefined
		);
	}
}
