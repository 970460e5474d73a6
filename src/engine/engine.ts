/**
 * The engine: one SQLite-backed Durable Object per workflow instance. It stores the instance and
 * its journal, runs the user's `run()` in its own isolate, and keeps every timer durable through
 * the object's alarm, so a sleeping or interrupted instance carries on by itself after an
 * eviction or a runtime restart.
 */
import { DurableObject, type WorkflowEvent } from "cloudflare:workers";
import { wrapEnv } from "../binding/env";
import type { WorkflowEntrypoint } from "../entrypoint";
import {
	InstanceExistsError,
	InstanceNotFoundError,
	type SerializedError,
	serializeError,
	UnserializableValueError,
	ValueTooLargeError,
	type WorkflowError,
} from "../errors";
import { DEFAULT_STEP_LIMIT, engineOptionsSchema, MAX_VALUE_BYTES, parse } from "../limits";
import { serializedSize } from "../serialized-size";
import { StepContext } from "../step/context";
import { Execution } from "./execution";
import { Journal } from "./journal";
import { assertTransition, isFinal, publicStatus, Status } from "./status";

/**
 * While the run is busy, the alarm is kept at most this far ahead: if the runtime dies mid-step,
 * the alarm brings the instance back within this long of the runtime's return.
 */
export const LEASE_MS = 10_000;

/** A workflow class, as `createWorkflowEngine` takes it. */
export type WorkflowClass<Env = unknown, Params = unknown> = new (
	ctx: ExecutionContext,
	env: Env,
) => WorkflowEntrypoint<Env, Params>;

/** Options of {@link createWorkflowEngine}. */
export interface WorkflowEngineOptions {
	/** The workflow's name, as `event.workflowName` reports it: at most 64 characters, `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`. */
	name: string;
	/** Steps an instance may start before it fails. Default: 10,000. */
	stepLimit?: number;
}

interface Definition {
	workflow: WorkflowClass;
	name: string;
	stepLimit: number;
}

/** What the engine's RPC methods answer: errors travel as data, so the binding can rethrow them typed. */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

function ok<T>(value: T): RpcResult<T> {
	return { ok: true, value };
}

function fail(error: WorkflowError): RpcResult<never> {
	return { ok: false, error: error.toJSON() };
}

/** The arguments of {@link WorkflowEngine.create}, already validated by the binding. */
export interface CreateRequest {
	id: string;
	params: unknown;
}

/**
 * The Durable Object class that hosts a workflow's instances. Do not extend it yourself:
 * {@link createWorkflowEngine} makes one subclass per workflow.
 */
export class WorkflowEngine extends DurableObject {
	static definition: Definition | undefined;

	readonly journal: Journal;
	readonly #definition: Definition;
	#execution: Execution | undefined;
	#status: Status | undefined;
	#alarmAt: number | null;

	constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
		super(ctx, env);
		const definition = (this.constructor as typeof WorkflowEngine).definition;
		if (!definition) throw new Error("WorkflowEngine must be created with createWorkflowEngine()");
		this.#definition = definition;
		this.journal = new Journal(ctx.storage);
		this.#status = this.journal.instance()?.status;
		this.#alarmAt = this.#status === undefined ? null : this.journal.alarmAt();
	}

	get stepLimit(): number {
		return this.#definition.stepLimit;
	}

	// ---- RPC: called by the binding ----

	async create(request: CreateRequest): Promise<RpcResult<null>> {
		if (this.#status !== undefined) {
			return fail(new InstanceExistsError(`instance "${request.id}" already exists`));
		}
		const now = Date.now();
		try {
			this.journal.createInstance(
				request.id,
				this.#definition.name,
				Status.Queued,
				request.params,
				now,
			);
		} catch (error) {
			return fail(
				new UnserializableValueError(
					`params cannot be stored: ${(error as Error).message} Params must be structured-clone serialisable.`,
				),
			);
		}
		this.#status = Status.Queued;
		// Armed before the run starts, so an instance cut off before its first step still starts.
		this.armAlarm(now + LEASE_MS);
		this.#start();
		return ok(null);
	}

	async exists(): Promise<boolean> {
		return this.#status !== undefined;
	}

	async status(): Promise<RpcResult<InstanceStatus>> {
		const instance = this.journal.instance();
		if (!instance) return fail(new InstanceNotFoundError("instance not found"));
		const result: InstanceStatus = { status: publicStatus(instance.status) };
		if (instance.error)
			result.error = { name: instance.error.name, message: instance.error.message };
		if (instance.status === Status.Complete) result.output = this.journal.output();
		return ok(result);
	}

	// ---- timers ----

	/** Makes sure the alarm fires no later than `at`. An early alarm is harmless: it re-arms itself. */
	armAlarm(at: number): void {
		if (this.#alarmAt !== null && this.#alarmAt <= at) return;
		this.#setAlarm(at);
	}

	#setAlarm(at: number | null): void {
		this.#alarmAt = at;
		this.journal.setAlarmAt(at);
		const storage = this.ctx.storage;
		void (at === null ? storage.deleteAlarm() : storage.setAlarm(at));
	}

	override async alarm(): Promise<void> {
		if (this.#status === undefined || isFinal(this.#status)) return;
		const now = Date.now();
		// A test may run the alarm before its time (runDurableObjectAlarm): everything due by the
		// time it was set for counts as due, so a one-day sleep can be fast-forwarded.
		const threshold = Math.max(now, this.journal.alarmAt() ?? now);
		this.#alarmAt = null;
		const due = this.journal.fireDueTimers(threshold, now);
		const execution = this.#execution;
		if (execution) {
			for (const step of due) execution.wake(step.seq);
		} else {
			// Nothing runs in memory: the object was evicted or the runtime restarted. Replay.
			this.#start();
		}
		this.#rearm(now);
	}

	/** Sets the alarm to the next thing that needs it: a timer, or the lease of a busy run. */
	#rearm(now: number): void {
		const next = this.journal.nextDue();
		const lease = this.#execution?.busy ? now + LEASE_MS : null;
		const at = next === null ? lease : lease === null ? next : Math.min(next, lease);
		this.#setAlarm(at);
	}

	// ---- the run ----

	setRunStatus(status: typeof Status.Running | typeof Status.Waiting): void {
		if (status === this.#status || this.#status === undefined || isFinal(this.#status)) return;
		this.#transition(status);
		if (status === Status.Running) this.armAlarm(Date.now() + LEASE_MS);
	}

	#transition(status: Status): void {
		if (this.#status === undefined) return;
		assertTransition(this.#status, status);
		this.journal.setStatus(status, Date.now());
		this.#status = status;
	}

	/** Starts (or, after an eviction, replays) the run, unless one is live or none is due. */
	#start(): void {
		const instance = this.journal.instance();
		if (this.#execution || !instance || isFinal(instance.status)) return;
		if (instance.status === Status.Paused) return;
		const execution = new Execution(this);
		this.#execution = execution;
		this.#transition(Status.Running);

		const { workflow: Workflow, name } = this.#definition;
		const state = this.ctx;
		// The product hands a workflow an ExecutionContext; an engine object has a
		// DurableObjectState, which offers the same waitUntil.
		const executionContext = {
			waitUntil: (promise: Promise<unknown>) => state.waitUntil(promise),
			passThroughOnException: () => {},
			props: {},
		} as unknown as ExecutionContext;
		const event: WorkflowEvent<unknown> = {
			payload: this.journal.params() as WorkflowEvent<unknown>["payload"],
			timestamp: new Date(instance.createdAt),
			instanceId: instance.id,
			workflowName: name,
		};
		const step = new StepContext(execution);
		Promise.resolve()
			.then(() => new Workflow(executionContext, wrapEnv(this.env)).run(event, step))
			.then(
				(output) => this.#finish(execution, { output }),
				(error: unknown) => this.#finish(execution, { error: serializeError(error) }),
			);
	}

	#finish(execution: Execution, result: { output: unknown } | { error: SerializedError }): void {
		if (execution.abandoned || execution !== this.#execution) return;
		this.#execution = undefined;
		// Steps run() left unawaited may still finish; they must not touch a finished instance.
		execution.abandon();
		const now = Date.now();
		if ("error" in result) {
			this.#end(Status.Errored, now, result);
			return;
		}
		const size = serializedSize(result.output);
		if (size > MAX_VALUE_BYTES) {
			const error = new ValueTooLargeError(
				`run() returned ${size} bytes; a workflow's output must be at most ${MAX_VALUE_BYTES} bytes (1 MiB)`,
			);
			this.#end(Status.Errored, now, { error: error.toJSON() });
			return;
		}
		try {
			this.#end(Status.Complete, now, result);
		} catch (error) {
			const unserializable = new UnserializableValueError(
				`run() returned a value that cannot be stored: ${(error as Error).message} ` +
					"The output must be structured-clone serialisable.",
			);
			this.#end(Status.Errored, now, { error: unserializable.toJSON() });
		}
	}

	#end(
		status: Status,
		now: number,
		result: { output: unknown } | { error: SerializedError },
	): void {
		assertTransition(this.#status ?? Status.Running, status);
		this.journal.finish(status, now, result);
		this.#status = status;
		this.#setAlarm(null);
	}
}

/**
 * Makes the Durable Object class that hosts `Workflow`'s instances, one object per instance.
 * Export it from your Worker and bind it in wrangler.toml (with a `new_sqlite_classes` migration).
 *
 * @throws WorkflowValidationError if `name` is not a valid workflow name or `stepLimit` is not a positive integer.
 * @example
 * ```ts
 * export const OrderWorkflowEngine = createWorkflowEngine(OrderWorkflow, { name: "order-workflow" });
 * ```
 */
export function createWorkflowEngine<Env, Params>(
	Workflow: WorkflowClass<Env, Params>,
	options: WorkflowEngineOptions,
): typeof WorkflowEngine {
	const { name, stepLimit } = parse(engineOptionsSchema, options, "createWorkflowEngine options");
	const definition: Definition = {
		workflow: Workflow as WorkflowClass,
		name,
		stepLimit: stepLimit ?? DEFAULT_STEP_LIMIT,
	};
	return class extends WorkflowEngine {
		static override definition = definition;
	};
}
