/**
 * `env` as `import { env } from "cloudflare:workers"` gives it, seen through `withWorkflows`: for
 * code that reads the Worker's env at module level or outside a handler's arguments.
 */
import * as workers from "cloudflare:workers";
import type { WorkflowEnv } from "../with-workflows.js";
import { wrapEnv } from "./env.js";

/** The runtime's env of the moment (a namespace import: runtimes before `env` existed still load this module). */
function runtimeEnvNow(): object {
	const value = (workers as { env?: unknown }).env;
	if (typeof value !== "object" || value === null) {
		throw new Error(
			'do-workflows env: this runtime has no `env` export in "cloudflare:workers"; use the env your handler receives',
		);
	}
	return wrapEnv(value);
}

/**
 * The Worker's env, as `import { env } from "cloudflare:workers"` gives it, with each binding
 * registered through `withWorkflows` as its `Workflow`. Import it instead of the runtime's
 * (whose `env.MY_WORKFLOW` is the engine's raw Durable Object namespace, with no `create`).
 * Every other binding is the runtime's own. Typed as `WorkflowEnv<Cloudflare.Env>`: a binding your
 * `Cloudflare.Env` declares as an engine's `DurableObjectNamespace` (as `wrangler types` does) is
 * typed as its `Workflow`. Read it while a request or event runs, not while the module loads:
 * `withWorkflows` registers the bindings as your Worker's module is evaluated.
 *
 * @example
 * ```ts
 * import { env } from "do-workflows";
 *
 * export async function startOrder(orderId: string) {
 *   return env.ORDER_WORKFLOW.create({ params: { orderId } });
 * }
 * ```
 */
export const env: WorkflowEnv<Cloudflare.Env> = new Proxy({} as WorkflowEnv<Cloudflare.Env>, {
	get: (_, key) => Reflect.get(runtimeEnvNow(), key),
	has: (_, key) => Reflect.has(runtimeEnvNow(), key),
	ownKeys: () => Reflect.ownKeys(runtimeEnvNow()),
	getOwnPropertyDescriptor(_, key) {
		const descriptor = Reflect.getOwnPropertyDescriptor(runtimeEnvNow(), key);
		// A proxy may report a property its (empty) target lacks only as configurable.
		return descriptor && { ...descriptor, configurable: true };
	},
	set: () => false,
	defineProperty: () => false,
	deleteProperty: () => false,
});
