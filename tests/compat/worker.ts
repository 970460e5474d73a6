/**
 * The compat suite's Worker: one scenario body (scenarios.ts), hosted by two engines.
 * - `NativeWorkflow`: the product's class from cloudflare:workers, bound by `[[workflows]]`, run
 *   by miniflare's built-in Workflows engine.
 * - `OursWorkflow`: the same body on do-workflows' `WorkflowEntrypoint`, hosted by `OursEngine`.
 */
import {
	DurableObject,
	WorkflowEntrypoint as NativeEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
} from "cloudflare:workers";
import { createWorkflowEngine, WorkflowEntrypoint } from "../../src";
import type { Gate } from "../gate";
import { type EngineName, scenarioOf, scenarios } from "./scenarios";

export { Gate } from "../gate";

export interface CompatEnv {
	NATIVE: Workflow;
	OURS: DurableObjectNamespace;
	COUNTER: DurableObjectNamespace<Counter>;
	GATES: DurableObjectNamespace<Gate>;
}

/** Counts calls per (engine, instance, key) and records when each happened. */
export class Counter extends DurableObject {
	async hit(key: string): Promise<number> {
		const times = this.ctx.storage.kv.get<number[]>(key) ?? [];
		times.push(Date.now());
		this.ctx.storage.kv.put(key, times);
		return times.length;
	}

	async counts(): Promise<Record<string, number>> {
		const entries = [...this.ctx.storage.kv.list<number[]>()];
		return Object.fromEntries(entries.map(([key, times]) => [key, times.length]));
	}

	async times(key: string): Promise<number[]> {
		return this.ctx.storage.kv.get<number[]>(key) ?? [];
	}
}

/** The name of the Durable Object that counts (or gates) one engine's instance. */
export function sideEffectsKey(engine: EngineName, instanceId: string): string {
	return `${engine}:${instanceId}`;
}

function dispatch(
	engine: EngineName,
	env: CompatEnv,
	event: WorkflowEvent<unknown>,
	step: WorkflowStep,
) {
	const key = sideEffectsKey(engine, event.instanceId);
	const body = scenarios[scenarioOf(event.instanceId)] ?? scenarios.echo;
	if (!body) throw new Error("no echo scenario");
	return body({
		event,
		step,
		param: <T>(name: string) =>
			(typeof event.payload === "object" && event.payload !== null
				? (event.payload as Record<string, unknown>)[name]
				: undefined) as T,
		hit: (name) => env.COUNTER.get(env.COUNTER.idFromName(key)).hit(name),
		gate: (name) => env.GATES.get(env.GATES.idFromName(key)).wait(name),
	});
}

export class NativeWorkflow extends NativeEntrypoint<CompatEnv, unknown> {
	override async run(event: WorkflowEvent<unknown>, step: WorkflowStep) {
		return dispatch("native", this.env, event, step);
	}
}

export class OursWorkflow extends WorkflowEntrypoint<CompatEnv, unknown> {
	async run(event: WorkflowEvent<unknown>, step: WorkflowStep) {
		return dispatch("ours", this.env, event, step);
	}
}

export const OursEngine = createWorkflowEngine(OursWorkflow, { name: "compat" });

export default {
	async fetch() {
		return new Response("do-workflows compat suite");
	},
};
