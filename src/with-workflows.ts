/**
 * `withWorkflows`: registers which env bindings are workflow engines, and wraps the handlers (an
 * object of handlers or a `WorkerEntrypoint` class) so that inside them, and inside every
 * workflow's `this.env`, those bindings are `Workflow`s. `WorkflowEnv` types an `Env` so. It
 * imports the admin layer's type only: a Worker that mounts it passes `adminApi()` from
 * `do-workflows/ops`, so one that does not, does not bundle it.
 */
import * as z from "zod/mini";
import type { AdminApi } from "./admin/api.js";
import { registerWorkflows, wrapEnv } from "./binding/env.js";
import type { WorkflowEngine, WorkflowEngineClass } from "./engine/engine.js";
import { startSchedulers } from "./schedules/client.js";
import { parse, workflowNameSchema } from "./schemas.js";

/** A type-only key: no value exists at run time. */
declare const remoteParams: unique symbol;

/**
 * A workflow this Worker binds but does not host: its engine class is exported by another Worker,
 * and the binding names that Worker (`script_name` in wrangler.toml). Made by {@link remoteWorkflow}.
 */
export interface RemoteWorkflow<Params = unknown> {
	readonly remote: { readonly name?: string; readonly script?: string };
	/** Type only: the workflow's params. */
	readonly [remoteParams]?: Params;
}

/**
 * Declares, in {@link withWorkflows}' bindings, a workflow hosted by another Worker.
 * @param options `script`: the Worker that exports the engine (as in the binding's `script_name`);
 *   `name`: the workflow's name there. Both only label the workflow in errors and the admin API.
 * @example
 * ```ts
 * // wrangler.toml: [[durable_objects.bindings]] name = "ORDERS", class_name = "OrderWorkflowEngine", script_name = "orders"
 * export default withWorkflows({ ORDERS: remoteWorkflow<OrderParams>({ script: "orders" }) }, handlers);
 * ```
 */
export function remoteWorkflow<Params = unknown>(
	options: { name?: string; script?: string } = {},
): RemoteWorkflow<Params> {
	const { name, script } = parse(remoteWorkflowSchema, options, "remoteWorkflow options");
	return {
		remote: {
			...(name === undefined ? {} : { name }),
			...(script === undefined ? {} : { script }),
		},
	};
}

/** What {@link withWorkflows} accepts for a binding: the engine class it hosts, or a remote workflow. */
export type WorkflowSource<Params = unknown> = WorkflowEngineClass<Params> | RemoteWorkflow<Params>;

/** The params of a workflow as {@link withWorkflows}' bindings name it. */
type ParamsOf<Source> =
	Source extends WorkflowEngineClass<infer Params>
		? Params
		: Source extends RemoteWorkflow<infer Params>
			? Params
			: unknown;

/** A binding of `wrangler types`' Env as withWorkflows makes it: an engine namespace becomes a Workflow. */
type Bound<Binding> =
	Binding extends DurableObjectNamespace<infer Engine>
		? 0 extends 1 & Engine
			? Binding
			: [Engine] extends [WorkflowEngine<infer Params>]
				? Workflow<Params>
				: Binding
		: Binding;

/**
 * `Env` as {@link withWorkflows} makes it at run time: each Durable Object namespace of a
 * workflow engine is that workflow's `Workflow<Params>`, and so is each binding named in
 * `Bindings` (the object passed to withWorkflows, for a workflow another Worker hosts, whose
 * namespace `wrangler types` cannot type). For the `Env` that `wrangler types` generates; declare
 * engines with `class X extends createWorkflowEngine(...) {}` so that it can name them.
 * @example
 * ```ts
 * export default withWorkflows({ MY_WORKFLOW: MyWorkflowEngine }, {
 *   async fetch(request: Request, env: WorkflowEnv<Env>) {
 *     return Response.json({ id: (await env.MY_WORKFLOW.create()).id });
 *   },
 * });
 * ```
 */
export type WorkflowEnv<Env, Bindings = Record<never, never>> = {
	// Mapped over Env's own keys, so optional and readonly bindings stay so.
	[K in keyof Env]: K extends keyof Bindings ? Workflow<ParamsOf<Bindings[K]>> : Bound<Env[K]>;
} & { [K in Exclude<keyof Bindings, keyof Env>]: Workflow<ParamsOf<Bindings[K]>> };

export interface WithWorkflowsOptions {
	/**
	 * Mounts the admin API and dashboard (off by default): `adminApi()` from `do-workflows/ops`,
	 * with its own options (path, token secret). See docs/operations.md.
	 */
	admin?: AdminApi;
}

/** A `WorkerEntrypoint` subclass, as a Worker's default export. */
type EntrypointClass = new (ctx: never, env: never) => object;

