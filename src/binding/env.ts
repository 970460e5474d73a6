/**
 * The env a Worker's handlers and workflows see: the workflow bindings `withWorkflows`
 * registered (with-workflows.ts), each turned into its `Workflow`. The engine reads it here to
 * hand a workflow its `this.env`.
 */
import type { EngineNamespace } from "../engine/protocol.js";
import type { OwnRun } from "./instance.js";
import { isDurableObjectNamespace } from "./namespace.js";
import { workflowBinding } from "./workflow.js";

/** A binding as withWorkflows registers it: an engine class, or a workflow another Worker hosts. */
export type RegisteredWorkflow =
	| { readonly definition?: { readonly name: string } | undefined }
	| { readonly remote: { readonly name?: string; readonly script?: string } };

/** The workflow's name as a binding registered it, else the binding's name: for messages and listings. */
export function workflowLabel(source: RegisteredWorkflow, binding: string): string {
	return ("remote" in source ? source.remote.name : source.definition?.name) ?? binding;
}

/** Registers `bindings` as workflow bindings: from now on, {@link wrapEnv} turns them into `Workflow`s. */
export function registerWorkflows(bindings: Record<string, RegisteredWorkflow>): void {
	for (const [name, source] of Object.entries(bindings)) registered.set(name, source);
}

// Filled when the Worker's module is evaluated (withWorkflows runs at import time), read by the
// engine objects of the same module when they hand a workflow its env.
const registered = new Map<string, RegisteredWorkflow>();
const wrapped = new WeakMap<object, object>();

/** How to bind `name` in wrangler.toml, for an error message. */
function bindingAdvice(name: string, source: RegisteredWorkflow): string {
	const workflow = workflowLabel(source, name);
	if ("remote" in source) {
		const script = source.remote.script ?? "<the Worker that hosts it>";
		return `add a durable_objects binding named "${name}" (with script_name = "${script}") for workflow "${workflow}" to wrangler.toml`;
	}
	return `add a durable_objects binding named "${name}" for the engine of workflow "${workflow}" to wrangler.toml`;
}

/**
 * `env` with every registered workflow binding replaced by its `Workflow` shim. The result is
 * cached per env object, and an env that is already wrapped is returned as it is.
 */
export function wrapEnv<Env>(env: Env): Env {
	if (typeof env !== "object" || env === null || registered.size === 0) return env;
	const cached = wrapped.get(env);
	if (cached) return cached as Env;
	const result: Record<string, unknown> = { ...(env as Record<string, unknown>) };
	for (const [name, source] of registered) {
		const namespace = result[name];
		if (!isDurableObjectNamespace(namespace)) {
			// A misspelt or missing binding would otherwise surface later as "create is not a function".
			throw new Error(
				`withWorkflows: env.${name} is not a Durable Object namespace; ${bindingAdvice(name, source)}`,
			);
		}
		result[name] = workflowBinding(namespace as EngineNamespace);
	}
	wrapped.set(env, result);
	wrapped.set(result, result);
	return result as Env;
}

/**
 * The env a run of instance `own.id` gets (`this.env`): {@link wrapEnv}'s, but the binding of
 * the run's own workflow (the namespace whose object for `own.id` is `objectId`) makes handles
 * whose terminate, delete, restart and pause of that instance stop the run, as in the product:
 * nothing after the call runs.
 */
export function runEnv<Env>(env: Env, objectId: DurableObjectId, own: OwnRun): Env {
	const wrapped = wrapEnv(env);
	if (typeof env !== "object" || env === null) return wrapped;
	for (const [name, source] of registered) {
		const namespace = (env as Record<string, unknown>)[name];
		if ("remote" in source || !isDurableObjectNamespace(namespace)) continue;
		if (!namespace.idFromName(own.id).equals(objectId)) continue;
		return { ...wrapped, [name]: workflowBinding(namespace as EngineNamespace, own) };
	}
	return wrapped;
}
