/**
 * The engine object's durable state, in its own SQLite database.
 *
 * - `instance`: one row, the instance's identity, status and final error.
 * - `steps`: the journal, one row per step keyed by (type, name, occurrence), with its state,
 *   attempts, timestamps, the time it is next due (sleep end, retry, timeout) and its final error.
 * - `failed_attempts` (each failed attempt of a step) and `events` (events no wait has taken yet),
 *   created as first needed, like the index of due times (schema.ts).
 * - Values (params, step outputs, the workflow's output): plain data short enough is kept as JSON
 *   text in its row (`*_json` columns, see values.ts); anything else (Dates, Maps, typed arrays,
 *   shared references, cycles, long values) and event payloads go to the synchronous KV store
 *   beside the tables, which keeps the structured-clone format, so they come back as they went in.
 *
 * - `output_chunks` (created as first needed): step outputs stored in parts, a `ReadableStream`'s
 *   bytes or the JSON text of a structured output over 1 MiB (chunks.ts).
 *
 * Storage calls go through store.ts, which tells storage refusing a write (StorageFailure) from
 * other errors.
 *
 * Every method is synchronous: SQLite-backed storage commits writes made in one turn of the event
 * loop together, and the runtime's output gate holds anything the object sends until they are
 * durable, so a status is never reported before it is written.
 */
import type { SerializedError } from "../errors.js";
import type { WorkflowCronSchedule } from "../schedules/cron.js";
import { type ChunkedOutput, chunkedMarker, chunkedOutput, OutputChunks } from "./chunks.js";
import { eventId, latestPoint, Point, positionOf, StartPoint, SUBS } from "./event-ids.js";
import { Schema } from "./schema.js";
import { Status } from "./status.js";
import { STEP_MOVES, type StepMove, StepMoveError, StepState, type StepType } from "./steps.js";
import { type Row, Store } from "./store.js";
import { toJsonText } from "./values.js";

/** Each move's starting states as an SQL list, "(0, 1, 2)": the guard of its UPDATE. */
const FROM = Object.fromEntries(
	Object.entries(STEP_MOVES).map(([move, { from }]) => [move, `(${from.join(", ")})`]),
) as Record<StepMove, string>;

export interface InstanceRow {
	id: string;
	workflow: string;
	status: Status;
	createdAt: number;
	startedAt: number | null;
	endedAt: number | null;
	error: SerializedError | null;
	/** When the status last changed. */
	updatedAt: number;
	/**
	 * Orders listing updates: grows with every status change, and is at least the time in ms ×
	 * 1000, so an instance deleted and created again starts above every version of the old one
	 * (unless that one changed status more than 1,000 times a millisecond).
	 */
	version: number;
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
	/** For event waits: the event type waited for. */
	eventType: string | null;
	/** When the latest attempt started. */
	attemptStartedAt: number | null;
	/** A `step.do` with `sensitive: "output"`: operators see its output redacted. */
	sensitive: boolean;
	/** For sleeps: how long it was for (ms), as `sleep_started` reports it; null in rows older than subscribe(). */
	sleepMs: number | null;
	/**
	 * A `step.do`'s (or rollback handler's) config as `step_started` reports it, JSON text (see
	 * stepConfigJson); null for the default config, "?" in rows older than this column.
	 */
	config: string | null;
}

/** A rollback in progress: the status the instance ends in, and the error the handlers receive. */
export interface RollbackPlan {
	end: typeof Status.Errored | typeof Status.Terminated;
	error: SerializedError;
}

/** An attempt of a step that failed (or timed out), as the history shows it. */
export interface FailedAttemptRow {
	seq: number;
	attempt: number;
	startedAt: number | null;
	endedAt: number;
	error: SerializedError;
	/** The delay before the next attempt (ms), once chosen; null if none follows (or not known). */
	retryDelayMs: number | null;
}

/** A status change that the other rows do not tell (see Journal.setStatus), as its event shows it. */
export interface StatusEventRow {
	/** The id of its event (event-ids.ts). */
	id: number;
	status: Status;
	at: number;
}

