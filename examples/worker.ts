/**
 * An order workflow: validate the order, charge the card (retried with backoff), wait before
 * shipping, ship. Written exactly as for Cloudflare Workflows, apart from the import and the
 * `createWorkflowEngine` / `withWorkflows` lines.
 */
import {
	createWorkflowEngine,
	NonRetryableError,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	withWorkflows,
} from "../src";
import { adminApi } from "../src/ops";

export interface OrderParams {
	items: { sku: string; quantity: number; unitPrice: number }[];
	email: string;
	/** Makes the payment provider fail this many times first, to show retries. Default: 0. */
	paymentFailures?: number;
	/** How long to wait before shipping. Default: "10 seconds". */
	shippingDelay?: WorkflowSleepDuration;
	/** Hold the order until a "fraud-review" event approves it (or 1 hour passes). Default: false. */
	requireReview?: boolean;
}

interface Env {
	ORDER_WORKFLOW: Workflow<OrderParams>;
}

type WorkflowSleepDuration = import("../src").WorkflowSleepDuration;

export class OrderWorkflow extends WorkflowEntrypoint<Env, OrderParams> {
	async run(event: WorkflowEvent<OrderParams>, step: WorkflowStep) {
		const { items, email, paymentFailures = 0, shippingDelay = "10 seconds" } = event.payload;

		if (event.payload.requireReview) {
			// A reviewer answers with POST /orders/:id/events {"type":"fraud-review","payload":{"approved":true}}.
			const review = await step
				.waitForEvent<{ approved: boolean }>("fraud review", {
					type: "fraud-review",
					timeout: "1 hour",
				})
				.catch(() => ({ payload: { approved: false } }));
			if (!review.payload.approved) {
				throw new NonRetryableError("the order was not approved by fraud review", "OrderRejected");
			}
		}

		const total = await step.do("validate order", async () => {
			if (!Array.isArray(items) || items.length === 0) {
				throw new NonRetryableError("an order needs at least one item", "InvalidOrder");
			}
			return items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);
		});

		const charge = await step.do(
			"charge card",
			{ retries: { limit: 3, delay: "1 second", backoff: "exponential" }, timeout: "30 seconds" },
			async ({ attempt }) => {
				if (attempt <= paymentFailures)
					throw new Error(`payment provider unavailable (attempt ${attempt})`);
				return { chargeId: `ch_${event.instanceId}`, amount: total, chargedAt: new Date() };
			},
		);

		await step.sleep("wait before shipping", shippingDelay);

		const shipment = await step.do("ship order", async () => ({
			trackingNumber: `TRACK-${event.instanceId.slice(0, 8).toUpperCase()}`,
			email,
		}));

		return { total, chargeId: charge.chargeId, trackingNumber: shipment.trackingNumber };
	}
}

// The Durable Object class that hosts the instances (wrangler.toml binds it as ORDER_WORKFLOW).
// A class declaration, so that `wrangler types` can name it as the binding's type.
export class OrderWorkflowEngine extends createWorkflowEngine(OrderWorkflow, {
	name: "order-workflow",
}) {}

const USAGE = `POST /orders {items, email, id?, paymentFailures?, shippingDelay?, requireReview?}  create an order workflow
GET  /orders/:id                                   its status
POST /orders/:id/pause | resume | terminate | restart
POST /orders/:id/events {type, payload}            send it an event
GET  /__workflows                                  the dashboard (admin token: WORKFLOWS_ADMIN_TOKEN)
`;

const HTTP_STATUS: Record<string, number> = {
	InstanceNotFoundError: 404,
	InstanceExistsError: 409,
	InvalidStateError: 409,
};

export default withWorkflows<Env>(
	{ ORDER_WORKFLOW: OrderWorkflowEngine },
	{
		async fetch(request, env) {
			const url = new URL(request.url);
			const match = url.pathname.match(
				/^\/orders(?:\/([^/]+)(?:\/(pause|resume|terminate|restart|events))?)?$/,
			);
			if (!match) return new Response(USAGE);
			const [, id, action] = match;
			try {
				if (request.method === "POST" && id === undefined) {
					const body = (await request.json()) as OrderParams & { id?: string };
					const { id: requestedId, ...params } = body;
					const instance = await env.ORDER_WORKFLOW.create({ id: requestedId, params });
					return Response.json({ id: instance.id, ...(await instance.status()) }, { status: 201 });
				}
				if (id === undefined) return new Response("method not allowed\n", { status: 405 });
				const instance = await env.ORDER_WORKFLOW.get(id);
				if (request.method === "GET" && action === undefined) {
					return Response.json({ id, ...(await instance.status()) });
				}
				if (request.method !== "POST" || action === undefined) {
					return new Response("method not allowed\n", { status: 405 });
				}
				if (action === "events") {
					await instance.sendEvent((await request.json()) as { type: string; payload: unknown });
				} else {
					await instance[action as "pause" | "resume" | "terminate" | "restart"]();
				}
				return Response.json({ id, ...(await instance.status()) });
			} catch (error) {
				const { name, message } = error as Error;
				return Response.json({ error: { name, message } }, { status: HTTP_STATUS[name] ?? 400 });
			}
		},
	},
	// The admin API and dashboard under /__workflows; `npm start` sets the token to dev-token.
	{ admin: adminApi() },
);
