import type { WorkflowEvent, WorkflowStep } from "cloudflare:workers";

/**
 * The base class of a workflow, as in the product: extend it and implement `run()`.
 * `this.env` is the Worker's environment, with every binding registered through
 * `withWorkflows` turned into a `Workflow`; `this.ctx` is the execution context.
 *
 * @example
 * ```ts
 * export class OrderWorkflow extends WorkflowEntrypoint<Env, { orderId: string }> {
 *   async run(event: WorkflowEvent<{ orderId: string }>, step: WorkflowStep) {
 *     const order = await step.do("load order", () => loadOrder(event.payload.orderId));
 *     await step.sleep("cool off", "1 hour");
 *     return step.do("ship", () => ship(order));
 *   }
 * }
 * export const OrderWorkflowEngine = createWorkflowEngine(OrderWorkflow, { name: "order" });
 * ```
 */
export abstract class WorkflowEntrypoint<Env = unknown, T = unknown> {
	protected ctx: ExecutionContext;
	protected env: Env;

	constructor(ctx: ExecutionContext, env: Env) {
		// The engine hands a workflow a plain context object; a DurableObjectState means the runtime
		// is constructing the workflow class itself, as the class of a Durable Object binding.
		if (Object.prototype.toString.call(ctx) === "[object DurableObjectState]") {
			throw new Error(misboundMessage(new.target.name || "this workflow class"));
		}
		this.ctx = ctx;
		this.env = env;
	}

	/**
	 * The workflow itself. Runs again from the top after an eviction or restart: completed steps
	 * return their stored results instead of running again. The value it returns is the
	 * instance's output.
	 */
	abstract run(event: Readonly<WorkflowEvent<T>>, step: WorkflowStep): Promise<unknown>;
}

/**
 * Why a workflow class was constructed as a Durable Object, and how to fix it: a
 * `[[durable_objects.bindings]]` entry names the workflow class instead of its engine. Without
 * this the caller sees workerd's "does not support RPC, because its class was not declared with
 * `extends DurableObject`", which points the wrong way.
 */
function misboundMessage(name: string): string {
	return (
		`${name} is a workflow class (it extends WorkflowEntrypoint), but wrangler.toml binds it as a Durable Object. ` +
		`Set class_name to its engine instead, the class createWorkflowEngine(${name}, { name }) returns, which your Worker exports ` +
		`(for example class_name = "${name}Engine" if it exports the engine under that name), ` +
		`in [[durable_objects.bindings]] and in the migration's new_sqlite_classes (docs/getting-started.md, "Troubleshooting").`
	);
}
