/**
 * The roles an engine object may host instead of an instance, each under a name no instance id
 * can take: a shard of the workflow's listing (listing/shard.ts), its concurrency gate
 * (concurrency/gate.ts) and its scheduler (schedules/schedules.ts). Each is opened on first use
 * from the object's storage; none touches the instance state of the engine class, which only
 * forwards their RPC methods and its alarm here.
 */
import { ConcurrencyGate, GATE_NAME, hostsGate } from "../concurrency/gate.js";
import { InvalidStateError, isWorkflowError } from "../errors.js";
import { ownNamespace } from "../listing/publisher.js";
import { ListingShard } from "../listing/shard.js";
import { createScheduledInstance } from "../schedules/create.js";
import {
	type FiredTick,
	hostsSchedules,
	SCHEDULER_NAME,
	Schedules,
} from "../schedules/schedules.js";
import type { Definition } from "./definition.js";
import { engineHooks } from "./hooks.js";
import { type EngineNamespace, fail, ok, type RpcResult } from "./protocol.js";

export class HostedRoles {
	readonly #ctx: DurableObjectState;
	readonly #env: unknown;
	readonly #definition: Definition;
	#shard: ListingShard | undefined;
	#gate: ConcurrencyGate | undefined;
	#schedules: Schedules | undefined;
	/** The engine's own namespace, found through a hosted role's name; null if env lacks it. */
	#namespace: EngineNamespace | null | undefined;

	constructor(ctx: DurableObjectState, env: unknown, definition: Definition) {
		this.#ctx = ctx;
		this.#env = env;
		this.#definition = definition;
	}

	#ownNamespace(name: string): EngineNamespace {
		if (this.#namespace === undefined)
			this.#namespace = ownNamespace(this.#env, this.#ctx.id, name) ?? null;
		if (!this.#namespace)
			throw new Error(
				`the ${name} object of workflow "${this.#definition.name}" cannot find its own namespace in env`,
			);
		return this.#namespace;
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
