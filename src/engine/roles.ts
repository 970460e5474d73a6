/**
 * The roles an engine object may host instead of an instance, each under a name no instance id
 * can take: a shard of the workflow's listing (listing/shard.ts), its concurrency gate
 * (concurrency/gate.ts) and its scheduler (schedules/schedules.ts). Each is opened on first use
 * from the object's storage. {@link WorkflowObject}, the base of the engine class, answers their
 * RPC methods; none touches the instance state of the engine class, which only forwards its
 * alarm here when the object holds no instance.
 */
import { DurableObject } from "cloudflare:workers";
import {
	ConcurrencyGate,
	type ConcurrencySummary,
	GATE_NAME,
	type GateRpc,
	hostsGate,
	type WantAnswer,
} from "../concurrency/gate.js";
import { InvalidStateError, isWorkflowError } from "../errors.js";
import { ownNamespace } from "../listing/publisher.js";
import {
	type ListingEntry,
	type ListingRpc,
	ListingShard,
	type ShardQuery,
} from "../listing/shard.js";
import { createScheduledInstance } from "../schedules/create.js";
import {
	type FiredTick,
	hostsSchedules,
	SCHEDULER_NAME,
	type ScheduleEntry,
	type ScheduleRpc,
	Schedules,
} from "../schedules/schedules.js";
import type { Definition } from "./definition.js";
import { engineHooks } from "./hooks.js";
import { type EngineNamespace, fail, ok, type RpcResult, rpc } from "./protocol.js";

export class HostedRoles {
	readonly #ctx: DurableObjectState;
	readonly #definition: Definition;
	readonly #namespaceOf: (name: string) => EngineNamespace | undefined;
	#shard: ListingShard | undefined;
	#gate: ConcurrencyGate | undefined;
	#schedules: Schedules | undefined;

	/** `namespaceOf`: the engine's own namespace, found through this object's name (see WorkflowObject). */
	constructor(
		ctx: DurableObjectState,
		definition: Definition,
		namespaceOf: (name: string) => EngineNamespace | undefined,
	) {
		this.#ctx = ctx;
		this.#definition = definition;
		this.#namespaceOf = namespaceOf;
	}

