/// <reference types="node" />
/**
 * The example Worker as a user runs it: `wrangler dev` with the root wrangler.toml, driven over
 * HTTP through the order flow (create, `waiting` during the sleep, `complete` with the output) and
 * the binding's errors as the Worker maps them to status codes.
 */
import { describe, expect, it } from "vitest";
import {
	type ErrorBody,
	expectedOutput,
	getOrder,
	type OrderStatus,
	order,
	pollStatus,
	postAction,
	postOrder,
} from "./orders";
import { devServerForFile } from "./wrangler";

const dev = devServerForFile("example");

describe("the example Worker under wrangler dev", () => {
	it("answers GET / with its usage", async () => {
		const response = await dev().fetch("/");
		expect(response.status).toBe(200);
		expect(await response.text()).toContain("POST /orders");
	});

	it("runs an order: 201, waiting during the sleep, then complete with the output", async () => {
		// The payment fails once (a 1 s retry delay), then the sleep: the instance must say
		// "waiting" while it sleeps, not "running". A poll must land during the sleep: on a machine
		// too loaded for that, the order completes first, and one with a sleep twice as long is tried.
		let body: ReturnType<typeof order>;
		for (let seconds = 2; ; seconds *= 2) {
			body = order(`order-${Date.now()}`, {
				paymentFailures: 1,
				shippingDelay: `${seconds} seconds`,
			});
			const created = await postOrder<OrderStatus>(dev(), body);
			expect(created.status, dev().report()).toBe(201);
			expect(created.contentType).toContain("application/json");
			expect(created.body.id).toBe(body.id);
			expect(["queued", "running"]).toContain(created.body.status);

			const waiting = await pollStatus(dev(), body.id, "waiting").catch((error: Error) => {
				if (seconds < 8 && /reached "complete" while waiting for "waiting"/.test(error.message))
					return undefined;
				throw error;
			});
			if (!waiting) continue;
			expect(waiting.status.output).toBeUndefined();
			break;
		}

		const done = await pollStatus(dev(), body.id, "complete");
		expect(done.status).toEqual({ id: body.id, status: "complete", output: expectedOutput(body) });

		// Reading it again gives the same stored result.
		const again = await getOrder<OrderStatus>(dev(), body.id);
		expect(again.status).toBe(200);
		expect(again.body).toEqual(done.status);
	});

	it("refuses a second create with the same id: 409 InstanceExistsError, first run untouched", async () => {
		const first = order(`dup-${Date.now()}`, { shippingDelay: "1 second" });
		const created = await postOrder<OrderStatus>(dev(), first);
		expect(created.status, dev().report()).toBe(201);

		// Same id, different params, while the first run is still going.
		const duplicate = order(first.id, { items: [{ sku: "OTHER", quantity: 1, unitPrice: 999 }] });
		const refused = await postOrder<ErrorBody>(dev(), duplicate);
		expect(refused.status).toBe(409);
		expect(refused.body.error.name).toBe("InstanceExistsError");
		expect(refused.body.error.message).toContain(first.id);

		// And once it has completed: still refused, and the result is the first order's.
		const done = await pollStatus(dev(), first.id, "complete");
		expect(done.status.output).toEqual(expectedOutput(first));
		const refusedLater = await postOrder<ErrorBody>(dev(), duplicate);
		expect(refusedLater.status).toBe(409);
		expect(refusedLater.body.error.name).toBe("InstanceExistsError");
		const after = await getOrder<OrderStatus>(dev(), first.id);
		expect(after.body).toEqual(done.status);
	});

	it("answers 404 InstanceNotFoundError for an unknown id", async () => {
		const response = await getOrder<ErrorBody>(dev(), `never-created-${Date.now()}`);
		expect(response.status).toBe(404);
		expect(response.body.error.name).toBe("InstanceNotFoundError");
	});

	it("answers 400 WorkflowValidationError for an invalid id", async () => {
		const response = await getOrder<ErrorBody>(dev(), encodeURIComponent("bad id"));
		expect(response.status).toBe(400);
		expect(response.body.error.name).toBe("WorkflowValidationError");

		const tooLong = await getOrder<ErrorBody>(dev(), "a".repeat(101));
		expect(tooLong.status).toBe(400);
		expect(tooLong.body.error.name).toBe("WorkflowValidationError");

		const created = await postOrder<ErrorBody>(dev(), order("bad id"));
		expect(created.status).toBe(400);
		expect(created.body.error.name).toBe("WorkflowValidationError");
	});

	it("walks the README's lifecycle: pause, an event while paused, resume, terminate twice, restart", async () => {
		const body = order(`review-${Date.now()}`, { requireReview: true, shippingDelay: "1 hour" });
		expect((await postOrder<OrderStatus>(dev(), body)).status).toBe(201);
		await pollStatus(dev(), body.id, "waiting");

		expect((await postAction<OrderStatus>(dev(), body.id, "pause")).body.status).toBe("paused");
		const event = { type: "fraud-review", payload: { approved: true } };
		const sent = await postAction<OrderStatus>(dev(), body.id, "events", event);
		expect(sent.body.status).toBe("paused");

		const resumed = await postAction<OrderStatus>(dev(), body.id, "resume");
		expect(resumed.status).toBe(200);
		// Approved: the order moves on to its one-hour shipping sleep.
		await pollStatus(dev(), body.id, "waiting");

		expect((await postAction<OrderStatus>(dev(), body.id, "terminate")).body.status).toBe(
			"terminated",
		);
		const again = await postAction<ErrorBody>(dev(), body.id, "terminate");
		expect(again.status).toBe(409);
		expect(again.body.error).toEqual({
			name: "InvalidStateError",
			message: `cannot terminate instance "${body.id}": it is already terminated`,
		});

		const restarted = await postAction<OrderStatus>(dev(), body.id, "restart");
		expect(restarted.status).toBe(200);
		expect(["running", "waiting"]).toContain(restarted.body.status);
		await pollStatus(dev(), body.id, "waiting");
	});
});
