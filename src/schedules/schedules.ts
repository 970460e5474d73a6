/**
 * A workflow's cron schedules, run by one engine object of the workflow's own namespace (named
 * {@link SCHEDULER_NAME}, which no instance id can be), driven by that object's alarm: no request
 * is needed once it has been started, and its state survives restarts. Each tick creates one
 * instance, whose id is derived from the tick, so a tick fired twice (a crash between the create
 * and its record) still makes one instance. See docs/lifecycle.md, "Schedules".
 */
import { engineHooks } from "../engine/hooks.js";
import { isWorkflowError, type SerializedError, WorkflowValidationError } from "../errors.js";
import { CronExpression, scheduledInstanceId, type WorkflowCronSchedule } from "./cron.js";

/** The name of a workflow's scheduler object in its engine namespace: no instance id has a ':'. */
export const SCHEDULER_NAME = "schedules:";

/**
 * While a tick is being fired, the alarm is kept at most this far ahead: a runtime that dies
 * between the instance's create and the tick's record fires the tick again within this long of
 * its return (the create is then refused as a duplicate, and the tick recorded).
 */
export const TICK_LEASE_MS = 10_000;

/** A schedule as the listing of schedules shows it. */
export interface ScheduleEntry {
	cron: string;
	paused: boolean;
	/** The next tick (ms), or null while paused. */
	nextRunAt: number | null;
	/** The last tick whose instance was created (ms), or null. */
	lastRunAt: number | null;
	lastInstanceId: string | null;
}

/** A tick fired: its cron, its time and the instance it created (or found). */
export interface FiredTick {
	cron: string;
	scheduledTime: number;
	instanceId: string;
}

/** The scheduler object's RPC methods, implemented by the engine class (see engine.ts). */
export interface ScheduleRpc {
	/** Brings the schedules in line with the workflow's definition and arms the alarm; answers them. */
	schedulesList(): Promise<ScheduleEntry[]>;
	/** Pauses or resumes one schedule; answers it. Refuses a cron the workflow does not have. */
	schedulesSetPaused(cron: string, paused: boolean): Promise<ScheduleResult<ScheduleEntry>>;
	/** The test kit's fast-forward: fires now the next tick of `cron` (or of every running schedule). */
	schedulesFire(cron?: string): Promise<ScheduleResult<FiredTick[]>>;
}

/** An answer of the scheduler: errors travel as data, as the engine's (engine/protocol.ts). */
type ScheduleResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** What the scheduler needs of the object that hosts it. */
export interface SchedulesHost {
	/** The workflow's schedules, as createWorkflowEngine checked them. */
	crons: readonly CronExpression[];
	/** Creates the instance of a tick; throws InstanceExistsError if it exists (fired before). */
	create(id: string, schedule: WorkflowCronSchedule): Promise<void>;
}

type Row = {
	cron: string;
	paused: number;
	next_tick: number | null;
	last_tick: number | null;
	last_instance: string | null;
	pending_tick: number | null;
	pending_until: number | null;
};

/** True if the object behind `storage` holds a scheduler's state. */
export function hostsSchedules(storage: DurableObjectStorage): boolean {
	return (
		storage.sql
			.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schedules'")
			.toArray().length > 0
	);
}

export class Schedules {
	readonly #storage: DurableObjectStorage;
	readonly #sql: SqlStorage;
	readonly #host: SchedulesHost;
	readonly #crons: Map<string, CronExpression>;
	/** Crons whose tick is being fired by this object now (an alarm, or the test kit). */
	readonly #firing = new Set<string>();