	#ownNamespace(name: string): EngineNamespace {
		const namespace = this.#namespaceOf(name);
		if (!namespace)
			throw new Error(
				`the ${name} object of workflow "${this.#definition.name}" cannot find its own namespace in env`,
			);
		return namespace;
	}

	shard(): ListingShard {
		this.#shard ??= new ListingShard(this.#ctx.storage);
		return this.#shard;
	}

	/** The gate this object hosts (it is the object named GATE_NAME). */
	gate(): ConcurrencyGate {
		this.#gate ??= new ConcurrencyGate(
			this.#ctx.storage,
			this.#definition.concurrencyLimit ?? Number.POSITIVE_INFINITY,
			{
				admit: async (id) => {
					const namespace = this.#ownNamespace(GATE_NAME);
					return namespace.get(namespace.idFromName(id)).admit();
				},
				waitUntil: (promise) => this.#ctx.waitUntil(promise),
			},
		);
		return this.#gate;
	}

	/** True if this object is its workflow's gate (or the workflow has a limit: it may become one). */
	isGate(): boolean {
		return this.#definition.concurrencyLimit !== null || hostsGate(this.#ctx.storage.sql);
	}

	/** The scheduler this object hosts (it is the object named SCHEDULER_NAME). */
	schedules(): Schedules {
		this.#schedules ??= new Schedules(this.#ctx.storage, {
			crons: this.#definition.schedules,
			create: async (id, schedule) =>
				createScheduledInstance(this.#ownNamespace(SCHEDULER_NAME), id, schedule),
		});
		return this.#schedules;
	}

	/** The test kit's fast-forward: production code cannot fire a tick before its time. */
	async fireSchedule(cron: string | undefined): Promise<RpcResult<FiredTick[]>> {
		if (!engineHooks())
			return fail(
				new InvalidStateError(
					"schedules can be fired early only in tests, with do-workflows/testing loaded",
				),
			);
		try {
			return ok(await this.schedules().fireNext(cron, Date.now()));
		} catch (error) {
			if (isWorkflowError(error)) return fail(error);
			throw error;
		}
	}

	/** The alarm of an object with no instance: a scheduler's next tick, or a gate's backstop. */
	async alarm(now: number): Promise<void> {
		const storage = this.#ctx.storage;
		if (this.#schedules || hostsSchedules(storage)) await this.schedules().alarm(now);
		else if (this.#gate || hostsGate(storage.sql)) await this.gate().alarm(now);
	}
}

/**
 * An object of a workflow's engine namespace: it hosts one instance (the engine class, which
 * extends this one) or one of the workflow's roles, whose RPC methods are here. Each role's
 * methods are meant for the object of that role's name only; callers address them so.
 */
export abstract class WorkflowObject
	extends DurableObject
	implements Omit<ListingRpc, "listingEntry">, GateRpc, ScheduleRpc
{
	/** Set on the class createWorkflowEngine makes for a workflow. */
	static definition: Definition | undefined;
	/** The workflow this object belongs to. */
	protected readonly definition: Definition;
	/** The roles this object may host. */
	protected readonly roles: HostedRoles;
	/** The engine's own namespace, once found; null if the Worker's env does not bind it. */
	#namespace: EngineNamespace | null | undefined;

	constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
		super(ctx, env);
		const definition = (this.constructor as typeof WorkflowObject).definition;
		if (!definition) throw new Error("WorkflowEngine must be created with createWorkflowEngine()");
		this.definition = definition;
		this.roles = new HostedRoles(ctx, definition, (name) => this.namespaceOf(name));
	}

	/**
	 * The engine's own namespace (for the listing, the gate, the scheduler), found once through
	 * `name`, the name this object was addressed by; undefined if the Worker does not bind it. A
	 * field, not a method: a Durable Object's methods are callable over RPC.
	 */
	protected readonly namespaceOf = (name: string): EngineNamespace | undefined => {
		if (this.#namespace === undefined)
			this.#namespace = ownNamespace(this.env, this.ctx.id, name) ?? null;
		return this.#namespace ?? undefined;
	};

	// ---- the listing shard this object may be (see listing/shard.ts) ----

	/** Lists the instances being created; answers the ids among them it listed already. */
	async listingIntend(entries: Pick<ListingEntry, "id" | "createdAt">[]): Promise<string[]> {
		return entries.filter((entry) => this.roles.shard().intend(entry)).map(({ id }) => id);
	}

	async listingPut(entry: ListingEntry, checked = false): Promise<void> {
		this.roles.shard().put(entry, checked);
	}

	/** Records entries as their instances published them (a batch's, written by its caller). */
	async listingPutAll(entries: ListingEntry[]): Promise<void> {
		for (const entry of entries) this.roles.shard().put(entry);
	}

	async listingRemove(
		id: string,
		version: number,
		abandoned?: { updatedAt: number },
	): Promise<void> {
		this.roles.shard().remove(id, version, Date.now(), abandoned);
	}

	async listingQuery(query: ShardQuery): Promise<ListingEntry[]> {
		return this.roles.shard().query(query);
	}

	// ---- the concurrency gate this object may be (see concurrency/gate.ts) ----

	async gateWant(id: string): Promise<WantAnswer> {
		return this.roles.gate().want(id, Date.now());
	}

	async gateRelease(id: string): Promise<void> {
		this.roles.gate().release(id, Date.now());
	}

	async gatePositions(ids: string[]): Promise<Record<string, number>> {
		return this.roles.isGate() ? this.roles.gate().positions(ids) : {};
	}

	async gateSummary(): Promise<ConcurrencySummary | null> {
		return this.definition.concurrencyLimit === null ? null : this.roles.gate().summary();
	}

	// ---- the scheduler this object may be (see schedules/schedules.ts) ----

	async schedulesList(): Promise<ScheduleEntry[]> {
		return this.roles.schedules().list(Date.now());
	}

	async schedulesSetPaused(cron: string, paused: boolean): Promise<RpcResult<ScheduleEntry>> {
		return rpc(() => this.roles.schedules().setPaused(cron, paused, Date.now()));
	}

	async schedulesFire(cron?: string): Promise<RpcResult<FiredTick[]>> {
		return this.roles.fireSchedule(cron);
	}
}
