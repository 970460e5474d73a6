/**
 * The example order workflow's own tests, written with the test kit (do-workflows/testing) in the
 * style of the product's `cloudflare:test` introspection: no real sleeps or retry delays, mocked
 * steps and events, and the step history to check what ran.
 */
import { SELF } from "cloudflare:test";
import { env, introspectWorkflow, introspectWorkflowInstance } from "do-workflows/testing";
import { describe, expect, it } from "vitest";
import type { OrderParams } from "./worker";

const order: OrderParams = {
	items: [
		{ sku: "tea", quantity: 2, unitPrice: 450 },
		{ sku: "mug", quantity: 1, unitPrice: 1200 },
	],
	email: "ada@example.com",
};

/** Places an order through the Worker's own route, as a client would. */
async function placeOrder(params: OrderParams & { id?: string }) {
	const response = await SELF.fetch("http://example/orders", {
		method: "POST",
		body: JSON.stringify(params),
	});
	expect(response.status).toBe(201);
	return (await response.json()) as { id: string };
}

describe("order workflow", () => {
	it("charges, waits, ships: complete with the total and tracking number", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-1");
		await instance.modify(async (m) => m.disableSleeps());
		await placeOrder({ id: "order-1", ...order });

		expect(await instance.waitForStepResult({ name: "validate order" })).toBe(2100);
		await instance.waitForStatus("complete");
		expect(await instance.getOutput()).toEqual({
			total: 2100,
			chargeId: "ch_order-1",
			trackingNumber: "TRACK-ORDER-1",
		});
	});

	it("retries the payment provider until it answers", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-2");
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.disableRetryDelays([{ name: "charge card" }]);
		});
		await placeOrder({ id: "order-2", ...order, paymentFailures: 2 });
		await instance.waitForStatus("complete");

		const { steps } = await instance.getHistory();
		const charge = steps.find((step) => step.name === "charge card");
		expect(
			charge?.type === "do" && charge.attempts.map((a) => a.error?.message ?? a.outcome),
		).toEqual([
			"payment provider unavailable (attempt 1)",
			"payment provider unavailable (attempt 2)",
			"success",
		]);
	});

	it("fails the order when the card cannot be charged, and never ships", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-3");
		await instance.modify(async (m) => {
			await m.disableRetryDelays();
			await m.mockStepError({ name: "charge card" }, new Error("card network down"));
		});
		await placeOrder({ id: "order-3", ...order });

		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({ name: "Error", message: "card network down" });
		const { steps } = await instance.getHistory();
		expect(steps.map((step) => step.name)).toEqual(["validate order", "charge card"]);
	});

	it("uses a mocked charge without calling the provider", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-4");
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockStepResult({ name: "charge card" }, { chargeId: "ch_test", amount: 2100 });
		});
		await placeOrder({ id: "order-4", ...order });
		await instance.waitForStatus("complete");
		expect(await instance.getOutput()).toMatchObject({ chargeId: "ch_test" });
	});

	it("an order that fraud review approves goes through", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-5");
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "fraud-review", payload: { approved: true } });
		});
		await placeOrder({ id: "order-5", ...order, requireReview: true });
		await instance.waitForStatus("complete");
	});

	it("an order nobody reviews is rejected when the review times out", async () => {
		await using instance = await introspectWorkflowInstance(env.ORDER_WORKFLOW, "order-6");
		await instance.modify(async (m) => m.forceEventTimeout({ name: "fraud review" }));
		await placeOrder({ id: "order-6", ...order, requireReview: true });
		await instance.waitForStatus("errored");
		expect(await instance.getError()).toEqual({
			name: "OrderRejected",
			message: "the order was not approved by fraud review",
		});
	});

	it("orders placed without an id are introspected too", async () => {
		await using introspector = await introspectWorkflow(env.ORDER_WORKFLOW);
		await introspector.modifyAll(async (m) => m.disableSleeps());
		const placed = [await placeOrder(order), await placeOrder(order)];

		const instances = await introspector.get();
		expect(instances).toHaveLength(placed.length);
		for (const instance of instances) {
			await instance.waitForStatus("complete");
			expect(await instance.getOutput()).toMatchObject({ total: 2100 });
		}
	});
});
