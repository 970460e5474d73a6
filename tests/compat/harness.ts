/**
 * What a caller can observe of one engine: the same driver code runs against the built-in
 * binding (`env.NATIVE`) and against ours (`workflowBinding(env.OURS)`).
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { type WorkflowEngine, workflowBinding } from "../../src";
import type { EngineName } from "./scenarios";
import { type CompatEnv, sideEffectsKey } from "./worker";

const compatEnv = env as unknown as CompatEnv;

export const engines: Record<EngineName, Workflow> = {
	native: compatEnv.NATIVE,
	ours: workflowBinding(compatEnv.OURS as DurableObjectNamespace<WorkflowEngine>),
};

export type Status = InstanceStatus["status"];
export const FINAL: Status[] = ["complete", "errored", "terminated"];

/** An observation: named facts a caller can see, compared field by field across engines. */
export type Observation = Record<string, unknown>;

/** What a caller's try/catch sees of a call: "ok", or the error's name and message. */
export type Outcome = "ok" | { name: string; message: string };

export class Driver {
	constructor(
		readonly engine: EngineName,
		readonly scenario: string,
	) {}

	get wf(): Workflow {
		return engines[this.engine];
	}

	/**
	 * The id of an instance of this driver running workflow `body` (default: the scenario of the
	 * same name). The workflow reads its body back from the id, so params can be any shape.
	 */
	id(body = this.scenario): string {
		return body === this.scenario ? `${body}--1` : `${body}--${this.scenario}`;
	}

	/** Creates an instance running `body` (default: the scenario's own workflow). */
	create(params?: unknown, body?: string): Promise<WorkflowInstance> {
		return this.wf.create({ id: this.id(body), ...(params === undefined ? {} : { params }) });
	}

	async status(instance: WorkflowInstance): Promise<Status> {
		return (await instance.status()).status;
	}

	/** Polls until the instance's status is one of `statuses`. */
	async until(instance: WorkflowInstance, statuses: Status[], timeout = 10_000) {
		let last: Status | undefined;
		await poll(
			async () => {
				last = await this.status(instance);
				return statuses.includes(last);
			},
			timeout,
			() => `${this.engine} ${instance.id}: status ${last}, expected ${statuses.join(" or ")}`,
		);
		return this.status(instance);
	}

	/** Polls until the instance ends; returns its status, output and error as the caller sees them. */
	async settle(instance: WorkflowInstance, timeout = 10_000): Promise<Observation> {
		await this.until(instance, FINAL, timeout);
		const { status, output, error } = await instance.status();
		// `output` is compared for complete instances only; what each engine reports as the output
		// of an errored instance is pinned once, by the outputWhenErrored scenario.
		return {
			status,
			...(status === "complete" ? { output } : {}),
			error: error && { name: error.name, message: error.message },
		};
	}

	#counter(instanceId: string) {
		return compatEnv.COUNTER.get(
			compatEnv.COUNTER.idFromName(sideEffectsKey(this.engine, instanceId)),
		);
	}

	/** How many times each counted side effect of an instance ran. */
	counts(instance: WorkflowInstance | string): Promise<Record<string, number>> {
		return this.#counter(typeof instance === "string" ? instance : instance.id).counts();
	}

	times(instance: WorkflowInstance, key: string): Promise<number[]> {
		return this.#counter(instance.id).times(key);
	}

	/** Polls until side effect `key` of the instance has run at least `n` times. */
	async ran(instance: WorkflowInstance, key: string, n = 1) {
		await poll(
			async () => ((await this.counts(instance))[key] ?? 0) >= n,
			10_000,
			() => `${this.engine} ${instance.id}: ${key} did not run ${n} times`,
		);
	}

	open(instance: WorkflowInstance, key: string): Promise<void> {
		return compatEnv.GATES.get(
			compatEnv.GATES.idFromName(sideEffectsKey(this.engine, instance.id)),
		).open(key);
	}

	/** Runs `call` and reports what a caller's try/catch sees. */
	async outcome(call: () => Promise<unknown>): Promise<Outcome> {
		try {
			await call();
			return "ok";
		} catch (error) {
			return { name: (error as Error).name, message: (error as Error).message };
		}
	}
}

/** Polls `check` every 10 ms until it holds (expect.poll needs a test context; these run concurrently). */
async function poll(check: () => Promise<boolean>, timeout: number, message: () => string) {
	try {
		await vi.waitUntil(check, { timeout, interval: 10 });
	} catch {
		throw new Error(message());
	}
}