/** The start of an attempt cut off by a crash or an eviction (see Journal.keepCutAttempt). */
export interface CutAttemptRow {
	seq: number;
	attempt: number;
	startedAt: number;
}

/** An event as `step.waitForEvent` delivers it. */
export interface ReceivedEvent {
	payload: unknown;
	timestamp: Date;
	type: string;
}

/**
 * The instance row without its values (params and output can be large). One statement for every
 * read of the row: workerd compiles each distinct statement once per object.
 */
const INSTANCE_ROW = `SELECT singleton, id, workflow, status, created_at, started_at, ended_at, error,
	alarm_at, success_retention, error_retention, updated_at, version FROM instance`;

/** Errors are stored as JSON text: `{ name, message, code? }`. */
function storedError(value: SqlStorageValue | undefined): SerializedError | null {
	return typeof value === "string" ? (JSON.parse(value) as SerializedError) : null;
}

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
		error: storedError(row.error),
		nonRetryable: row.non_retryable === 1,
		eventType: row.event_type as string | null,
		attemptStartedAt: row.attempt_started_at as number | null,
		sensitive: row.sensitive === 1,
		sleepMs: (row.sleep_ms as number | null | undefined) ?? null,
		config: (row.config_json as string | null | undefined) ?? null,
	};
}

function toFailedAttempt(row: Row): FailedAttemptRow {
	return {
		seq: row.seq as number,
		attempt: row.attempt as number,
		startedAt: row.started_at as number | null,
		endedAt: row.ended_at as number,
		error: storedError(row.error) as SerializedError,
		retryDelayMs: (row.retry_delay_ms as number | null | undefined) ?? null,
	};
}

const outputKey = (seq: number) => `step:${seq}`;
const eventKey = (seq: number) => `event:${seq}`;

export class Journal {
	readonly #store: Store;

	/** Which tables exist: all but the instance's two are created as first needed (schema.ts). */
	readonly #schema: Schema;

	/** Told after each write that changes what an observer sees: the status (named), or a step's outcome. */
	readonly #changed: (status?: Status) => void;

	/**
	 * Told after each write a subscriber's events come from (events.ts): a step, an attempt, a
	 * status. Cheap: the engine only wakes the subscribers waiting for more, if any.
	 */
	readonly #wrote: () => void;

	/** Step outputs stored in chunks: a stream's bytes as it is read, or a long JSON text. */
	readonly chunks: OutputChunks;

	/**
	 * The journal position the next new entry takes, once known: the one SQLite would choose for
	 * `seq` (the largest in use + 1). Kept here so that an insert names it and needs no RETURNING
	 * (a statement that answers rows costs a step about 2 µs more). Undefined until read, and again
	 * whenever entries are deleted; only this object writes its journal.
	 */
	#nextSeq: number | undefined;

