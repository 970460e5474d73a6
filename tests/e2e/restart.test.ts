/// <reference types="node" />
/**
 * Durability across a runtime restart: an instance asleep when `wrangler dev` (workerd included) is
 * killed outright must finish after a restart on the same persisted storage, woken by the
 * engine's durable alarm alone: no request touches it until it has had time to finish.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedOutput, getOrder, type OrderStatus, order, pollStatus, postOrder } from "./orders";
import { DevServer, freePort, removeDir, tempDir, waitFor } from "./wrangler";

/**
 * The order's sleep before shipping, at first. The kill must come while the order sleeps: on a
 * machine too loaded for that (seeing "waiting" and killing took longer than the sleep), the
 * run proves nothing, and another order with a sleep twice as long is tried.
 */
const FIRST_SLEEP_MS = 3_000;
const LAST_SLEEP_MS = 12_000;
/**
 * How long after the sleep's end (or the restart, if later) the alarm gets to finish the run: 5 s,
 * or as long as the restart took, if longer (a machine that slow runs the alarm slowly too).
 */
const MARGIN_MS = 5_000;

let server: DevServer | undefined;
let persistDir: string;
let port: number;

beforeAll(async () => {
	persistDir = tempDir("restart");
	port = await freePort();
});

afterAll(async () => {
	try {
		await server?.stop();
	} finally {
		removeDir(persistDir);
	}
});

describe("a runtime restart with persisted storage", () => {
	it("wakes a sleeping instance by its alarm, without any request, and does not redo its steps", async () => {
		server = await DevServer.start({ port, persistTo: persistDir });

		// An order that completes before the crash: its stored result must survive as it is.
		const finished = order(`before-${Date.now()}`, { shippingDelay: "1 second" });
		expect((await postOrder(server, finished)).status, server.report()).toBe(201);
		const finishedStatus = (await pollStatus(server, finished.id, "complete")).status;
		expect(finishedStatus.output).toEqual(expectedOutput(finished));

		// An order asleep at the crash. The payment fails once first (a durable 1 s retry delay).
		let sleeping: ReturnType<typeof order>;
		let sleepMs = FIRST_SLEEP_MS;
		let waitingSeenAt: number;
		for (;;) {
			sleeping = order(`asleep-${Date.now()}`, {
				paymentFailures: 1,
				shippingDelay: `${sleepMs / 1000} seconds`,
			});
			const createdAt = Date.now();
			expect((await postOrder(server, sleeping)).status, server.report()).toBe(201);
			const { seen } = await pollStatus(server, sleeping.id, "waiting");
			waitingSeenAt = Date.now();

			// Kill wrangler and workerd at once (SIGKILL to the process group): no graceful shutdown.
			const killedBy = await server.crash();
			server = undefined;
			// The sleep began after the last request that still saw the instance busy was sent (or
			// after the create request), so it cannot end before that + sleepMs. Killed before then,
			// the instance was certainly still asleep.
			const sleepBeganAfter = seen.findLast((s) => s.status !== "waiting")?.lastSentAt ?? createdAt;
			if (killedBy < sleepBeganAfter + sleepMs) break;
			expect(sleepMs, "the crash came too late to interrupt the sleep").toBeLessThan(LAST_SLEEP_MS);
			sleepMs *= 2;
			server = await DevServer.start({ port, persistTo: persistDir });
		}

		const startingAt = Date.now();
		server = await DevServer.start({ port, persistTo: persistDir });
		const restarted = server;
		const readyAt = Date.now();

		// The sleep began before "waiting" was seen, so it ended by waitingSeenAt + sleepMs (or it
		// was due while the runtime was down, and is due at once). Until the alarm has had its
		// margin, only the Worker's usage route is requested, never the instance.
		const margin = Math.max(MARGIN_MS, readyAt - startingAt);
		const wakeBy = Math.max(waitingSeenAt + sleepMs, readyAt) + margin;
		await waitFor(
			async () => {
				const response = await restarted.fetch("/");
				await response.arrayBuffer();
				return { status: response.status, at: Date.now() };
			},
			({ status, at }) => status === 200 && at >= wakeBy,
			{
				timeoutMs: wakeBy - Date.now() + 10_000,
				intervalMs: 250,
				what: "the sleep's end plus a margin, polling GET / only",
				context: () => restarted.report(),
			},
		);
		expect(restarted.report(), "nothing may have requested an instance yet").not.toContain(
			"/orders",
		);

		// One request: the instance must already be complete, with the output a single run gives.
		const after = await getOrder<OrderStatus>(restarted, sleeping.id);
		expect(after.status, restarted.report()).toBe(200);
		expect(after.body, `woken by its alarm? ${restarted.report()}`).toEqual({
			id: sleeping.id,
			status: "complete",
			output: expectedOutput(sleeping),
		});

		// The order that had finished before the crash reads back unchanged.
		const before = await getOrder<OrderStatus>(restarted, finished.id);
		expect(before.body).toEqual(finishedStatus);
	});
});
