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
