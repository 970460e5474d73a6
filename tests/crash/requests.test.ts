/// <reference types="node" />
/**
 * The crash test's requests (harness.ts) across a restart of the Worker under `wrangler dev`: its
 * proxy answers a POST it forwarded when the Worker restarted with a 503 of its own. Checked here
 * against a stand-in server that answers as the proxy and the crash Worker do: a POST that never
 * began is sent again, a batch of creates that began is finished, events that began are not sent
 * twice, and a 503 of the Worker's own is an error.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { create, exists, sendEvents } from "./harness";
import { REQUEST_ID_HEADER } from "./protocol";

/** wrangler dev's answer (ProxyWorker in wrangler-dist) when the Worker restarted mid-request. */
function restartedMidRequest(res: ServerResponse) {
	res.writeHead(503, { "Retry-After": "0" });
	res.end(
		"Your worker restarted mid-request. Please try sending the request again. Only GET or HEAD requests are retried automatically.",
	);
}

interface Seen {
	method: string;
	path: string;
	id: string | undefined;
	body: unknown;
}

type Handler = (seen: Seen, res: ServerResponse, began: Set<string>) => void;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
	await close?.();
	close = undefined;
});

/** A stand-in for the crash Worker behind wrangler dev; answers `/counters/received` itself. */
async function fakeServer(handle: Handler) {
	const seen: Seen[] = [];
	const began = new Set<string>();
	const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
		let text = "";
		for await (const chunk of req) text += chunk;
		const url = new URL(req.url ?? "/", "http://x");
		if (url.pathname === "/counters/received") {
			res.end(JSON.stringify({ received: began.has(url.searchParams.get("id") ?? "") }));
			return;
		}
		const entry: Seen = {
			method: req.method ?? "",
			path: url.pathname,
			id: req.headers[REQUEST_ID_HEADER] as string | undefined,
			body: text ? JSON.parse(text) : undefined,
		};
		seen.push(entry);
		handle(entry, res, began);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	close = () => new Promise((resolve) => server.close(() => resolve()));
	const { port } = server.address() as AddressInfo;
	return { server: { url: `http://127.0.0.1:${port}`, report: () => "(fake)" }, seen };
}

const json = (res: ServerResponse, value: unknown, status = 200) => {
	res.writeHead(status, { "content-type": "application/json" });
	res.end(JSON.stringify(value));
};

const params = { nap1Ms: 1, nap2Ms: 1, failures: 0, retryDelayMs: 1, longMs: 1 };
const event = (id: string) => ({ id, type: "early", payload: { pid: `${id}/early/1` } });

describe("requests across a restart of the Worker", () => {
	it("sends a POST again, under the same id, when the restart came before the Worker began it", async () => {
		let posts = 0;
		const { server, seen } = await fakeServer((req, res, began) => {
			if (++posts === 1) return restartedMidRequest(res);
			began.add(req.id ?? "");
			json(res, { sent: 1 });
		});
		expect(await sendEvents(server, [event("a")])).toEqual({ sent: 1 });
		expect(seen.map((s) => s.path)).toEqual(["/instances/events", "/instances/events"]);
		expect(seen[0]?.id).toBeTruthy();
		expect(seen[1]?.id).toBe(seen[0]?.id);
	});

	it("finishes a batch of creates the Worker began: creates only the instances that do not exist", async () => {
		const created = new Set<string>();
		let restarted = false;
		const { server, seen } = await fakeServer((req, res, began) => {
			began.add(req.id ?? "");
			const list = req.body as { id: string }[];
			if (req.path === "/instances/exists") {
				return json(
					res,
					(req.body as string[]).map((id) => ({ id, exists: created.has(id) })),
				);
			}
			if (!restarted) {
				// The Worker created the first instance, then restarted.
				restarted = true;
				created.add(list[0]?.id ?? "");
				return restartedMidRequest(res);
			}
			for (const { id } of list) created.add(id);
			json(res, { created: list.map(({ id }) => id) });
		});
		const list = ["a", "b", "c"].map((id) => ({ id, params }));
		expect(await create(server, list)).toEqual({ created: ["a", "b", "c"] });
		expect(seen.map((s) => s.path)).toEqual(["/instances", "/instances/exists", "/instances"]);
		expect(seen[2]?.body).toEqual([
			{ id: "b", params },
			{ id: "c", params },
		]);
		expect([...created].sort()).toEqual(["a", "b", "c"]);
	});

	it("counts an 'already exists' as created once the instance is seen to exist", async () => {
		let checks = 0;
		let posts = 0;
		const { server } = await fakeServer((req, res, began) => {
			began.add(req.id ?? "");
			if (req.path === "/instances/exists") {
				checks++;
				// "b" appears only at the second look (the interrupted batch's create landed late).
				const ids = req.body as string[];
				return json(
					res,
					ids.map((id) => ({ id, exists: id === "a" || checks > 1 })),
				);
			}
			if (++posts === 1) return restartedMidRequest(res);
			json(res, { error: 'InstanceExistsError: instance "b" already exists' }, 500);
		});
		const list = ["a", "b"].map((id) => ({ id, params }));
		expect(await create(server, list)).toEqual({ created: ["a", "b"] });
		expect(checks).toBe(2);
	});

	it("does not send events again once the Worker began them, and says why", async () => {
		const { server, seen } = await fakeServer((req, res, began) => {
			began.add(req.id ?? "");
			restartedMidRequest(res);
		});
		await expect(sendEvents(server, [event("a")])).rejects.toThrow(
			/restarted while it ran the request .*after it had begun/,
		);
		expect(seen).toHaveLength(1);
	});

	it("sends a read-only request again even when the Worker began it", async () => {
		let posts = 0;
		const { server, seen } = await fakeServer((req, res, began) => {
			began.add(req.id ?? "");
			if (++posts === 1) return restartedMidRequest(res);
			json(
				res,
				(req.body as string[]).map((id) => ({ id, exists: true })),
			);
		});
		expect(await exists(server, ["a"])).toEqual([{ id: "a", exists: true }]);
		expect(seen).toHaveLength(2);
	});

	it("takes a 503 of the Worker's own for an error, and does not send the request again", async () => {
		const { server, seen } = await fakeServer((_req, res) => {
			res.writeHead(503, { "Retry-After": "0" });
			res.end("the Worker is overloaded");
		});
		await expect(sendEvents(server, [event("a")])).rejects.toThrow(/HTTP 503: the Worker/);
		expect(seen).toHaveLength(1);
	});
});
