/// <reference types="node" />
/**
 * The example Worker's HTTP API (examples/worker.ts), as the end-to-end tests drive it.
 */
import { type DevServer, waitFor } from "./wrangler";

export interface OrderBody {
	id: string;
	email: string;
	items: { sku: string; quantity: number; unitPrice: number }[];
	paymentFailures?: number;
	shippingDelay?: string;
	requireReview?: boolean;
}

/** What `GET /orders/:id` and `POST /orders` answer on success. */
export interface OrderStatus {
	id: string;
	status: string;
	output?: unknown;
	error?: { name: string; message: string };
}

/** What the Worker answers when the binding throws. */
export interface ErrorBody {
	error: { name: string; message: string };
}

export interface JsonResponse<T> {
	status: number;
	contentType: string | null;
	body: T;
}

async function json<T>(response: Response): Promise<JsonResponse<T>> {
	const text = await response.text();
	let body: T;
	try {
		body = JSON.parse(text) as T;
	} catch {
		throw new Error(`expected JSON from ${response.url} (HTTP ${response.status}), got: ${text}`);
	}
	return { status: response.status, contentType: response.headers.get("content-type"), body };
}

export function order(id: string, overrides: Partial<OrderBody> = {}): OrderBody {
	return {
		id,
		email: "buyer@example.com",
		items: [
			{ sku: "BOOK-1", quantity: 2, unitPrice: 15 },
			{ sku: "PEN-7", quantity: 3, unitPrice: 2 },
		],
		...overrides,
	};
}

/** What `run()` of the example workflow returns for `body`, computed independently of it. */
export function expectedOutput(body: OrderBody) {
	return {
		total: body.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0),
		chargeId: `ch_${body.id}`,
		trackingNumber: `TRACK-${body.id.slice(0, 8).toUpperCase()}`,
	};
}

export async function postOrder<T = OrderStatus | ErrorBody>(
	server: DevServer,
	body: OrderBody,
): Promise<JsonResponse<T>> {
	return json<T>(
		await server.fetch("/orders", {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify(body),
		}),
	);
}

/** `POST /orders/:id/<action>` (pause, resume, terminate, restart, events), with an optional JSON body. */
export async function postAction<T = OrderStatus | ErrorBody>(
	server: DevServer,
	id: string,
	action: string,
	body?: unknown,
): Promise<JsonResponse<T>> {
	return json<T>(
		await server.fetch(`/orders/${encodeURIComponent(id)}/${action}`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: body === undefined ? undefined : JSON.stringify(body),
		}),
	);
}

/** `GET /orders/:path`; `path` goes into the URL as it is (encode it yourself). */
export async function getOrder<T = OrderStatus | ErrorBody>(
	server: DevServer,
	path: string,
): Promise<JsonResponse<T>> {
	return json<T>(await server.fetch(`/orders/${path}`));
}

const LIVE = new Set(["queued", "running", "waiting"]);

/** A status as polling saw it: when the first and the last request that answered it were sent. */
export interface Sighting {
	status: string;
	firstSentAt: number;
	lastSentAt: number;
}

/**
 * Polls `GET /orders/:id` until the instance reports `target`, failing at once if it reaches a
 * status it cannot leave. Returns the final status and every status seen, in order.
 */
export async function pollStatus(
	server: DevServer,
	id: string,
	target: string,
	timeoutMs = 30_000,
): Promise<{ status: OrderStatus; seen: Sighting[] }> {
	const seen: Sighting[] = [];
	const describe = () => seen.map((sighting) => sighting.status).join(" → ");
	const status = await waitFor(
		async () => {
			const sentAt = Date.now();
			const response = await getOrder<OrderStatus>(server, encodeURIComponent(id));
			if (response.status !== 200) {
				throw new Error(
					`GET /orders/${id}: HTTP ${response.status} ${JSON.stringify(response.body)}`,
				);
			}
			const body = response.body;
			const last = seen.at(-1);
			if (last?.status === body.status) last.lastSentAt = sentAt;
			else seen.push({ status: body.status, firstSentAt: sentAt, lastSentAt: sentAt });
			return body;
		},
		(body) => {
			if (body.status === target) return true;
			if (!LIVE.has(body.status)) {
				throw new Error(
					`instance ${id} reached "${body.status}" while waiting for "${target}": ` +
						`${JSON.stringify(body)} (statuses seen: ${describe()})\n${server.report()}`,
				);
			}
			return false;
		},
		{
			timeoutMs,
			intervalMs: 50,
			what: `instance ${id} to be "${target}"`,
			context: () => `statuses seen: ${describe()}\n${server.report()}`,
		},
	);
	return { status, seen };
}
