/**
 * A Worker set up with the mistakes that tests/e2e/mistakes.test.ts checks the errors of, served
 * by `wrangler dev` (tests/misconfigured/wrangler.toml):
 *
 * - MISBOUND's class_name is OrderWorkflow, the workflow class, instead of its engine;
 * - withWorkflows is called without `{ admin: adminApi() }`, so requests under /__workflows reach the
 *   Worker's own fetch, which answers them with JSON of its own (and records them);
 * - `env` from "cloudflare:workers" is the raw env; `env` from "do-workflows" is the one to use.
 */
import { env as runtimeEnv } from "cloudflare:workers";
import {
	createWorkflowEngine,
	env,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	withWorkflows,
} from "../../src";
import { waitForResult } from "../../src/ops";

interface Params {
	n: number;
}

interface Env {
	ORDERS: Workflow<Params>;
	MISBOUND: Workflow<Params>;
}

export class OrderWorkflow extends WorkflowEntrypoint<Env, Params> {
	async run(event: WorkflowEvent<Params>, step: WorkflowStep) {
		return step.do("double", async () => event.payload.n * 2);
	}
}

export const OrderWorkflowEngine = createWorkflowEngine(OrderWorkflow, { name: "order" });

/** What reached the Worker's own fetch under /__workflows (wrangler dev runs one isolate). */
const seen: string[] = [];

/** The error `run` throws, as JSON. */
async function failure(run: () => Promise<unknown>): Promise<Response> {
	try {
		await run();
		return Response.json({ error: null });
	} catch (error) {
		return Response.json({
			error: { name: (error as Error).name, message: (error as Error).message },
		});
	}
}

export default withWorkflows<Env>(
	{ ORDERS: OrderWorkflowEngine, MISBOUND: OrderWorkflowEngine },
	{
		async fetch(request, handlerEnv) {
			const url = new URL(request.url);
			switch (url.pathname) {
				case "/":
					return new Response("ok");
				case "/misbound":
					return failure(() => handlerEnv.MISBOUND.create({ params: { n: 1 } }));
				case "/runtime-env":
					// The mistake: cloudflare:workers' env has the raw namespace.
					return failure(async () => {
						const raw = runtimeEnv as unknown as Env;
						return raw.ORDERS.create({ params: { n: 1 } });
					});
				case "/env-export": {
					const orders = (env as unknown as Env).ORDERS;
					const instance = await orders.create({ params: { n: 21 } });
					return Response.json(await waitForResult(orders, instance.id, { timeout: "30 seconds" }));
				}
				case "/seen":
					return Response.json(seen);
				default:
					if (url.pathname.startsWith("/__workflows"))
						seen.push(`${request.method} ${url.pathname}`);
					return Response.json({ hello: "from the Worker's own fetch" });
			}
		},
	},
);
