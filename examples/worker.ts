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

export interface OrderParams {
	items: { sku: string; quantity: number; unitPrice: number }[];
	email: string;
	/** Makes the payment provider fail this many times first, to show retries. Default: 0. */
	paymentFailures?: number;
	/** How long to wait before shipping. Default: "10 seconds". */
	shippingDelay?: WorkflowSleepDuration;
}

interface Env {
	ORDER_WORKFLOW: Workflow<OrderParams>;
}

type WorkflowSleepDuration = import("../src").WorkflowSleepDuration;

export class OrderWorkflow extends WorkflowEntrypoint<Env, OrderParams> {
	async run(event: WorkflowEvent<OrderParams>, step: WorkflowStep) {
		const { items, email, paymentFailures = 0, shippingDelay = "10 seconds" } = event.payload;

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

export const OrderWorkflowEngine = createWorkflowEngine(OrderWorkflow, { name: "order-workflow" });

export default withWorkflows<Env>(
	{ ORDER_WORKFLOW: OrderWorkflowEngine },
	{
		async fetch(request, env) {
			const url = new URL(request.url);
			const match = url.pathname.match(/^\/orders(?:\/([^/]+))?$/);
			if (!match) {
				return new Response(
					"POST /orders {items, email, id?} creates an order workflow; GET /orders/:id reads its status\n",
				);
			}
			const [, id] = match;
			try {
				if (request.method === "POST" && id === undefined) {
					const body = (await request.json()) as OrderParams & { id?: string };
					const { id: requestedId, ...params } = body;
					const instance = await env.ORDER_WORKFLOW.create({ id: requestedId, params });
					return Response.json({ id: instance.id, ...(await instance.status()) }, { status: 201 });
				}
				if (request.method === "GET" && id !== undefined) {
					const instance = await env.ORDER_WORKFLOW.get(id);
					return Response.json({ id, ...(await instance.status()) });
				}
				return new Response("method not allowed\n", { status: 405 });
			} catch (error) {
				const { name, message } = error as Error;
				const status =
					name === "InstanceNotFoundError" ? 404 : name === "InstanceExistsError" ? 409 : 400;
				return Response.json({ error: { name, message } }, { status });
			}
		},
	},
);
