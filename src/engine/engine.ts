/**
 * The engine: one SQLite-backed Durable Object per workflow instance. It stores the instance and
 * its journal, runs the user's `run()` in its own isolate, and keeps every timer durable through
 * the object's alarm, so a sleeping or interrupted instance carries on by itself after an
 * eviction or a runtime restart.
 */
import { GATE_NAME } from "../concurrency/gate.js";
import {
	InstanceExistsError,
	InstanceNotFoundError,
	InvalidStateError,
	type SerializedError,
	serializeError,
	UnserializableValueError,
} from "../errors.js";
import { ListingPublisher, listingEntry } from "../listing/publisher.js";
import type { ListingEntry } from "../listing/shard.js";
import type { WorkflowCronSchedule } from "../schedules/cron.js";
import { serializedSize } from "../serialized-size.js";
import type { StepContext } from "../step/context.js";
import { Admission, RESEND_MS } from "./admission.js";
import { type Definition, define, type WorkflowEngineOptions } from "./definition.js";
import { type EventPage, type EventPageRequest, eventPage } from "./events.js";
import { Execution } from "./execution.js";
import {
	type HistoryPage,
	type HistoryPageRequest,
	historyPage,
	historyStep,
	type InstanceHistory,
	instanceHistory,
	type StepKey,
	type StepLookup,
	stepStream,
} from "./history.js";
import { engineHooks } from "./hooks.js";
import { Journal, type RollbackPlan } from "./journal.js";
import {
	type CreateRequest,
	type EngineRpc,
	fail,
	ok,
	type RestartFrom,
	type RpcResult,
	rpc,
} from "./protocol.js";
import { WorkflowObject } from "./roles.js";
import { type RollbackHost, resumeRollback, rollBack } from "./rollback.js";
import {
	launchRun,
	type RunInput,
	type RunOutcome,
	storableOutcome,
	type WorkflowClass,
} from "./run.js";
import { Scheduler } from "./scheduler.js";
import { assertTransition, isFinal, publicStatus, Status } from "./status.js";
import { StorageFailure } from "./store.js";

export type { Definition, WorkflowEngineOptions } from "./definition.js";
export type { WorkflowClass } from "./run.js";

/** A type-only key: no value exists at run time. */
declare const workflowParams: unique symbol;

/**
 * The class {@link createWorkflowEngine} returns: a Durable Object class hosting the instances of
 * a workflow whose params are `Params`.
 */
export interface WorkflowEngineClass<Params = unknown> {
	new (ctx: DurableObjectState, env: Cloudflare.Env): WorkflowEngine<Params>;
	readonly definition: Definition | undefined;
}

const STEP_TYPES = { do: "do", sleep: "sleep", waitForEvent: "wait" } as const;

/** The statuses an instance stays in beyond the call that set them, which its engine publishes. */
const SETTLED = new Set<Status>([
	// Queued is settled under a concurrency limit (it may last); else it lasts one call.
	Status.Queued,
	Status.Waiting,
	Status.Paused,
	Status.Complete,
	Status.Errored,
	Status.Terminated,
]);

/**
 * The Durable Object class that hosts a workflow's instances. Do not extend it yourself:
 * {@link createWorkflowEngine} makes one subclass per workflow.
 *
 * Its RPC methods (create, status, pause, resume, terminate, restart, sendEvent, delete) are the
 * binding's; each runs without awaiting anything but storage, so concurrent calls, alarms and
 * the run's own progress apply one at a time and always leave one valid state.
 */
export class WorkflowEngine<Params = unknown> extends WorkflowObject implements EngineRpc {
	/** Type only: the params of the workflow this engine hosts (read by {@link WorkflowEnv}). */
	declare readonly [workflowParams]?: Params;

	readonly journal: Journal;
	#execution: Execution | undefined;
	/** The step context of the run in memory: it holds the rollback handlers of the steps it met. */
	#steps: StepContext | undefined;
	#status: Status | undefined;
	readonly #scheduler: Scheduler;
	readonly #listing: ListingPublisher;
	/** The instance's side of the workflow's concurrency limit; undefined without a limit. */
	readonly #admission: Admission | undefined;
	/** True while delete() awaits the gate and storage: the id is neither free nor usable. */
	#deleting = false;
	/** Callers of waitForEnd, told when the instance ends or is deleted. */
	readonly #endWaiters = new Set<() => void>();
	/** Callers of events() waiting for the journal to change, told after its next write. */
	readonly #writeWaiters = new Set<() => void>();
	/**
	 * Attempts cut off because storage refused to record their outcome, by step: not crashes, so
	 * they do not count against the step's interruption budget. In memory only: losing them (a
	 * crash) only makes the engine stricter.
	 */
	readonly #excused = new Map<number, number>();

	constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
		super(ctx, env);
		const definition = this.definition;
		const objectId = ctx.id.toString();
		this.#listing = new ListingPublisher({
			instanceRow: () => this.journal.instance(),
			namespace: (instanceId) => this.namespaceOf(instanceId),
			waitUntil: (promise) => this.ctx.waitUntil(promise),
		});
		this.journal = new Journal(
			ctx.storage,
			(status) => {
				// The listing hears of the statuses an instance settles in; it checks the others (queued,
				// running) with the instance itself.
				if (status !== undefined && SETTLED.has(status)) this.#listing.changed();
				engineHooks()?.changed(objectId, status === undefined ? undefined : publicStatus(status));
			},
			() => this.#wroteJournal(),
		);
		this.#status = this.journal.instance()?.status;
		this.#admission =
			definition.concurrencyLimit === null
				? undefined
				: new Admission(ctx.storage.kv, {
						id: () => (this.#status === undefined ? undefined : this.#id()),
						gate: (id) => {
							const namespace = this.namespaceOf(id);
							return namespace?.get(namespace.idFromName(GATE_NAME));
						},
						waitUntil: (promise) => this.ctx.waitUntil(promise),
						armBy: (at) => {
							if (this.#status !== undefined) this.#scheduler.armBy(at);
						},
						granted: () => {
							if (this.#waitsForSlotIn(this.#status)) this.#start();
						},
						changed: () => {
							if (this.#status !== undefined) this.#scheduler.rearm(Date.now());
						},
					});
		this.#scheduler = new Scheduler(ctx.storage, this.journal, definition.retention, {
			status: () => this.#status,
			execution: () => this.#execution,
			resendAt: (now) => this.#admission?.resendAt(now) ?? null,
			waitsForSlot: () => this.#waitsForSlot(),
		});
		if (this.#status === Status.WaitingForPause) {
			// The object stopped while a pause waited for an attempt to finish. That attempt is
			// gone, so the pause is complete: the attempt counts as interrupted and runs again on resume.
			this.#transition(Status.Paused);
		}
	}

	// ---- RPC: called by the binding ----

	/**
	 * Creates the instance and starts its run. With `callerLists`, answers its listing entry if it
	 * settled within this call (see CreateRequest), else null; otherwise null.
	 */
	async create(request: CreateRequest): Promise<RpcResult<ListingEntry | null>> {
		// An instance that exists refuses the create at once, holding nothing back; so does one
		// created while an earlier create of this object still holds (it was deleted meanwhile).
		if (!request.callerLists || this.#status !== undefined || this.#listing.holding) {
			const created = this.#create(request);
			if (created.ok) await this.#admission?.send();
			return created;
		}
		this.#listing.holdSends();
		let handedOver = false;
		try {
			const created = this.#create(request);
			if (!created.ok) return created;
			// Under a concurrency limit, the gate has the instance's place once create answers, so
			// instances created one after the other queue in that order.
			await this.#admission?.send();
			// Before the runtime commits this call's writes, the run got as far as it can without
			// waiting for I/O: a run of quick steps has ended by now.
			await this.ctx.storage.sync();
			handedOver = true;
			return ok(this.#listing.releaseSends(true));
		} finally {
			if (!handedOver) this.#listing.releaseSends(false);
		}
	}

	#create(request: CreateRequest): RpcResult<null> {
		return rpc(() => {
			if (this.#status !== undefined || this.#deleting) {
				throw new InstanceExistsError(
					`instance "${request.id}" already exists${this.#deleting ? " (it is being deleted)" : ""}`,
				);
			}
			const now = Date.now();
			try {
				// Stored as running: the run starts below, in the same transaction; queued under a
				// concurrency limit, until the gate grants it a slot.
				this.journal.createInstance(
					request.id,
					this.definition.name,
					this.#admission ? Status.Queued : Status.Running,
					request.params,
					now,
					request.createdAt,
					request.retention,
					request.schedule,
				);
			} catch (error) {
				if (error instanceof StorageFailure) throw error;
				throw new UnserializableValueError(
					`params cannot be stored: ${(error as Error).message} Params must be structured-clone serialisable.`,
				);
			}
			// Events a test mocked before the instance existed wait in the buffer like sent ones.
			this.#bufferMockedEvents(request.id, true, now);
			if (this.#admission) {
				this.#status = Status.Queued;
				this.#admission.want();
				return null;
			}
			this.#status = Status.Running;
			const { id, params, createdAt = now, schedule } = request;
			this.#start({ id, params, createdAt, schedule });
			return null;
		});
	}

	async exists(): Promise<boolean> {
		return this.#status !== undefined;
	}

	/**
	 * Answers once the instance is finished (complete, errored or terminated), or after `maxWaitMs`
	 * if it is not by then, with its status either way. The caller asks again until it is final.
	 */
	async waitForEnd(maxWaitMs: number): Promise<RpcResult<InstanceStatus>> {
		if (this.#status !== undefined && !isFinal(this.#status)) {
			const ended = Promise.withResolvers<void>();
			this.#endWaiters.add(ended.resolve);
			const timer = setTimeout(ended.resolve, maxWaitMs);
			await ended.promise;
			clearTimeout(timer);
			this.#endWaiters.delete(ended.resolve);
		}
		return this.status();
	}

	/**
	 * The instance's events after `request.after` (see events.ts), a page at a time. With
	 * `waitMs`, a page that would be empty waits for the journal to change, up to that long.
	 */
	async events(request: EventPageRequest): Promise<RpcResult<EventPage>> {
		const deadline = Date.now() + Math.max(0, request.waitMs ?? 0);
		for (;;) {
			const page = rpc(() => {
				const found = eventPage(this.journal, request, serializedSize);
				if (!found) throw new InstanceNotFoundError("instance not found");
				return found;
			});
			if (!page.ok || page.value.events.length > 0 || !page.value.caughtUp || page.value.ended)
				return page;
			const left = deadline - Date.now();
			if (left <= 0) return page;
			// A page of events filtered out still moves the cursor on: the next read starts there.
			request = { ...request, after: page.value.cursor };
			const wrote = Promise.withResolvers<void>();
			this.#writeWaiters.add(wrote.resolve);
			const timer = setTimeout(wrote.resolve, left);
			await wrote.promise;
			clearTimeout(timer);
			this.#writeWaiters.delete(wrote.resolve);
		}
	}

	/** The journal was written: wakes the callers of events() waiting for more. */
	#wroteJournal(): void {
		if (this.#writeWaiters.size === 0) return;
		for (const waiter of this.#writeWaiters) waiter();
		this.#writeWaiters.clear();
	}

	/** The instance and every step it met: attempts, timings, outputs and errors. */
	async history(): Promise<RpcResult<InstanceHistory>> {
		return rpc(() => {
			const history = instanceHistory(this.journal);
			if (!history) throw new InstanceNotFoundError("instance not found");
			return history;
		});
	}

	/** A page of the history (see history.ts): it fits in one answer whatever the instance holds. */
	async historyPage(request: HistoryPageRequest): Promise<RpcResult<HistoryPage>> {
		return rpc(() => {
			const page = historyPage(this.journal, request);
			if (!page) throw new InstanceNotFoundError("instance not found");
			return page;
		});
	}

	/** One step of the history, its value included, and the instance's status. */
	async historyStep(ref: StepKey): Promise<RpcResult<StepLookup>> {
		return rpc(() => {
			const lookup = historyStep(this.journal, ref);
			if (!lookup) throw new InstanceNotFoundError("instance not found");
			return lookup;
		});
	}

	/** A step's streamed output: a new stream of its stored bytes (for the test kit). */
	async stepStream(ref: StepKey): Promise<RpcResult<ReadableStream<Uint8Array> | null>> {
		return rpc(() => {
			const stream = stepStream(this.journal, ref);
			if (stream === undefined) throw new InstanceNotFoundError("instance not found");
			return stream;
		});
	}

	async status(): Promise<RpcResult<InstanceStatus>> {
		return rpc(() => {
			const instance = this.journal.instance();
			if (!instance) throw new InstanceNotFoundError("instance not found");
			const result: InstanceStatus = { status: publicStatus(instance.status) };
			if (instance.error)
				result.error = { name: instance.error.name, message: instance.error.message };
			if (instance.status === Status.Complete) result.output = this.journal.output();
			return result;
		});
	}

	/**
	 * Pauses at the next step boundary: with attempts in flight the instance is `waitingForPause`
	 * until they finish and are recorded, then `paused`. A pending sleep or event wait stays
	 * pending, but nothing runs until `resume()`. Pausing a paused instance does nothing.
	 */
	async pause(): Promise<RpcResult<null>> {
		return rpc(() => {
			const status = this.#require("pause");
			// A rollback runs to its end: there is no step boundary to pause at (as the built-in engine).
			if (
				status === Status.Paused ||
				status === Status.WaitingForPause ||
				status === Status.RollingBack
			)
				return null;
			const execution = this.#execution;
			if (execution && execution.inFlight > 0) {
				execution.requestPause();
				this.#transition(Status.WaitingForPause);
			} else {
				this.#pauseNow();
			}
			return null;
		});
	}

	/** Continues a paused instance from where it stopped (a replay); withdraws a pending pause. */
	async resume(): Promise<RpcResult<null>> {
		return rpc(() => {
			const status = this.#require("resume");
			const execution = this.#execution;
			if (status === Status.WaitingForPause && execution) {
				execution.cancelPause();
				this.#transition(Status.Running);
				execution.updateStatus();
				return null;
			}
			if (status !== Status.Paused) {
				throw new InvalidStateError(
					`cannot resume instance "${this.#id()}": it is ${publicStatus(status)}, not paused`,
				);
			}
			this.#run();
			return null;
		});
	}

	/**
	 * Ends the instance as `terminated` at once; its timers are cancelled and no step of it runs
	 * again. With `rollback: true`, the run stops likewise, but the instance is `rollingBack` until
	 * the rollback handlers of its steps have run, then `terminated`.
	 */
	async terminate(options?: { rollback?: boolean }): Promise<RpcResult<null>> {
		return rpc(() => {
			const status = this.#require("terminate");
			// With no step in the journal, no handler was registered: there is nothing to roll back.
			if (
				options?.rollback === true &&
				status !== Status.RollingBack &&
				this.journal.stepCount() > 0
			) {
				const error = new Error("Instance terminated during rollback");
				error.name = "Terminated";
				this.#abandonRun();
				// The handlers are those of the steps in the journal: a replay collects them. Under a
				// concurrency limit they run in a slot, as the run did: an instance without one (waiting,
				// paused, queued) asks the gate for one and stays `rollingBack` until it is granted.
				this.#beginRollback({ end: Status.Terminated, error: serializeError(error) });
				this.#run();
				return null;
			}
			this.#abandonRun();
			this.#end(Status.Terminated, Date.now(), null);
			return null;
		});
	}

	/**
	 * Runs the instance again with the same id and params, from any status. Without `from`, the
	 * journal, output, error and buffered events are erased; with it, the steps before `from`
	 * keep their results.
	 */
	async restart(from?: RestartFrom): Promise<RpcResult<null>> {
		return rpc(() => {
			if (this.#status === undefined) throw new InstanceNotFoundError("instance not found");
			let fromSeq = 0;
			if (from) {
				const count = from.count ?? 1;
				const step = this.journal.findStep(from.name, count, from.type && STEP_TYPES[from.type]);
				if (!step) {
					throw new InvalidStateError(
						`cannot restart instance "${this.#id()}" from step "${from.name}" #${count}: no such step in its history`,
					);
				}
				fromSeq = step.seq;
			}
			this.#abandonRun();
			this.journal.reset(fromSeq);
			this.#excused.clear();
			// A full restart erases buffered events; a test's mocked events stay, as in the product.
			if (fromSeq === 0) this.#bufferMockedEvents(this.#id(), false, Date.now());
			// Not an event of its own: the run starts anew (ids 0 to 2, events.ts).
			this.#transition(Status.Queued, false);
			this.#run();
			// A listing row with the old final status would be taken as the truth: replace it.
			this.#listing.changed();
			return null;
		});
	}

	/**
	 * Delivers an event to the oldest open `waitForEvent` of its type, or buffers it (first in,
	 * first out per type) for the next such wait. Each event is delivered once.
	 */
	async sendEvent(event: { type: string; payload: unknown }): Promise<RpcResult<null>> {
		return rpc(() => {
			this.#require("send an event to");
			const now = Date.now();
			// A wait whose timeout passed while nothing ran (paused, evicted) has timed out already:
			// it must not take this event. A live run's overdue timers are the alarm's to apply.
			if (!this.#execution) this.#scheduler.applyDueTimers(now, now);
			const wait = this.journal.openWait(event.type);
			if (!wait) {
				this.journal.bufferEvent(event.type, event.payload, now);
				return null;
			}
			this.journal.deliver(
				wait.seq,
				{ payload: event.payload, timestamp: new Date(now), type: event.type },
				now,
			);
			const execution = this.#execution;
			if (execution && this.#needsSlot()) this.#queue();
			else if (execution) execution.wake(wait.seq);
			else if (this.#status !== Status.Paused) this.#run();
			return null;
		});
	}

	/** Deletes the instance and everything it stored; its id can be used again. */
	async delete(): Promise<RpcResult<null>> {
		const instance = this.journal.instance();
		if (this.#status === undefined || !instance)
			return fail(new InstanceNotFoundError("instance not found"));
		this.#listing.deleted(instance);
		this.#abandonRun();
		this.#excused.clear();
		// Gone for every call from here on, though the gate is awaited below: nothing may run,
		// queue or ask for a slot meanwhile, and a create of the id waits for the deletion's end.
		this.#status = undefined;
		this.#deleting = true;
		for (const waiter of this.#endWaiters) waiter();
		try {
			// Its slot or queue place goes back before its storage goes. If the gate does not
			// answer, the release outlives the instance: the emptied object's alarm sends it.
			const heard = (await this.#admission?.leave(instance.id)) ?? true;
			await this.#scheduler.clear();
			await this.journal.destroy();
			if (!heard) {
				this.#admission?.keepAfterDelete(instance.id);
				await this.ctx.storage.setAlarm(Date.now() + RESEND_MS);
			}
		} finally {
			this.#deleting = false;
		}
		return ok(null);
	}

	/** The instance as the listing shows it, or null if there is none (see listInstances). */
	async listingEntry(): Promise<ListingEntry | null> {
		const instance = this.#status === undefined ? undefined : this.journal.instance();
		return instance ? listingEntry(instance) : null;
	}

	// ---- RPC: the concurrency limit (concurrency/gate.ts) ----

	/**
	 * The gate admitted this instance (its alarm granted it a slot): true if it takes it, and its
	 * run starts; false if it no longer wants one (paused, terminated, deleted meanwhile).
	 */
	async admit(): Promise<boolean> {
		const status = this.#status;
		if (status === undefined || isFinal(status)) return false;
		if (this.#admission && !this.#admission.admit()) return false;
		if (this.#waitsForSlotIn(status) && !this.#execution) this.#start();
		return true;
	}

	#id(): string {
		return this.journal.instance()?.id ?? "";
	}

	/** Buffers the events a test mocked for this instance (do-workflows/testing; none otherwise). */
	#bufferMockedEvents(instanceId: string, creating: boolean, now: number): void {
		const controls = engineHooks()?.controls(this.ctx.id.toString(), instanceId, creating);
		for (const event of controls?.mockedEvents() ?? []) {
			this.journal.bufferEvent(event.type, event.payload, now);
		}
	}

	/** The current status; throws if there is no instance, or it is finished and `action` needs a live one. */
	#require(action: string): Status {
		const status = this.#status;
		if (status === undefined) throw new InstanceNotFoundError("instance not found");
		if (isFinal(status)) {
			throw new InvalidStateError(
				`cannot ${action} instance "${this.#id()}": it is already ${publicStatus(status)}`,
			);
		}
		return status;
	}

	// ---- timers ----

	override async alarm(): Promise<void> {
		const status = this.#status;
		if (status === undefined) {
			const admission = this.#admission;
			if (admission?.orphaned) {
				// A deleted instance's release the gate has not heard (see delete).
				await admission.send();
				// An instance created meanwhile keeps the alarm (its scheduler knows the outbox).
				const again = this.#status === undefined ? admission.resendAt(Date.now()) : null;
				if (again !== null) await this.ctx.storage.setAlarm(again);
				return;
			}
			// No instance here: this may be the workflow's scheduler or its concurrency gate.
			await this.roles.alarm(Date.now());
			return;
		}
		// What the gate has not heard yet (a slot wanted or given back) is sent again.
		void this.#admission?.send();
		const now = Date.now();
		const threshold = this.#scheduler.fired(now);
		if (isFinal(status)) {
			const deadline = this.#scheduler.retentionDeadline();
			if (deadline !== null && deadline <= threshold) await this.delete();
			else this.#scheduler.rearm(now);
			return;
		}
		if (status === Status.Paused) {
			this.#scheduler.rearm(now);
			return;
		}
		const due = this.#scheduler.applyDueTimers(threshold, now);
		const execution = this.#execution;
		if (!execution) {
			// Nothing runs in memory: the object was evicted or the runtime restarted. Replay (once
			// it holds a slot, under a concurrency limit: a queued instance waits for the gate).
			if (this.#waitsForSlot()) this.#scheduler.rearm(now);
			else this.#run();
			return;
		}
		if (due.length > 0 && this.#needsSlot()) {
			// A waiting run's timer ended, but it holds no slot: it queues, and replays when admitted.
			this.#queue();
			return;
		}
		this.#scheduler.rearm(now);
		// Woken waiters renew the lease themselves, so this comes after the re-arm.
		for (const step of due) execution.wake(step.seq);
	}

	// ---- the run ----

	#setRunStatus(status: typeof Status.Running | typeof Status.Waiting): void {
		const current = this.#status;
		if (current === undefined || status === current || isFinal(current)) return;
		if (
			current === Status.Paused ||
			current === Status.WaitingForPause ||
			current === Status.RollingBack
		)
			return;
		if (status === Status.Running && this.#needsSlot()) {
			// Code of a waiting run went on without a step ending (it awaited something else): it
			// holds no slot, so it stops here, queues, and replays from the journal when admitted.
			this.#queue();
			return;
		}
		this.#transition(status);
		if (status === Status.Running) this.#scheduler.renewLease();
	}

	/**
	 * Storage refused a write the run needed (docs/guarantees.md): nothing is wrong with the
	 * instance, so it neither fails nor spends a retry. The run is dropped from memory and its
	 * lease alarm, armed while it was busy, replays it from the journal.
	 */
	#storageFailed(
		execution: Execution,
		id: string,
		error: StorageFailure,
		cutOff: number | undefined,
	): void {
		if (execution !== this.#execution) return;
		if (cutOff !== undefined) this.#excused.set(cutOff, (this.#excused.get(cutOff) ?? 0) + 1);
		this.#replayLater(id, error);
	}

	/** Drops the run from memory after storage refused a write; its lease alarm replays it. */
	#replayLater(id: string, error: unknown): void {
		console.error(
			`do-workflows: instance "${id}": ${(error as Error)?.message ?? error}; its run stops, and its lease alarm replays it`,
		);
		this.#abandonRun();
		this.#scheduler.renewLease();
	}

	#attemptsDrained(execution: Execution): void {
		if (execution === this.#execution && this.#status === Status.WaitingForPause) this.#pauseNow();
	}

	#pauseNow(): void {
		// The run stops here; resume replays it from the journal, where every finished step is.
		this.#abandonRun();
		this.#transition(Status.Paused);
		// Nothing of the instance is due while it is paused.
		this.#scheduler.rearm(Date.now());
	}

	#abandonRun(): void {
		this.#execution?.abandon();
		this.#execution = undefined;
		this.#steps = undefined;
	}

	/** `record`: false if the change needs no event of its own (see Journal.setStatus). */
	#transition(status: Status, record = true): void {
		if (this.#status === undefined) return;
		assertTransition(this.#status, status);
		this.journal.setStatus(status, Date.now(), record);
		this.#status = status;
		// Only a running instance holds a slot (docs/limits.md): a waiting or paused one gives it
		// back (or its queue place), in the same commit as its status.
		if (status === Status.Waiting || status === Status.Paused) this.#admission?.release();
	}

	// ---- the concurrency limit (docs/limits.md) ----

	/** True if, under a concurrency limit, the instance does not hold a slot. */
	#needsSlot(): boolean {
		return this.#admission !== undefined && !this.#admission.holds();
	}

	/**
	 * True if the instance is queued for a slot: the gate's alarm, not its own, starts it. One
	 * that needs a slot but has not asked for one (an instance stored before it asked) is not: its
	 * own alarm replays it, which asks.
	 */
	#waitsForSlot(): boolean {
		return this.#waitsForSlotIn(this.#status) && this.#admission?.asked() === true;
	}

	/** True if an instance in `status` starts its run once granted a slot (see #queue). */
	#waitsForSlotIn(status: Status | undefined): boolean {
		return status === Status.Queued || status === Status.RollingBack;
	}

	/** Starts (or replays) the run if it may: under a concurrency limit, once it holds a slot. */
	#run(): void {
		if (this.#needsSlot()) this.#queue();
		else this.#start();
	}

	/**
	 * The instance has work to do but no slot: a run in memory (waiting) is dropped, the instance
	 * is `queued` (or stays `rollingBack`: its handlers wait for the slot), and asks the gate for a
	 * slot; its admission replays the run from the journal.
	 */
	#queue(): void {
		this.#abandonRun();
		if (!this.#waitsForSlotIn(this.#status)) this.#transition(Status.Queued);
		this.#admission?.want();
		this.#scheduler.rearm(Date.now());
	}

	/**
	 * Starts (or replays) the run, unless one is live or the instance is finished. The lease is
	 * armed in the same transaction, so a run cut off before its first step still starts again.
	 * `created`: the instance just created (stored as running, with no steps), which needs no
	 * reading back.
	 */
	#start(created?: {
		id: string;
		params: unknown;
		createdAt: number;
		schedule?: WorkflowCronSchedule;
	}): void {
		const status = this.#status;
		if (this.#execution || status === undefined || isFinal(status)) return;
		const instance = created ?? this.journal.instance();
		if (!instance) return;
		if (status === Status.RollingBack) {
			resumeRollback(this.#rollbackHost(), instance);
			return;
		}
		const execution = this.#newExecution(instance.id, created ? 0 : undefined);
		if (this.#status !== Status.Running) this.#transition(Status.Running);
		this.#scheduler.renewLease();

		this.#steps = launchRun(this.#runInput(instance, execution, created), (outcome) =>
			this.#finish(execution, instance.id, outcome),
		);
	}

	/** A run's owner (see Execution), made the one in memory. `steps`: as Execution's. */
	#newExecution(id: string, steps?: number): Execution {
		const scheduler = this.#scheduler;
		// Narrow closures, so that nothing of this is public on the class (whose public methods are
		// RPC-callable by anyone holding a stub).
		const execution = new Execution(
			{
				journal: this.journal,
				stepLimit: this.definition.stepLimit,
				outputLimits: this.definition.outputLimits,
				setRunStatus: (status) => this.#setRunStatus(status),
				armAlarm: (at) => scheduler.armBy(at),
				renewLease: () => scheduler.renewLease(),
				attemptsDrained: (quiet) => this.#attemptsDrained(quiet),
				storageFailed: (failed, error, cutOff) => this.#storageFailed(failed, id, error, cutOff),
				excusedInterruptions: (seq) => this.#excused.get(seq) ?? 0,
			},
			steps,
		);
		this.#execution = execution;
		return execution;
	}

	#runInput(
		instance: { id: string; createdAt: number },
		execution: Execution,
		created?: { params: unknown; schedule?: WorkflowCronSchedule },
	): RunInput {
		const { workflow, name } = this.definition;
		return {
			workflow,
			name,
			instance,
			params: created ? created.params : this.journal.params(),
			schedule: created ? created.schedule : this.journal.schedule(),
			state: this.ctx,
			env: this.env,
			execution,
			controls: engineHooks()?.controls(this.ctx.id.toString(), instance.id, false),
		};
	}

	// ---- rollback ----

	/** The instance starts rolling back: the plan is stored with the status, in one commit. */
	#beginRollback(plan: RollbackPlan): void {
		this.journal.startRollback(plan);
		this.#transition(Status.RollingBack);
	}

	/** The engine as the rollback (rollback.ts) sees it. */
	#rollbackHost(): RollbackHost {
		return {
			journal: this.journal,
			newExecution: (id) => {
				const execution = this.#newExecution(id);
				this.#scheduler.renewLease();
				return execution;
			},
			current: (execution) => execution === this.#execution,
			runInput: (instance, execution) => this.#runInput(instance, execution),
			controls: (id) => engineHooks()?.controls(this.ctx.id.toString(), id, false),
			abandonRun: () => this.#abandonRun(),
			end: (plan) => {
				this.journal.endRollback();
				this.#end(plan.end, Date.now(), plan.end === Status.Errored ? { error: plan.error } : null);
			},
		};
	}

	/** The run ended with `result`: the instance ends so, unless the run was abandoned. */
	#finish(execution: Execution, id: string, result: RunOutcome): void {
		if (execution !== this.#execution) return;
		const now = Date.now();
		const outcome = storableOutcome(result);
		const status = "error" in outcome ? Status.Errored : Status.Complete;
		const rollbacks = this.#steps?.rollbacks;
		if ("error" in outcome && rollbacks?.length) {
			// The run failed with rollback handlers registered: they run before it ends errored.
			try {
				const plan: RollbackPlan = { end: Status.Errored, error: outcome.error };
				this.#abandonRun();
				this.#beginRollback(plan);
				// Under a concurrency limit, a run that failed while it waited (a step it did not
				// await) holds no slot: its handlers wait for one, collected again by a replay.
				if (this.#needsSlot()) this.#queue();
				else rollBack(this.#rollbackHost(), id, rollbacks, plan);
			} catch (error) {
				if (!(error instanceof StorageFailure)) throw error;
				this.#replayLater(id, error);
			}
			return;
		}
		try {
			this.#end(status, now, outcome);
			return;
		} catch (error) {
			if (this.#status !== undefined && isFinal(this.#status)) {
				// A write after the result's failed (the alarm's bookkeeping): the result stands.
				console.error(`do-workflows: instance "${this.#id()}" ended, then a write failed:`, error);
				return;
			}
			if (error instanceof StorageFailure) {
				// Storage refuses writes for now (out of memory, a full disk): replayed later.
				this.#replayLater(id, error);
				return;
			}
			// Storage refused the result itself (a row over the size limit): the instance ends
			// errored, saying why, rather than staying running for good.
			const message = `run() ended ${publicStatus(status)}, but its result could not be stored: ${(error as Error).message}`;
			try {
				this.#end(Status.Errored, now, { error: serializeError(new Error(message)) });
				return;
			} catch (failure) {
				// Not even that could be stored: the lease replays the run, which tries again.
				this.#replayLater(
					id,
					failure instanceof StorageFailure ? failure : new StorageFailure(failure),
				);
				return;
			}
		}
	}

	/** Ends the instance; a run still in memory is abandoned (steps run() left unawaited included). */
	#end(
		status: Status,
		now: number,
		result: { output: unknown } | { error: SerializedError } | null,
	): void {
		assertTransition(this.#status ?? Status.Running, status);
		this.journal.finish(status, now, result);
		this.#abandonRun();
		this.#status = status;
		// A final status frees the slot (or the queue place) at once; what the gate has not heard
		// yet may need the alarm before the retention deadline.
		if (this.#admission) {
			this.#admission.release();
			this.#scheduler.rearm(now);
		} else this.#scheduler.ended(status, now);
		for (const waiter of this.#endWaiters) waiter();
	}
}

/**
 * Makes the Durable Object class that hosts `Workflow`'s instances, one object per instance.
 * Export it from your Worker and bind it in wrangler.toml (with a `new_sqlite_classes` migration).
 *
 * @throws WorkflowValidationError if `name` is not a valid workflow name, `stepLimit` is not a
 * positive integer, or `maxStepOutputBytes` / `maxStreamOutputBytes` is out of its range.
 * @example
 * ```ts
 * // A class declaration, so that `wrangler types` can name it as the binding's type:
 * export class OrderWorkflowEngine extends createWorkflowEngine(OrderWorkflow, { name: "order-workflow" }) {}
 * ```
 */
export function createWorkflowEngine<Env, Params>(
	Workflow: WorkflowClass<Env, Params>,
	options: WorkflowEngineOptions,
): WorkflowEngineClass<Params> {
	const definition = define(Workflow as WorkflowClass, options);
	return class extends WorkflowEngine<Params> {
		static override definition = definition;
	};
}
