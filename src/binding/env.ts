/**
 * `withWorkflows`: registers which env bindings are workflow engines, and wraps the handlers so
 * that inside them (and inside every workflow's `this.env`) those bindings are `Workflow`s.
 */
import * as z from "zod/mini";
import { type AdminOptions, adminHandler, adminOptionsSchema } from "../admin/api.js";
import type { WorkflowEngine } from "../engine/engine.js";
import { parse } from "../limits.js";
import { isDurableObjectNamespace } from "./namespace.js";
import { workflowBinding } from "./workflow.js";

type EngineClass = typeof WorkflowEngine;

// Filled when the Worker's module is evaluated (withWorkflows runs at import time), read by the
// engine objects of the same module when they hand a workflow its env.
const registered = new Map<string, EngineClass>();
const wrapped = new WeakMap<object, object>();

/**
 * `env` with every registered workflow binding replaced by its `Workflow` shim. The result is
 * cached per env object, and an env that is already wrapped is returned as it is.
 */
export function wrapEnv<Env>(env: Env): Env {
	if (typeof env !== "object" || env === null || registered.size === 0) return env;
	const cached = wrapped.get(env);
	if (cached) return cached as Env;
	const result: Record<string, unknown> = { ...(env as Record<string, unknown>) };
	for (const [name, engine] of registered) {
		const namespace = result[name];
		if (!isDurableObjectNamespace(namespace)) {
			// A misspelt or missing binding would otherwise surface later as "create is not a function".
			throw new Error(
				`withWorkflows: env.${name} is not a Durable Object namespace; add a durable_objects binding named "${name}" for the engine of workflow "${engine.definition?.name}" to wrangler.toml`,
			);
		}
		result[name] = workflowBinding(namespace as DurableObjectNamespace<WorkflowEngine>);
	}
	wrapped.set(env, result);
	wrapped.set(result, result);
	return result as Env;
}

/**
 * Wraps a Worker's handlers so that, inside `fetch`, `queue`, `scheduled` (and every other
 * handler) and inside every workflow's `this.env`, each named binding is a `Workflow`.
 *
 * @param bindings The env binding names of your workflow engines, each with its engine class.
 * @param handler Your Worker's handlers, written against an `Env` whose bindings are `Workflow`s.
 * @example
 * ```ts
 * export default withWorkflows({ ORDER_WORKFLOW: OrderWorkflowEngine }, {
 *   async fetch(request, env) {
 *     const instance = await env.ORDER_WORKFLOW.create({ params: { orderId: "42" } });
 *     return Response.json({ id: instance.id });
 *   },
 * });
 * ```
 */
/** Options of {@link withWorkflows}. */
export interface WithWorkflowsOptions {
	/**
	 * Mounts the admin API and dashboard (off by default): `true` for the defaults, or where to
	 * serve them and which env secret holds the bearer token. See docs/operations.md.
	 */
	admin?: boolean | AdminOptions;
}

// `Env` defaults to `never` so that a handler annotated with its own env type (the product's
// `satisfies ExportedHandler<Env>` style) is accepted without naming Env here.
export function withWorkflows<Env = never, H extends ExportedHandler<Env> = ExportedHandler<Env>>(
	bindings: Record<string, EngineClass>,
	handler: H,
	options: WithWorkflowsOptions = {},
): H {
	for (const [name, engine] of Object.entries(bindings)) registered.set(name, engine);
	const { admin } = parse(withWorkflowsOptionsSchema, options, "withWorkflows options");
	const adminFetch =
		admin === undefined || admin === false
			? undefined
			: adminHandler(bindings, admin === true ? {} : admin, (env, binding) => {
					return (wrapEnv(env) as Record<string, Workflow>)[binding] as Workflow;
				});
	const result: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(handler)) {
		result[key] =
			typeof value === "function"
				? (first: unknown, env: unknown, ...rest: unknown[]) =>
						value.call(handler, first, wrapEnv(env), ...rest)
				: value;
	}
	if (adminFetch) {
		const userFetch = result.fetch as ((...args: unknown[]) => unknown) | undefined;
		result.fetch = async (request: Request, env: unknown, ...rest: unknown[]) =>
			(await adminFetch(request, env)) ??
			(userFetch ? userFetch(request, env, ...rest) : new Response("not found", { status: 404 }));
	}
	return result as H;
}

const withWorkflowsOptionsSchema = z.strictObject({
	admin: z.optional(z.union([z.boolean(), adminOptionsSchema])),
});