	constructor(
		storage: DurableObjectStorage,
		onChange: (status?: Status) => void = () => {},
		onWrite: () => void = () => {},
	) {
		this.#changed = onChange;
		this.#wrote = onWrite;
		this.#store = new Store(storage);
		this.#schema = new Schema((query) => this.#store.run(query).rows);
		this.chunks = new OutputChunks(this.#store, this.#schema);
	}

	/** Deletes everything the instance stored (the alarm aside). */
	async destroy(): Promise<void> {
		await this.#store.deleteAll();
		this.#schema.forget();
		this.#nextSeq = undefined;
		this.#wrote();
		this.#changed();
	}

	// ---- instance ----

	instance(): InstanceRow | undefined {
		if (!this.#schema.has("core")) return undefined;
		const row = this.#store.one(INSTANCE_ROW);
		if (!row) return undefined;
		return {
			id: row.id as string,
			workflow: row.workflow as string,
			status: row.status as Status,
			createdAt: row.created_at as number,
			startedAt: row.started_at as number | null,
			endedAt: row.ended_at as number | null,
			error: storedError(row.error),
			updatedAt: row.updated_at as number,
			version: row.version as number,
		};
	}

	/**
	 * Stores a new instance in one statement (its params, if not plain data, in KV first).
	 * `createdAt`: when the caller created it (the time its listing row has), by default `now`.
	 */
	createInstance(
		id: string,
		workflow: string,
		status: Status,
		params: unknown,
		now: number,
		createdAt = now,
		retention?: { success: number | null; error: number | null },
		schedule?: WorkflowCronSchedule,
	): void {
		// Tables created here hold no step yet: the first takes position 1.
		if (!this.#schema.has("core")) this.#nextSeq = 1;
		this.#schema.ensure("core");
		// The KV write comes first: if the params cannot be stored, no instance row is left behind.
		const json = this.#store.put("params", params);
		this.#store.run(
			`INSERT INTO instance (singleton, id, workflow, status, created_at, started_at, updated_at,
				version, params_json, success_retention, error_retention, schedule_json)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id,
			workflow,
			status,
			createdAt,
			status === Status.Running ? now : null,
			now,
			now * 1000,
			json,
			retention?.success ?? null,
			retention?.error ?? null,
			schedule ? JSON.stringify(schedule) : null,
		);
		this.#wrote();
		this.#changed(status);
	}

	/** The tick that created the instance, if a cron schedule did (its `event.schedule`). */
	schedule(): WorkflowCronSchedule | undefined {
		const json = this.#store.one("SELECT schedule_json FROM instance")?.schedule_json;
		return typeof json === "string" ? (JSON.parse(json) as WorkflowCronSchedule) : undefined;
	}

	params(): unknown {
		return this.#store.get(
			this.#store.one("SELECT params_json FROM instance")?.params_json,
			"params",
		);
	}

	/**
	 * Records a status change. Unless `record` is false (a restart's: its run starts anew), a change
	 * that the other rows do not tell is kept for its event (see #recordStatus).
	 */
	setStatus(status: Status, now: number, record = true): void {
		if (record) this.#recordStatus(status, now);
		this.#store.write(
			`UPDATE instance SET status = ?,
				started_at = COALESCE(started_at, CASE WHEN ? THEN ? END),
				updated_at = ?, version = MAX(version + 1, ? * 1000)
			WHERE singleton = 1`,
			status,
			status === Status.Running ? 1 : 0,
			now,
			now,
			now,
		);
		this.#wrote();
		this.#changed(status);
	}

	/**
	 * Keeps a status change for its `workflow_*` event (events.ts), unless the instance's other rows
	 * tell it already: its first start (`started_at`) and its end are not written here, and
	 * `rollingBack` has no event. Its id places it right after the latest event of the instance at
	 * this moment, as a reader delivers them: of the first step (in journal order) that has not
	 * ended, or in the gap after the last step if every step has ended, or after
	 * `workflow_queued` if the run has not started; after the status changes already there. No
	 * subscriber can have gone past that id (events.ts), and it never moves.
	 */
	#recordStatus(status: Status, now: number): void {
		if (status === Status.RollingBack) return;
		const started = this.#store.one("SELECT started_at FROM instance")?.started_at != null;
		if (!started && status === Status.Running) return;
		this.#schema.ensure("statuses");
		let point: number;
		if (!started) point = eventId(0, StartPoint.Queued);
		else {
			// Steps before the last status change's had all ended then, and stay so: the search
			// starts there.
			const last = this.#store.one("SELECT MAX(id) AS id FROM status_events")?.id;
			const open = this.#store.one(
				`SELECT seq, type, state, attempts, failures FROM steps
				WHERE seq >= ? AND state NOT IN (?, ?) ORDER BY seq LIMIT 1`,
				typeof last === "number" ? positionOf(last) : 0,
				StepState.Done,
				StepState.Failed,
			);
			point = open
				? eventId(
						open.seq as number,
						latestPoint({
							type: open.type as StepType,
							state: open.state as StepState,
							attempts: open.attempts as number,
							failures: open.failures as number,
						}),
					)
				: eventId(this.lastSeq() + 1, Point.Gap);
		}
		const top = this.#store.one(
			"SELECT MAX(id) AS id FROM status_events WHERE id > ? AND id < ?",
			point,
			point + SUBS,
		)?.id;
		const id = (typeof top === "number" ? top : point) + 1;
		// A point's 1,023 ids for status changes are spent (a pause and resume repeated that often
		// within one step's moment): the rest of them there are not kept.
		if (id >= point + SUBS) return;
		this.#store.run("INSERT INTO status_events (id, status, at) VALUES (?, ?, ?)", id, status, now);
	}

	/** The status changes kept for their events (see #recordStatus) with ids from `from` to before `to`. */
	statusEventsBetween(from: number, to: number): StatusEventRow[] {
		if (!this.#schema.has("statuses") || to <= from) return [];
		return this.#store
			.run<Row>(
				"SELECT id, status, at FROM status_events WHERE id >= ? AND id < ? ORDER BY id",
				from,
				to,
			)
			.rows.map((row) => ({
				id: row.id as number,
				status: row.status as Status,
				at: row.at as number,
			}));
	}

	/** Ends the instance: its final status, the time, and the output or error (neither when terminated). */
	finish(
		status: Status,
		now: number,
		result: { output: unknown } | { error: SerializedError } | null,
	): void {
		const json = result && "output" in result ? this.#store.put("output", result.output) : null;
		this.#store.write(
			`UPDATE instance SET status = ?, ended_at = ?, error = ?, output_json = ?,
				updated_at = ?, version = MAX(version + 1, ? * 1000)
			WHERE singleton = 1`,
			status,
			now,
			result && "error" in result ? JSON.stringify(result.error) : null,
			json,
			now,
			now,
		);
		this.#wrote();
		this.#changed(status);
	}

	output(): unknown {
		return this.#store.get(
			this.#store.one("SELECT output_json FROM instance")?.output_json,
			"output",
		);
	}

	// ---- rollback ----

	/**
	 * Records the rollback about to run (written only then, in KV: instances that never roll back
	 * pay nothing): how the instance ends once its handlers have run, and the error they receive.
	 */
	startRollback(plan: RollbackPlan): void {
		this.#store.kvPut("rollback", plan);
	}

	/** The rollback in progress, if any (read only while the instance is rollingBack). */
	rollbackPlan(): RollbackPlan | undefined {
		return this.#store.kvGet("rollback") as RollbackPlan | undefined;
	}

	/** Forgets the rollback (it ended, or the instance restarts). */
	endRollback(): void {
		this.#store.kvDelete("rollback");
	}

	/** The time the engine last asked its alarm for, so an alarm run early (by a test) knows how far it reaches. */
	alarmAt(): number | null {
		if (!this.#schema.has("core")) return null;
		// The same statement as instance(): each distinct statement is compiled once per object.
		return (this.#store.one(INSTANCE_ROW)?.alarm_at as number | null) ?? null;
	}

	setAlarmAt(at: number | null): void {
		this.#store.write("UPDATE instance SET alarm_at = ? WHERE singleton = 1", at);
	}

	// ---- steps ----

	step(type: StepType, name: string, count: number): StepRow | undefined {
		const row = this.#store.one(
			"SELECT * FROM steps WHERE type = ? AND name = ? AND count = ?",
			type,
			name,
			count,
		);
		return row && toStep(row);
	}

	/** A step by name and occurrence, of `type` if given, else of whichever type came first. */
	findStep(name: string, count: number, type?: StepType): StepRow | undefined {
		if (type) return this.step(type, name, count);
		const row = this.#store.one(
			"SELECT * FROM steps WHERE name = ? AND count = ? ORDER BY seq LIMIT 1",
			name,
			count,
		);
		return row && toStep(row);
	}

	stepCount(): number {
		return this.#store.one("SELECT COUNT(*) AS n FROM steps")?.n as number;
	}

	/** How many entries run() itself made (steps, sleeps, event waits): all but rollback handlers. */
	forwardStepCount(): number {
		return this.#store.one("SELECT COUNT(*) AS n FROM steps WHERE type != 'rollback'")?.n as number;
	}

	/**
	 * A new journal entry. `attempts`: 1 for a step whose first attempt starts now, which saves
	 * recording it with a second statement.
	 */
	insertStep(
		type: StepType,
		name: string,
		count: number,
		state: StepState,
		dueAt: number | null,
		now: number,
		eventType: string | null = null,
		attempts = 0,
		sensitive = false,
		config: string | null = null,
	): StepRow {
		if (dueAt !== null) this.#schema.ensure("timers");
		const sleepMs = type === "sleep" && dueAt !== null ? Math.max(0, dueAt - now) : null;
		const seq = this.#nextSeq ?? this.lastSeq() + 1;
		this.#store.write(
			`INSERT INTO steps (seq, type, name, count, state, attempts, due_at, started_at, event_type,
				attempt_started_at, sensitive, sleep_ms, config_json)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			seq,
			type,
			name,
			count,
			state,
			attempts,
			dueAt,
			now,
			eventType,
			attempts > 0 ? now : null,
			sensitive ? 1 : 0,
			sleepMs,
			config,
		);
		// Moved on only once the row is in: a refused insert leaves the position free.
		this.#nextSeq = seq + 1;
		this.#wrote();
		// The new row is what was just written plus the columns' defaults: no need to read it back.
		return {
			seq,
			type,
			name,
			count,
			state,
			attempts,
			failures: 0,
			dueAt,
			startedAt: now,
			endedAt: null,
			error: null,
			nonRetryable: false,
			eventType,
			attemptStartedAt: attempts > 0 ? now : null,
			sensitive,
			sleepMs,
			config,
		};
	}

	/** Records that an attempt starts; returns its 1-based number. */
	startAttempt(seq: number, now: number): number {
		const row = this.#store.one(
			`UPDATE steps SET state = ?, attempts = attempts + 1, due_at = NULL,
				started_at = COALESCE(started_at, ?), attempt_started_at = ?
			WHERE seq = ? AND state IN ${FROM.startAttempt} RETURNING attempts`,
			STEP_MOVES.startAttempt.to,
			now,
			now,
			seq,
		);
		if (!row) throw new StepMoveError("startAttempt", seq);
		this.#wrote();
		return row.attempts as number;
	}

	/** Stores a step's output; throws (and stores nothing) if the value cannot be cloned. */
	succeed(seq: number, output: unknown, now: number): void {
		const json = toJsonText(output);
		const move = () =>
			this.#move("succeed", seq, "ended_at = ?, due_at = NULL, output_json = ?", now, json);
		// A value for the KV store is written in one transaction with the move, so that a refused
		// move (or a refused value) leaves both as they were. Plain data needs only the statement.
		if (json === null) {
			this.#store.transaction(() => {
				this.#store.kvPut(outputKey(seq), output);
				move();
			});
		} else move();
		this.#wrote();
		this.#changed();
	}

	stepOutput(seq: number): unknown {
		const json = this.#store.one("SELECT output_json FROM steps WHERE seq = ?", seq)?.output_json;
		const chunked = chunkedOutput(json);
		return chunked ? this.chunks.read(seq, chunked) : this.#store.get(json, outputKey(seq));
	}

	/** How step `seq`'s output is stored in chunks, if it is (without reading them). */
	chunkedOutput(seq: number): ChunkedOutput | undefined {
		return chunkedOutput(
			this.#store.one("SELECT output_json FROM steps WHERE seq = ?", seq)?.output_json,
		);
	}

	/**
	 * Completes step `seq` with an output stored in chunks. For a stream, the chunks are already
	 * written (writeChunk); for a structured value, `text` is its JSON text, written here in one
	 * transaction with the move, so a refused write leaves neither.
	 */
	succeedChunked(seq: number, output: ChunkedOutput, now: number, text?: Uint8Array): void {
		const move = () =>
			this.#move(
				"succeed",
				seq,
				"ended_at = ?, due_at = NULL, output_json = ?",
				now,
				chunkedMarker(output),
			);
		if (text === undefined) move();
		else {
			this.#store.transaction(() => {
				this.chunks.writeText(seq, text);
				move();
			});
		}
		this.#changed();
	}

	/** Records a failed attempt and its error; returns how many attempts of this step have failed. */
	failAttempt(seq: number, error: SerializedError, now: number): number {
		const row = this.#store.one(
			`UPDATE steps SET failures = failures + 1 WHERE seq = ?
			RETURNING failures, attempts, attempt_started_at`,
			seq,
		);
		this.#schema.ensure("failures");
		this.#store.run(
			"INSERT OR REPLACE INTO failed_attempts (seq, attempt, started_at, ended_at, error) VALUES (?, ?, ?, ?, ?)",
			seq,
			row?.attempts as number,
			row?.attempt_started_at as number | null,
			now,
			JSON.stringify(error),
		);
		this.#wrote();
		return row?.failures as number;
	}

	/**
	 * Keeps the start time of step `seq`'s latest attempt if it was cut off (started, and neither
	 * failed nor succeeded), before the next attempt's start overwrites it. Only an attempt that
	 * starts over a cut-off one calls this: nothing is written on the usual path.
	 */
	keepCutAttempt(seq: number): void {
		this.#schema.ensure("cuts");
		this.#store.run(
			`INSERT OR REPLACE INTO cut_attempts (seq, attempt, started_at)
			SELECT seq, attempts, attempt_started_at FROM steps
			WHERE seq = ? AND attempts > failures AND attempt_started_at IS NOT NULL`,
			seq,
		);
	}

	/** The start times of the cut-off attempts of the steps from position `from` to `to`. */
	cutAttemptsBetween(from: number, to: number): CutAttemptRow[] {
		if (!this.#schema.has("cuts")) return [];
		return this.#store
			.run<Row>(
				"SELECT seq, attempt, started_at FROM cut_attempts WHERE seq BETWEEN ? AND ?",
				from,
				to,
			)
			.rows.map((row) => ({
				seq: row.seq as number,
				attempt: row.attempt as number,
				startedAt: row.started_at as number,
			}));
	}

	/** Every step in the order the run first met them. */
	steps(): StepRow[] {
		return this.#store.run<Row>("SELECT * FROM steps ORDER BY seq").rows.map(toStep);
	}

	/** At most `limit` steps from journal position `seq` on, in order (the events, events.ts). */
	stepsFrom(seq: number, limit: number): StepRow[] {
		return this.#store
			.run<Row>("SELECT * FROM steps WHERE seq >= ? ORDER BY seq LIMIT ?", seq, limit)
			.rows.map(toStep);
	}

	/** The failed attempts of the steps from position `from` to `to`, by step and attempt. */
	failedAttemptsBetween(from: number, to: number): FailedAttemptRow[] {
		if (!this.#schema.has("failures")) return [];
		return this.#store
			.run<Row>(
				"SELECT * FROM failed_attempts WHERE seq BETWEEN ? AND ? ORDER BY seq, attempt",
				from,
				to,
			)
			.rows.map(toFailedAttempt);
	}

	/** The journal position of the first rollback handler that ran, or null. */
	firstRollbackSeq(): number | null {
		return (this.#store.one("SELECT MIN(seq) AS seq FROM steps WHERE type = 'rollback'")?.seq ??
			null) as number | null;
	}

	/** Whether a rollback handler failed for good. */
	rollbackFailed(): boolean {
		return (
			this.#store.one(
				"SELECT 1 AS failed FROM steps WHERE type = 'rollback' AND state = ? LIMIT 1",
				StepState.Failed,
			) !== undefined
		);
	}

	/** The last journal position in use, 0 with no steps. */
	lastSeq(): number {
		return (this.#store.one("SELECT MAX(seq) AS seq FROM steps")?.seq ?? 0) as number;
	}

	/** Every failed attempt, by step and attempt. */
	failedAttempts(): FailedAttemptRow[] {
		if (!this.#schema.has("failures")) return [];
		return this.#store
			.run<Row>("SELECT * FROM failed_attempts ORDER BY seq, attempt")
			.rows.map(toFailedAttempt);
	}

	/** The next attempt of step `seq` is due at `dueAt`, `delayMs` after its failed one (for its event). */
	scheduleRetry(seq: number, dueAt: number, delayMs: number): void {
		this.#schema.ensure("timers");
		this.#move("scheduleRetry", seq, "due_at = ?", dueAt);
		this.#store.run(
			`UPDATE failed_attempts SET retry_delay_ms = ?
			WHERE seq = ? AND attempt = (SELECT attempts FROM steps WHERE seq = ?)`,
			delayMs,
			seq,
			seq,
		);
		this.#wrote();
	}

	/** Marks a step failed for good. */
	fail(seq: number, error: SerializedError, nonRetryable: boolean, now: number): void {
		this.#move(
			"fail",
			seq,
			"ended_at = ?, due_at = NULL, error = ?, non_retryable = ?",
			now,
			JSON.stringify(error),
			nonRetryable ? 1 : 0,
		);
		this.#wrote();
		this.#changed();
	}

	/** Marks a sleep elapsed (or, later, an event received). */
	complete(seq: number, now: number): void {
		this.#move("complete", seq, "ended_at = ?, due_at = NULL", now);
		this.#wrote();
		this.#changed();
	}

	/** Every pending timer (sleep end, retry, event timeout) due at or before `threshold`. */
	dueTimers(threshold: number): StepRow[] {
		return this.#store
			.run<Row>(
				"SELECT * FROM steps WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, seq",
				threshold,
			)
			.rows.map(toStep);
	}

	/** A retry whose delay has elapsed: the next attempt may start. */
	readyForRetry(seq: number): void {
		this.#move("readyForRetry", seq, "due_at = NULL");
	}

	/**
	 * Moves step `seq` as `move` says (steps.ts), setting `set` (SQL assignments, with `values`
	 * for their placeholders) in the same statement; throws StepMoveError if the step was not in a
	 * state that move may start from.
	 */
	#move(move: StepMove, seq: number, set: string, ...values: SqlStorageValue[]): void {
		const written = this.#store.write(
			`UPDATE steps SET state = ?, ${set} WHERE seq = ? AND state IN ${FROM[move]}`,
			STEP_MOVES[move].to,
			...values,
			seq,
		);
		if (written === 0) throw new StepMoveError(move, seq);
	}

	/** The earliest pending timer, if any. */
	nextDue(): number | null {
		return (
			(this.#store.one("SELECT MIN(due_at) AS at FROM steps WHERE due_at IS NOT NULL")?.at as
				| number
				| null) ?? null
		);
	}

	// ---- events ----

	/** Buffers an event that no wait has taken yet. */
	bufferEvent(type: string, payload: unknown, now: number): void {
		this.#schema.ensure("events");
		// One transaction: a buffered event always has its payload.
		this.#store.transaction(() => {
			const row = this.#store.one(
				"INSERT INTO events (type, received_at) VALUES (?, ?) RETURNING seq",
				type,
				now,
			);
			this.#store.kvPut(eventKey(row?.seq as number), payload);
		});
	}

	/**
	 * Completes event wait `seq` with the oldest buffered event of `type`, if there is one; false
	 * if not. One transaction: the event leaves the buffer only as the wait receives it.
	 */
	deliverBuffered(seq: number, type: string, now: number): boolean {
		if (!this.#schema.has("events")) return false;
		return this.#store.transaction(() => {
			const row = this.#store.one("SELECT * FROM events WHERE type = ? ORDER BY seq LIMIT 1", type);
			if (!row) return false;
			const buffered = row.seq as number;
			const payload = this.#store.kvGet(eventKey(buffered));
			this.#store.kvDelete(eventKey(buffered));
			this.#store.run("DELETE FROM events WHERE seq = ?", buffered);
			this.deliver(seq, { payload, timestamp: new Date(row.received_at as number), type }, now);
			return true;
		});
	}

	/** The oldest event wait still open for `type`, if any. */
	openWait(type: string): StepRow | undefined {
		const row = this.#store.one(
			"SELECT * FROM steps WHERE type = 'wait' AND state = ? AND event_type = ? ORDER BY seq LIMIT 1",
			StepState.Waiting,
			type,
		);
		return row && toStep(row);
	}

	/** Completes an event wait with the event it received. */
	deliver(seq: number, event: ReceivedEvent, now: number): void {
		// An event has a Date: it goes to the KV store, in one transaction with the move.
		this.#store.transaction(() => {
			this.#store.kvPut(outputKey(seq), event);
			this.complete(seq, now);
		});
	}

	bufferedEvents(): number {
		if (!this.#schema.has("events")) return 0;
		return this.#store.one("SELECT COUNT(*) AS n FROM events")?.n as number;
	}

	// ---- restart and retention ----

	/**
	 * Forgets every step from `fromSeq` on (all of them by default) and the instance's result,
	 * so the run starts again with the same id and params. A full restart also drops buffered
	 * events: they were sent to the run being discarded. A restart from a step keeps them, and
	 * events already delivered to the waits it erases are gone with those waits.
	 */
	reset(fromSeq = 0): void {
		this.#nextSeq = undefined;
		const seqs = this.#store
			.run<Row>("SELECT seq FROM steps WHERE seq >= ? AND output_json IS NULL", fromSeq)
			.rows.map((row) => row.seq as number);
		for (const seq of seqs) this.#store.kvDelete(outputKey(seq));
		this.#store.run("DELETE FROM steps WHERE seq >= ?", fromSeq);
		if (this.#schema.has("chunks"))
			this.#store.run("DELETE FROM output_chunks WHERE seq >= ?", fromSeq);
		if (this.#schema.has("failures"))
			this.#store.run("DELETE FROM failed_attempts WHERE seq >= ?", fromSeq);
		if (this.#schema.has("cuts"))
			this.#store.run("DELETE FROM cut_attempts WHERE seq >= ?", fromSeq);
		// The status changes of the steps erased, and those before the run's start (it starts anew).
		if (this.#schema.has("statuses"))
			this.#store.run(
				"DELETE FROM status_events WHERE id >= ? OR id < ?",
				eventId(fromSeq, Point.Gap),
				eventId(0, StartPoint.Started),
			);
		// A kept step whose attempt was in flight starts over: that attempt was not interrupted.
		this.#store.run(
			`UPDATE steps SET state = ?, attempts = failures WHERE state IN ${FROM.reset}`,
			STEP_MOVES.reset.to,
		);
		if (fromSeq === 0 && this.#schema.has("events")) {
			for (const row of this.#store.run<Row>("SELECT seq FROM events").rows) {
				this.#store.kvDelete(eventKey(row.seq as number));
			}
			this.#store.run("DELETE FROM events");
		}
		this.#store.kvDelete("output");
		this.endRollback();
		this.#store.run(
			"UPDATE instance SET started_at = NULL, ended_at = NULL, error = NULL, output_json = NULL WHERE singleton = 1",
		);
		this.#wrote();
		this.#changed();
	}

	/** How long a finished instance is kept, by how it ended; null keeps it until deleted. */
	retention(): { success: number | null; error: number | null } {
		const row = this.#store.one(INSTANCE_ROW);
		return {
			success: (row?.success_retention as number | null) ?? null,
			error: (row?.error_retention as number | null) ?? null,
		};
	}
}
