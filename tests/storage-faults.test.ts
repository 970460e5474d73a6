/**
 * Storage refusing writes (SQLITE_NOMEM, a full disk) is the runtime's fault, not the workflow's:
 * it must not spend a step's retries or its interruption budget, reach run() as the step's
 * error, fail the instance, or lose anything a call acknowledged. The engine object's storage is
 * made to refuse chosen statements (as a flooded runtime does) and then recover.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isWorkflowError, type WorkflowEngine } from "../src";
import { engineClient } from "../src/binding/client";
import type { EngineNamespace } from "../src/engine/protocol";
import { getInstanceHistory } from "../src/ops";
import {
	calls,
	engineStub,
	fastForward,
	fireAlarm,
	openGate,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";

const NOMEM = "out of memory: SQLITE_NOMEM";

interface Refusals {
	count: number;
	restore(): void;
}

/** The refusals set up by `refuse`, by engine object (the object lives in this isolate). */
const refusals = new Map<string, Refusals>();

/**
 * Makes instance `id`'s engine object refuse, as SQLite out of memory does, every statement that
 * matches `sql` and every KV write whose key matches `kv`, until the test ends.
 */
async function refuse(id: string, { sql, kv }: { sql?: RegExp; kv?: RegExp }): Promise<void> {
	await runInDurableObject(engineStub(id), (_engine: WorkflowEngine, state) => {
		const storage = state.storage;
		const { exec } = storage.sql;
		const { put } = storage.kv;
		const entry: Refusals = {
			count: 0,
			restore() {
				storage.sql.exec = exec;
				storage.kv.put = put;
			},
		};
		storage.sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
			if (sql?.test(query)) {
				entry.count++;
				throw new Error(NOMEM);
			}
			return exec.call(storage.sql, query, ...bindings);
		}) as typeof exec;
		storage.kv.put = ((key: string, value: unknown) => {
			if (kv?.test(key)) {
				entry.count++;
				throw new Error(NOMEM);
			}
			return put.call(storage.kv, key, value);
		}) as typeof put;
		refusals.set(id, entry);
	});
}

function refused(id: string): number {
	return refusals.get(id)?.count ?? 0;
}

function recover(id: string): void {
	refusals.get(id)?.restore();
	refusals.delete(id);
}

/** The statement that records a step's output (journal.succeed). */
const SUCCEED = /^UPDATE steps SET state = \?, ended_at = \?, due_at = NULL, output_json/;
/** The statement that records a failed attempt (journal.failAttempt). */
const FAIL_ATTEMPT = /^UPDATE steps SET failures = failures \+ 1/;

describe("storage refusing writes", () => {
	afterEach(() => {
		for (const id of refusals.keys()) recover(id);
		vi.restoreAllMocks();
	});

	it("stops the run when a step's outcome cannot be recorded, and the lease replays it to completion", async () => {
		const logged = vi.spyOn(console, "error").mockImplementation(() => {});
		const instance = await start("gated");
		await expect.poll(async () => (await calls(instance.id)).held).toBe(1);
		// Neither the output nor a failed attempt can be recorded.
		await refuse(instance.id, { sql: new RegExp(`${SUCCEED.source}|${FAIL_ATTEMPT.source}`) });
		await openGate(instance.id, "held");
		await expect.poll(() => refused(instance.id)).toBeGreaterThan(0);
		recover(instance.id);

		// Not errored, and no retry spent: the run was dropped and waits for its lease.
		expect((await instance.status()).status).toBe("running");
		await expect.poll(() => fireAlarm(instance.id)).toBe(true);
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ held: "released", last: 1 });
		// The cut-off attempt ran again: its side effects are at least once, as after a crash.
		expect(await calls(instance.id)).toMatchObject({ held: 2, released: 2, last: 1 });
		const history = await getInstanceHistory(scenarioWorkflow, instance.id);
		const held = history.steps.find((step) => step.name === "held");
		// One interrupted attempt, no failed one: the retry budget is untouched.
		expect(held).toMatchObject({
			state: "complete",
			interruptedAttempts: 1,
			attempts: [{ attempt: 2, outcome: "success" }],
		});
		expect(logged).toHaveBeenCalledWith(expect.stringContaining("SQLITE_NOMEM"));
	});

	it("does not count attempts cut off by storage against the step's interruption budget", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const instance = await start("gated");
		await expect.poll(async () => (await calls(instance.id)).held).toBe(1);
		await refuse(instance.id, { sql: SUCCEED });
		await openGate(instance.id, "held");
		await expect.poll(() => refused(instance.id)).toBe(1);
		// More replays than the 5 interruptions a step may have, each cut off the same way.
		for (let replay = 2; replay <= 7; replay++) {
			await expect.poll(() => fireAlarm(instance.id)).toBe(true);
			await expect.poll(() => refused(instance.id)).toBe(replay);
		}
		recover(instance.id);
		await expect.poll(() => fireAlarm(instance.id)).toBe(true);
		await waitForStatus(instance, "waiting");
		expect(await calls(instance.id)).toMatchObject({ held: 8, released: 8 });
	});

	it("rejects a create with StorageUnavailableError, storing nothing, so the same create succeeds later", async () => {
		const id = uniqueId("refused-create");
		await refuse(id, { sql: /^INSERT INTO instance/ });
		const params = { scenario: "basic" as const };
		const error = await scenarioWorkflow.create({ id, params }).catch((e: unknown) => e);
		expect(isWorkflowError(error)).toBe(true);
		expect(error).toMatchObject({
			name: "StorageUnavailableError",
			code: "storage_unavailable",
			message: expect.stringContaining("SQLITE_NOMEM"),
		});
		recover(id);
		const instance = await scenarioWorkflow.create({ id, params });
		expect((await waitForStatus(instance, "complete")).output).toEqual({ a: 1, b: 2 });
	});

	it("rejects a sendEvent whose event cannot be buffered, and keeps no half-stored event", async () => {
		const instance = await start("gated");
		await expect.poll(async () => (await calls(instance.id)).held).toBe(1);
		const buffered = () =>
			runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
				engine.journal.bufferedEvents(),
			);
		// The event's row is written, then its payload is refused: both or neither stay.
		await refuse(instance.id, { kv: /^event:/ });
		await expect(instance.sendEvent({ type: "later", payload: new Date(0) })).rejects.toMatchObject(
			{
				name: "StorageUnavailableError",
			},
		);
		expect(await buffered()).toBe(0);
		recover(instance.id);
		await instance.sendEvent({ type: "later", payload: new Date(0) });
		expect(await buffered()).toBe(1);
		await openGate(instance.id, "held");
		await waitForStatus(instance, "waiting");
	});

	it("types a storage refusal that an engine object throws instead of answering (it could not open)", async () => {
		// A namespace whose object throws as workerd does when SQLite cannot open another database.
		const failing = (message: string) =>
			({
				idFromName: (name: string) => ({ name }),
				get: () => new Proxy({}, { get: () => () => Promise.reject(new Error(message)) }),
			}) as unknown as EngineNamespace;
		await expect(engineClient(failing(NOMEM), "x").status()).rejects.toMatchObject({
			name: "StorageUnavailableError",
			code: "storage_unavailable",
			message: expect.stringContaining(`instance "x": its storage is unavailable (${NOMEM})`),
		});
		// Anything else is thrown as RPC threw it.
		await expect(engineClient(failing("Network connection lost."), "x").status()).rejects.toThrow(
			/^Network connection lost\.$/,
		);
	});
});