	constructor(storage: DurableObjectStorage, host: SchedulesHost) {
		this.#storage = storage;
		this.#sql = storage.sql;
		this.#host = host;
		this.#crons = new Map(host.crons.map((cron) => [cron.expression, cron]));
		this.#sql.exec(`CREATE TABLE IF NOT EXISTS schedules (
			cron TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0,
			next_tick INTEGER, last_tick INTEGER, last_instance TEXT,
			pending_tick INTEGER, pending_until INTEGER)`);
		this.#sql.exec("CREATE TABLE IF NOT EXISTS schedule_alarm (at INTEGER)");
	}

	/** The schedules, brought in line with the definition; the alarm armed for the next tick. */
	list(now: number): ScheduleEntry[] {
		this.#reconcile(now);
		this.#rearm(now);
		return this.#rows().map(entry);
	}

	setPaused(cron: string, paused: boolean, now: number): ScheduleEntry {
		this.#reconcile(now);
		const row = this.#row(cron);
		if (!row) throw this.#unknown(cron);
		if (Boolean(row.paused) !== paused) {
			// A resumed schedule starts again at its next tick: the ticks of the pause are not caught up.
			const next = paused ? row.next_tick : this.#cron(cron).next(now);
			this.#sql.exec(
				"UPDATE schedules SET paused = ?, next_tick = ? WHERE cron = ?",
				paused ? 1 : 0,
				next,
				cron,
			);
		}
		this.#rearm(now);
		return entry(this.#row(cron) as Row);
	}

	/**
	 * The alarm fired: every running schedule whose tick is due by `reach` fires it, once. After
	 * downtime only the latest tick missed fires (one catch-up run, not one per missed tick).
	 * A tick interrupted by a crash (pending) is fired again.
	 */
	async alarm(now: number): Promise<FiredTick[]> {
		const reach = Math.max(now, this.#alarmAt() ?? now);
		this.#setAlarmAt(null);
		this.#reconcile(now);
		const due: { row: Row; tick: number }[] = [];
		for (const row of this.#rows()) {
			if (this.#firing.has(row.cron)) continue;
			if (row.pending_tick !== null) due.push({ row, tick: row.pending_tick });
			else if (!row.paused && row.next_tick !== null && row.next_tick <= reach) {
				const tick = this.#cron(row.cron).latest(reach) ?? row.next_tick;
				due.push({ row, tick: Math.max(tick, row.next_tick) });
			}
		}
		const fired = await Promise.all(due.map(({ row, tick }) => this.#fire(row.cron, tick, now)));
		this.#rearm(Date.now());
		return fired.flatMap((tick) => (tick ? [tick] : []));
	}

	/** Fires now the next tick of `cron`, or of every running schedule (the test kit's fast-forward). */
	async fireNext(cron: string | undefined, now: number): Promise<FiredTick[]> {
		this.#reconcile(now);
		const rows = cron === undefined ? this.#rows().filter((row) => !row.paused) : [this.#row(cron)];
		if (rows[0] === undefined && cron !== undefined) throw this.#unknown(cron);
		const fired = await Promise.all(
			(rows as Row[]).map((row) => {
				const tick = row.pending_tick ?? row.next_tick ?? this.#cron(row.cron).next(now);
				return tick === null || this.#firing.has(row.cron)
					? undefined
					: this.#fire(row.cron, tick, now);
			}),
		);
		this.#rearm(Date.now());
		return fired.flatMap((tick) => (tick ? [tick] : []));
	}

	/**
	 * Fires `tick` of `cron`: recorded as pending with a lease alarm first (one commit), then the
	 * instance is created, then the tick is recorded as done. An instance that exists already is
	 * this tick's, created before a crash: the tick is recorded all the same.
	 */
	async #fire(cron: string, tick: number, now: number): Promise<FiredTick | undefined> {
		this.#firing.add(cron);
		try {
			const until = now + TICK_LEASE_MS;
			this.#sql.exec(
				"UPDATE schedules SET pending_tick = ?, pending_until = ? WHERE cron = ?",
				tick,
				until,
				cron,
			);
			this.#armBy(until);
			const instanceId = scheduledInstanceId(cron, tick);
			// A test's hold points (engine/hooks.ts); one property read without hooks.
			const hooks = engineHooks();
			if (hooks?.scheduledTick) await hooks.scheduledTick(instanceId, "beforeCreate");
			try {
				await this.#host.create(instanceId, { cron, scheduledTime: tick });
			} catch (error) {
				if (!(isWorkflowError(error) && error.code === "instance_exists")) {
					// The tick stays pending: its lease alarm fires it again.
					console.error(`do-workflows: schedule "${cron}": tick ${tick} not fired yet:`, error);
					return undefined;
				}
			}
			if (hooks?.scheduledTick) await hooks.scheduledTick(instanceId, "afterCreate");
			const next = this.#cron(cron).next(tick);
			this.#sql.exec(
				`UPDATE schedules SET last_tick = ?, last_instance = ?, next_tick = ?,
				pending_tick = NULL, pending_until = NULL WHERE cron = ?`,
				tick,
				instanceId,
				next,
				cron,
			);
			return { cron, scheduledTime: tick, instanceId };
		} finally {
			this.#firing.delete(cron);
		}
	}

	/** Rows for the crons the definition has, none for the others. A new cron starts at its next tick. */
	#reconcile(now: number): void {
		const stored = new Set(this.#rows().map((row) => row.cron));
		for (const [cron, expression] of this.#crons) {
			if (!stored.has(cron))
				this.#sql.exec(
					"INSERT INTO schedules (cron, next_tick) VALUES (?, ?)",
					cron,
					expression.next(now),
				);
		}
		for (const cron of stored) {
			if (!this.#crons.has(cron)) this.#sql.exec("DELETE FROM schedules WHERE cron = ?", cron);
		}
	}

	/**
	 * The alarm at the earliest of: a pending tick's lease, a running schedule's next tick. A tick
	 * whose create is still in flight here is not fired again by the alarm, so its lease counts
	 * from now: a create that outlasts the lease does not make the alarm fire back to back.
	 */
	#rearm(now: number): void {
		let at: number | null = null;
		for (const row of this.#rows()) {
			let due = row.pending_tick !== null ? row.pending_until : row.paused ? null : row.next_tick;
			if (this.#firing.has(row.cron)) due = Math.max(due ?? now, now + TICK_LEASE_MS);
			if (due !== null && (at === null || due < at)) at = due;
		}
		if (at !== null) at = Math.max(at, now);
		if (at === this.#alarmAt()) return;
		this.#setAlarmAt(at);
		void (at === null ? this.#storage.deleteAlarm() : this.#storage.setAlarm(at));
	}

	#armBy(at: number): void {
		const current = this.#alarmAt();
		if (current !== null && current <= at) return;
		this.#setAlarmAt(at);
		void this.#storage.setAlarm(at);
	}

	#alarmAt(): number | null {
		const [row] = this.#sql.exec<{ at: number | null }>("SELECT at FROM schedule_alarm").toArray();
		return row?.at ?? null;
	}

	#setAlarmAt(at: number | null): void {
		this.#sql.exec("DELETE FROM schedule_alarm");
		if (at !== null) this.#sql.exec("INSERT INTO schedule_alarm (at) VALUES (?)", at);
	}

	#rows(): Row[] {
		return this.#sql.exec<Row>("SELECT * FROM schedules ORDER BY cron").toArray() as Row[];
	}

	#row(cron: string): Row | undefined {
		return this.#sql.exec<Row>("SELECT * FROM schedules WHERE cron = ?", cron).toArray()[0] as
			| Row
			| undefined;
	}

	#cron(cron: string): CronExpression {
		return this.#crons.get(cron) ?? CronExpression.parse(cron);
	}

	#unknown(cron: string): WorkflowValidationError {
		const crons = [...this.#crons.keys()].map((c) => JSON.stringify(c)).join(", ");
		return new WorkflowValidationError(
			`the workflow has no schedule ${JSON.stringify(cron)}; its schedules: ${crons || "none"}`,
		);
	}
}

function entry(row: Row): ScheduleEntry {
	return {
		cron: row.cron,
		paused: Boolean(row.paused),
		nextRunAt: row.paused ? null : row.next_tick,
		lastRunAt: row.last_tick,
		lastInstanceId: row.last_instance,
	};
}
