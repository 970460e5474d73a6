/**
 * The tables of the engine object's database (see journal.ts for what each holds), and when each
 * is created.
 *
 * A shortcut for speed: only the `instance` and `steps` tables are created with the instance.
 * The others wait for what needs them: the index of due times for the first timer (a sleep, an
 * event wait, a retry delay), `failed_attempts` for the first failed attempt, `events` for the
 * first buffered event, `cut_attempts` for the first attempt cut off by a crash, `status_events`
 * for the first status change that the other rows do not tell (a wait, a pause). Most instances never need some of them, and each table or index costs a
 * new object time to create (docs/architecture.md, "Shortcuts for speed"). Looking up an unknown
 * id reads the schema and writes nothing.
 */

const CORE = `
CREATE TABLE IF NOT EXISTS instance (
	singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
	id TEXT NOT NULL,
	workflow TEXT NOT NULL,
	status INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	started_at INTEGER,
	ended_at INTEGER,
	error TEXT,
	alarm_at INTEGER,
	success_retention INTEGER,
	error_retention INTEGER,
	updated_at INTEGER NOT NULL,
	version INTEGER NOT NULL,
	params_json TEXT,
	output_json TEXT,
	schedule_json TEXT
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
	event_type TEXT,
	attempt_started_at INTEGER,
	output_json TEXT,
	sensitive INTEGER NOT NULL DEFAULT 0,
	sleep_ms INTEGER,
	config_json TEXT,
	UNIQUE (type, name, count)
);
`;

const TIMERS = "CREATE INDEX IF NOT EXISTS steps_due ON steps (due_at) WHERE due_at IS NOT NULL";

const FAILURES = `
CREATE TABLE IF NOT EXISTS failed_attempts (
	seq INTEGER NOT NULL,
	attempt INTEGER NOT NULL,
	started_at INTEGER,
	ended_at INTEGER NOT NULL,
	error TEXT NOT NULL,
	retry_delay_ms INTEGER,
	PRIMARY KEY (seq, attempt)
);
`;

const EVENTS = `
CREATE TABLE IF NOT EXISTS events (
	seq INTEGER PRIMARY KEY,
	type TEXT NOT NULL,
	received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, seq);
`;

/**
 * The chunks of step outputs stored in parts: a `ReadableStream`'s bytes, or the JSON text of a
 * structured output over 1 MiB (an engine's `maxStepOutputBytes`). A step's chunks count only once
 * its row says so (its `output_json` names them), in the move that completes it.
 */
const CHUNKS = `
CREATE TABLE IF NOT EXISTS output_chunks (
	seq INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	bytes BLOB NOT NULL,
	PRIMARY KEY (seq, idx)
);
`;

/**
 * The start times of attempts cut off by a crash or an eviction, kept as the next attempt of the
 * step starts (the step's row keeps its latest attempt's only), so that their `attempt_started`
 * events (events.ts) keep the time a subscriber may have read already.
 */
const CUTS = `
CREATE TABLE IF NOT EXISTS cut_attempts (
	seq INTEGER NOT NULL,
	attempt INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	PRIMARY KEY (seq, attempt)
);
`;

/**
 * The instance's status changes that its other rows do not tell (events.ts): every one but its
 * creation, its first start and its end, keyed by the id of the `workflow_*` event each is
 * (event-ids.ts).
 */
const STATUSES = `
CREATE TABLE IF NOT EXISTS status_events (
	id INTEGER PRIMARY KEY,
	status INTEGER NOT NULL,
	at INTEGER NOT NULL
);
`;

/** A part of the schema, created when first needed. */
export type SchemaPart = "core" | "timers" | "failures" | "events" | "chunks" | "cuts" | "statuses";

const DDL: Record<SchemaPart, string> = {
	core: CORE,
	timers: TIMERS,
	failures: FAILURES,
	events: EVENTS,
	chunks: CHUNKS,
	cuts: CUTS,
	statuses: STATUSES,
};

/** The object in sqlite_master whose presence says a part exists. */
const MARKER: Record<SchemaPart, string> = {
	core: "instance",
	timers: "steps_due",
	failures: "failed_attempts",
	events: "events",
	chunks: "output_chunks",
	cuts: "cut_attempts",
	statuses: "status_events",
};

/** Which parts of the schema exist, and creates the rest as they are needed. */
export class Schema {
	readonly #exec: (query: string) => Record<string, SqlStorageValue>[];
	readonly #present = new Set<SchemaPart>();

	/** `exec`: runs a statement (the journal's, which reports storage refusing it). */
	constructor(exec: (query: string) => Record<string, SqlStorageValue>[]) {
		this.#exec = exec;
		const tables = new Map(
			exec(
				"SELECT name, sql FROM sqlite_master WHERE name IN ('instance', 'steps', 'events', 'failed_attempts', 'steps_due', 'output_chunks', 'cut_attempts', 'status_events')",
			).map((row) => [row.name as string, row.sql as string]),
		);
		// Objects created before values were kept as JSON get the columns (empty: those are in KV).
		if (tables.has("instance") && !tables.get("instance")?.includes("params_json")) {
			exec("ALTER TABLE instance ADD COLUMN params_json TEXT");
			exec("ALTER TABLE instance ADD COLUMN output_json TEXT");
		}
		if (tables.has("steps") && !tables.get("steps")?.includes("output_json")) {
			exec("ALTER TABLE steps ADD COLUMN output_json TEXT");
		}
		// And objects created before sensitive steps, the column saying which steps are.
		if (tables.has("steps") && !tables.get("steps")?.includes("sensitive")) {
			exec("ALTER TABLE steps ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0");
		}
		// And objects created before subscribe(), the column with how long each sleep was for.
		if (tables.has("steps") && !tables.get("steps")?.includes("sleep_ms")) {
			exec("ALTER TABLE steps ADD COLUMN sleep_ms INTEGER");
		}
		// And objects created before step_started's config: their steps' config is unknown ("?").
		if (tables.has("steps") && !tables.get("steps")?.includes("config_json")) {
			exec("ALTER TABLE steps ADD COLUMN config_json TEXT DEFAULT '?'");
		}
		// And before attempt_errored's retryDelayMs: unknown (null) for the attempts failed before.
		if (
			tables.has("failed_attempts") &&
			!tables.get("failed_attempts")?.includes("retry_delay_ms")
		) {
			exec("ALTER TABLE failed_attempts ADD COLUMN retry_delay_ms INTEGER");
		}
		// And objects created before cron schedules, the column with a scheduled instance's tick.
		if (tables.has("instance") && !tables.get("instance")?.includes("schedule_json")) {
			exec("ALTER TABLE instance ADD COLUMN schedule_json TEXT");
		}
		for (const part of Object.keys(MARKER) as SchemaPart[]) {
			if (tables.has(MARKER[part])) this.#present.add(part);
		}
	}

	/** True once `part` exists. */
	has(part: SchemaPart): boolean {
		return this.#present.has(part);
	}

	/** Creates `part` unless it exists. */
	ensure(part: SchemaPart): void {
		if (this.#present.has(part)) return;
		this.#exec(DDL[part]);
		this.#present.add(part);
	}

	/** Forgets every part (the object's storage was deleted). */
	forget(): void {
		this.#present.clear();
	}
}