/**
 * Wraps a Worker's default export so that, inside its handlers (`fetch`, `queue`, `scheduled`,
 * every other one, and a `WorkerEntrypoint`'s methods through `this.env`) and inside every
 * workflow's `this.env`, each named binding is a `Workflow`.
 *
 * @param bindings The env binding names of your workflows, each with its engine class (or
 *   {@link remoteWorkflow} for one another Worker hosts).
 * @param handler Your Worker's handlers, or your `WorkerEntrypoint` class; type their env as
 *   your own `Env` whose bindings are `Workflow`s, or as `WorkflowEnv<Env>` for the `Env` of
 *   `wrangler types`.
 * @example
 * ```ts
 * export default withWorkflows({ ORDER_WORKFLOW: OrderWorkflowEngine }, {
 *   async fetch(request, env: WorkflowEnv<Env>) {
 *     const instance = await env.ORDER_WORKFLOW.create({ params: { orderId: "42" } });
 *     return Response.json({ id: instance.id });
 *   },
 * });
 * ```
 */
// `Env` defaults to `never` so that a handler annotated with its own env type (the product's
// `satisfies ExportedHandler<Env>` style) is accepted without naming Env here.
export function withWorkflows<
	Env = never,
	H extends ExportedHandler<Env> | EntrypointClass = ExportedHandler<Env>,
>(bindings: Record<string, WorkflowSource>, handler: H, options: WithWorkflowsOptions = {}): H {
	// Options are checked before anything is registered: a refused call changes nothing.
	const { admin } = parse(withWorkflowsOptionsSchema, options, "withWorkflows options");
	registerWorkflows(bindings);
	const adminFetch = admin?.mount(bindings, (env, binding) => {
		return (wrapEnv(env) as Record<string, Workflow>)[binding] as Workflow;
	});
	if (typeof handler === "function") return wrapEntrypoint(handler, adminFetch, bindings) as H;
	const result: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(handler)) {
		result[key] =
			typeof value === "function"
				? (first: unknown, env: unknown, ...rest: unknown[]) => {
						startSchedulers(bindings, env, waitUntilOf(rest[0]));
						return value.call(handler, first, wrapEnv(env), ...rest);
					}
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

type AdminFetch = (request: Request, env: unknown) => Promise<Response | undefined>;

/** The `waitUntil` of a handler's context (its third argument, or an entrypoint's ctx), if any. */
function waitUntilOf(ctx: unknown): ((promise: Promise<unknown>) => void) | undefined {
	const waitUntil = (ctx as { waitUntil?: unknown } | null | undefined)?.waitUntil;
	return typeof waitUntil === "function" ? (promise) => waitUntil.call(ctx, promise) : undefined;
}

/**
 * A subclass of the Worker's `WorkerEntrypoint` class that hands it the wrapped env (workerd
 * constructs it per request with `(ctx, env)`), and answers admin requests before its `fetch`.
 */
function wrapEntrypoint(
	Entrypoint: EntrypointClass,
	adminFetch: AdminFetch | undefined,
	bindings: Record<string, WorkflowSource>,
): object {
	type Fetch = (request: Request) => unknown;
	const Base = Entrypoint as unknown as new (
		ctx: unknown,
		env: unknown,
	) => { env: unknown; fetch?: Fetch };
	/** The admin API first, then the class's own fetch (or 404 if it has none). */
	const withAdmin = async (self: { env: unknown }, request: Request, own: Fetch | undefined) =>
		(await adminFetch?.(request, self.env)) ??
		(own ? own.call(self, request) : new Response("not found", { status: 404 }));
	const Wrapped = class extends Base {
		constructor(ctx: unknown, env: unknown) {
			startSchedulers(bindings, env, waitUntilOf(ctx));
			super(ctx, wrapEnv(env));
			// A fetch written as a class field is the instance's own, shadowing the prototype's.
			const own = Object.getOwnPropertyDescriptor(this, "fetch")?.value as unknown;
			if (adminFetch && typeof own === "function") {
				this.fetch = (request: Request) => withAdmin(this, request, own as Fetch);
			}
		}
	};
	Object.defineProperty(Wrapped, "name", { value: Entrypoint.name });
	if (adminFetch) {
		const own = Base.prototype.fetch;
		Object.defineProperty(Wrapped.prototype, "fetch", {
			configurable: true,
			writable: true,
			value(this: { env: unknown }, request: Request) {
				return withAdmin(this, request, own);
			},
		});
	}
	return Wrapped;
}

const remoteWorkflowSchema = z.strictObject({
	name: z.optional(workflowNameSchema),
	script: z.optional(z.string().check(z.minLength(1, "must not be empty"))),
});

const withWorkflowsOptionsSchema = z.strictObject({
	admin: z.optional(
		z.custom<AdminApi>(
			(value) => typeof (value as AdminApi | null)?.mount === "function",
			'must be adminApi() from "do-workflows/ops" (for example { admin: adminApi() })',
		),
	),
});
