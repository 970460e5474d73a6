/**
 * do-workflows/testing: the product's Workflows test API (`introspectWorkflowInstance`,
 * `introspectWorkflow` from `cloudflare:test`) for workflows running on do-workflows, plus each
 * instance's step history. Use it in tests run by `@cloudflare/vitest-plugin`, where the engine
 * objects of your Worker run in the test's isolate.
 *
 * @example
 * ```ts
 * import { env, introspectWorkflowInstance } from "do-workflows/testing";
 *
 * it("completes", async () => {
 *   await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-1");
 *   await instance.modify(async (m) => {
 *     await m.disableSleeps();
 *     await m.mockStepResult({ name: "charge card" }, { chargeId: "ch_1" });
 *   });
 *   await env.ORDER_WORKFLOW.create({ id: "order-1", params: { orderId: "1" } });
 *   await instance.waitForStatus("complete");
 *   expect(await instance.getOutput()).toEqual({ chargeId: "ch_1" });
 * });
 * ```
 */
import { env as runtimeEnv } from "cloudflare:workers";
import {
	ENGINE_NAMESPACE,
	engineNamespace,
	isDurableObjectNamespace,
} from "../binding/namespace.js";
import { workflowBinding } from "../binding/workflow.js";
import type { WorkflowEngine } from "../engine/engine.js";
import type { EngineNamespace } from "../engine/protocol.js";
import { scheduleClient } from "../schedules/client.js";
import { cronArgumentSchema, instanceRefSchema, parse } from "../schemas.js";
import { Modifications } from "./controls.js";
import {
	InstanceIntrospector,
	type WorkflowInstanceIntrospector,
	type WorkflowIntrospector,
	WorkflowSession,
} from "./introspector.js";
import { registry } from "./registry.js";

export type {
	AttemptHistory,
	DoStepHistory,
	HistoryError,
	InstanceHistory,
	SleepStepHistory,
	StepHistory,
	WaitStepHistory,
} from "../engine/history.js";
export type { StepSelector, WorkflowInstanceModifier } from "./controls.js";
export type { WorkflowInstanceIntrospector, WorkflowIntrospector } from "./introspector.js";

/** A workflow binding as the kit takes it: a `Workflow` from do-workflows, or the engine's namespace. */
export type IntrospectableWorkflow = Workflow | DurableObjectNamespace;

/**
 * An introspector of the instance `instanceId`, which may not exist yet: modify it before you
 * create it. Dispose it at the end of the test (`await using`, or `dispose()`).
 */
export async function introspectWorkflowInstance(
	workflow: IntrospectableWorkflow,
	instanceId: string,
): Promise<WorkflowInstanceIntrospector> {
	const namespace = engineNamespace(workflow, "introspectWorkflowInstance");
	const id = parse(instanceRefSchema, instanceId, "instance id");
	const modifications = new Modifications();
	registry.claim(namespace.idFromName(id).toString(), id, modifications);
	return new InstanceIntrospector(namespace, id, modifications);
}

/**
 * An introspector of every instance of `workflow` created from now on, whatever their ids.
 * Dispose it at the end of the test (`await using`, or `dispose()`).
 */
export async function introspectWorkflow(
	workflow: IntrospectableWorkflow,
): Promise<WorkflowIntrospector> {
	return new WorkflowSession(engineNamespace(workflow, "introspectWorkflow"));
}

/** A tick {@link fireSchedule} fired: the schedule, the tick's time and the instance it created. */
export interface FiredScheduleTick {
	cron: string;
	/** The tick's time (ms): its instance's `event.schedule.scheduledTime`. */
	scheduledTime: number;
	/** The instance the tick created (or had created), `<cron>-<scheduledTime>`. */
	instanceId: string;
}

/**
 * Fast-forwards a cron schedule: fires now the next tick of the schedule `cron` of `workflow` (or
 * of each of its running schedules), as its alarm would at the tick's time. The instance gets the
 * tick's id and `event.schedule`, and the tick is spent: when its time comes, nothing more
 * happens. Paused schedules are skipped unless named.
 * @throws WorkflowValidationError if the workflow has no schedule `cron`.
 */
export async function fireSchedule(
	workflow: IntrospectableWorkflow,
	cron?: string,
): Promise<FiredScheduleTick[]> {
	const namespace = engineNamespace(workflow, "fireSchedule");
	if (cron !== undefined) parse(cronArgumentSchema, cron, "cron expression");
	return scheduleClient(namespace).fire(cron);
}

/**
 * `Env` as tests see it through {@link env}: each engine namespace is also its `Workflow`.
 */
export type TestEnv<E> = {
	[K in keyof E]: E[K] extends DurableObjectNamespace<infer T>
		? T extends WorkflowEngine
			? Workflow & E[K]
			: E[K]
		: E[K];
};

const views = new WeakMap<object, object>();

/**
 * A Durable Object namespace that is also the `Workflow` of the engine it hosts: `create`,
 * `createBatch`, `deleteBatch` and `get(instanceId)` are the binding's; `get(id)` with a Durable
 * Object id, and every other method, are the namespace's.
 */
function workflowView(namespace: EngineNamespace): Workflow & EngineNamespace {
	const workflow = workflowBinding(namespace);
	return {
		[ENGINE_NAMESPACE]: namespace,
		create: (options) => workflow.create(options),
		// Either form: the array, or { count } / { instances }.
		createBatch: ((input: never) => workflow.createBatch(input)) as Workflow["createBatch"],
		deleteBatch: (ids) => workflow.deleteBatch(ids),
		get: ((
			id: string | DurableObjectId,
			options?: DurableObjectNamespaceGetDurableObjectOptions,
		) => (typeof id === "string" ? workflow.get(id) : namespace.get(id, options))) as never,
		idFromName: (name) => namespace.idFromName(name),
		idFromString: (id) => namespace.idFromString(id),
		newUniqueId: (options) => namespace.newUniqueId(options),
		getByName: (name, options) => namespace.getByName(name, options),
		jurisdiction: (jurisdiction) => namespace.jurisdiction(jurisdiction),
		// What cloudflare:test's introspectors call on a binding: a test that still imports them
		// from there is told which import to change.
		unsafeStartIntrospection: () => wrongKit("introspectWorkflow"),
		unsafeGetInstanceModifier: () => wrongKit("introspectWorkflowInstance"),
	} as Workflow & EngineNamespace;
}

function wrongKit(fn: string): never {
	throw new Error(
		`${fn}() from "cloudflare:test" cannot introspect a do-workflows workflow: import ${fn} from "do-workflows/testing" instead (docs/testing.md)`,
	);
}

/**
 * The test's `env` (from `cloudflare:workers`), where each Durable Object namespace is also a
 * `Workflow`: `env.ORDER_WORKFLOW.create()` works in a test as in your Worker, so a test written
 * for the product's `cloudflare:test` runs by changing its import to this module.
 */
export const env: TestEnv<Cloudflare.Env> = new Proxy(runtimeEnv as object, {
	get(target, property, receiver) {
		const value = Reflect.get(target, property, receiver) as unknown;
		if (!isDurableObjectNamespace(value)) return value;
		let view = views.get(value);
		if (!view) {
			view = workflowView(value as EngineNamespace);
			views.set(value, view);
		}
		return view;
	},
}) as TestEnv<Cloudflare.Env>;
