/**
 * A workflow's concurrency limit (docs/limits.md): THROTTLED runs the test scenarios with a limit
 * of 3. Instances over it are `queued` at once and admitted first in first out by the gate's
 * alarm as running ones wait, pause or end; the limit holds under concurrent creates. Nothing here
 * waits on a clock: states are polled, sleeps are fast-forwarded by running the engine's alarm.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createWorkflowEngine, type WorkflowEngine, workflowBinding } from "../src";
import { GATE_NAME } from "../src/concurrency/gate";
import { getConcurrency, listInstances } from "../src/ops";
import { fireAlarm, openGate, raw, uniqueId } from "./helpers";
import { type ScenarioParams, ScenarioWorkflow } from "./workflows";

const LIMIT = 3;
const throttled = workflowBinding<ScenarioParams>(raw.THROTTLED);
const gate = () => raw.THROTTLED.get(raw.THROTTLED.idFromName(GATE_NAME));
const probe = (name: string) => raw.PROBE.get(raw.PROBE.idFromName(name));

/** Every instance a test created: terminated after it, so the next test finds every slot free. */
const created: WorkflowInstance[] = [];

async function create(
	probeName: string,
	options: { hold?: boolean; sleep?: boolean; fail?: boolean; rollback?: boolean } = {},
): Promise<WorkflowInstance> {
	const instance = await throttled.create({
		id: uniqueId("throttled"),
		params: { scenario: "throttled", probe: probeName, ...options },
	});
	created.push(instance);
	return instance;
}

const statusOf = async (instance: WorkflowInstance) => (await instance.status()).status;

/** Polls until the instance reports `status`. */
async function reaches(instance: WorkflowInstance, status: InstanceStatus["status"]) {
	await expect.poll(() => statusOf(instance)).toBe(status);
}

afterEach(async () => {
	for (const instance of created.splice(0)) {
		await instance.terminate().catch(() => {});
	}
	await expect.poll(() => gate().gateSummary()).toMatchObject({ running: 0, queued: 0 });
});

/** Starts LIMIT instances held in their step: every slot is taken. */
async function fillSlots(probeName: string): Promise<WorkflowInstance[]> {
	const holders: WorkflowInstance[] = [];
	for (let i = 0; i < LIMIT; i++) holders.push(await create(probeName, { hold: true }));
	await expect.poll(async () => (await probe(probeName).stats()).current).toBe(LIMIT);
	for (const holder of holders) expect(await statusOf(holder)).toBe("running");
	return holders;
}

describe("a concurrency limit", () => {
	it("queues an instance over the limit at once, and starts it as a slot frees", async () => {
		const name = uniqueId("probe");
		const [first] = await fillSlots(name);
		const queued = await create(name);
		expect(await statusOf(queued)).toBe("queued");
		expect(await gate().gatePositions([queued.id])).toEqual({ [queued.id]: 1 });
		await openGate((first as WorkflowInstance).id, "held");
		await reaches(first as WorkflowInstance, "complete");
		await reaches(queued, "complete");
		expect((await probe(name).stats()).max).toBe(LIMIT);
	});

	it("admits queued instances first in first out", async () => {
		const name = uniqueId("probe");
		const holders = await fillSlots(name);
		const queued: WorkflowInstance[] = [];
		for (let i = 0; i < 5; i++) queued.push(await create(name, { hold: true }));
		const positions = await gate().gatePositions(queued.map(({ id }) => id));
		expect(queued.map(({ id }) => positions[id])).toEqual([1, 2, 3, 4, 5]);
		// One slot at a time: each frees the next in line, and only it.
		const running = [...holders];
		for (const next of queued) {
			await openGate((running.shift() as WorkflowInstance).id, "held");
			await expect.poll(async () => (await probe(name).stats()).order).toContain(next.id);
			running.push(next);
			for (const later of queued.slice(queued.indexOf(next) + 1))
				expect(await statusOf(later)).toBe("queued");
		}
		expect((await probe(name).stats()).order.slice(LIMIT)).toEqual(queued.map(({ id }) => id));
	});

	it("is never exceeded by 2,000 instances created at once", { timeout: 300_000 }, async () => {
		// A limit of 50 (WIDE_THROTTLED): 1,950 of them queue at first.
		const wide = workflowBinding<ScenarioParams>(raw.WIDE_THROTTLED);
		const wideGate = raw.WIDE_THROTTLED.get(raw.WIDE_THROTTLED.idFromName(GATE_NAME));
		const name = uniqueId("probe");
		const batches = await Promise.all(
			Array.from({ length: 20 }, () =>
				wide.createBatch(
					Array.from({ length: 100 }, () => ({
						id: uniqueId("many"),
						params: { scenario: "throttled" as const, probe: name },
					})),
				),
			),
		);
		const instances = batches.flat();
		expect(instances).toHaveLength(2000);
		await expect
			.poll(async () => (await probe(name).stats()).order.length, { timeout: 240_000 })
			.toBe(2000);
		const stats = await probe(name).stats();
		expect(stats.max).toBeLessThanOrEqual(50);
		expect(stats.max).toBe(50);
		await expect
			.poll(() => wideGate.gateSummary(), { timeout: 60_000 })
			.toEqual({ limit: 50, running: 0, queued: 0 });
	});

	const endings: [string, (instance: WorkflowInstance) => Promise<unknown>][] = [
		["complete", (instance) => openGate(instance.id, "held")],
		["terminated", (instance) => instance.terminate()],
		["deleted", (instance) => throttled.deleteBatch([instance.id])],
		// Paused while its step runs, it is waitingForPause (and holds its slot) until the step ends.
		[
			"paused",
			async (instance) => {
				await instance.pause();
				expect(await statusOf(instance)).toBe("waitingForPause");
				await openGate(instance.id, "held");
			},
		],
	];
	it.each(endings)("frees a slot when an instance ends %s", async (_how, end) => {
		const name = uniqueId("probe");
		const [first] = await fillSlots(name);
		const queued = await create(name);
		expect(await statusOf(queued)).toBe("queued");
		await end(first as WorkflowInstance);
		await reaches(queued, "complete");
	});

	it("frees a slot when an instance ends errored", async () => {
		const name = uniqueId("probe");
		const holders = await fillSlots(name);
		const failing = await create(name, { hold: true, fail: true });
		const queued = await create(name);
		// The failing one queues behind the holders: free one for it, then let it fail.
		await openGate((holders[0] as WorkflowInstance).id, "held");
		await expect.poll(async () => (await probe(name).stats()).order).toContain(failing.id);
		await openGate(failing.id, "held");
		await reaches(failing, "errored");
		await reaches(queued, "complete");
	});

	it("frees a slot while an instance sleeps, and queues it for one when it wakes", async () => {
		const name = uniqueId("probe");
		const sleeper = await create(name, { hold: true, sleep: true });
		const others = [await create(name, { hold: true }), await create(name, { hold: true })];
		await expect.poll(async () => (await probe(name).stats()).current).toBe(LIMIT);
		await openGate(sleeper.id, "held");
		await reaches(sleeper, "waiting");
		// Its slot went back: a third holder starts.
		const third = await create(name, { hold: true });
		await expect.poll(async () => (await probe(name).stats()).current).toBe(LIMIT);
		expect(await statusOf(third)).toBe("running");
		// The sleep ends with every slot taken: it queues instead of running on.
		await fireAlarm(sleeper.id, raw.THROTTLED);
		await reaches(sleeper, "queued");
		expect(await gate().gatePositions([sleeper.id])).toEqual({ [sleeper.id]: 1 });
		await openGate((others[0] as WorkflowInstance).id, "held");
		await reaches(sleeper, "complete");
		expect((await probe(name).stats()).max).toBe(LIMIT);
	});

	it("lets a queued instance be paused, resumed, terminated and deleted", async () => {
		const name = uniqueId("probe");
		await fillSlots(name);
		const [a, b, c] = [await create(name), await create(name), await create(name)];
		await (a as WorkflowInstance).pause();
		expect(await statusOf(a as WorkflowInstance)).toBe("paused");
		await expect
			.poll(() => gate().gatePositions([a, b, c].map((i) => (i as WorkflowInstance).id)))
			.toEqual({
				[(b as WorkflowInstance).id]: 1,
				[(c as WorkflowInstance).id]: 2,
			});
		// Resumed, it queues again, at the end.
		await (a as WorkflowInstance).resume();
		expect(await statusOf(a as WorkflowInstance)).toBe("queued");
		await expect
			.poll(() => gate().gatePositions([(a as WorkflowInstance).id]))
			.toEqual({ [(a as WorkflowInstance).id]: 3 });
		await (b as WorkflowInstance).terminate();
		expect(await statusOf(b as WorkflowInstance)).toBe("terminated");
		await throttled.deleteBatch([(c as WorkflowInstance).id]);
		await expect
			.poll(() => gate().gateSummary())
			.toEqual({ limit: LIMIT, running: LIMIT, queued: 1 });
		expect(await gate().gatePositions([(a as WorkflowInstance).id])).toEqual({
			[(a as WorkflowInstance).id]: 1,
		});
	});

	it("runs the rollback handlers of an instance terminated without a slot once it is granted one", async () => {
		const name = uniqueId("probe");
		const sleeper = await create(name, { sleep: true, rollback: true });
		await reaches(sleeper, "waiting");
		const [first] = await fillSlots(name);
		await sleeper.terminate({ rollback: true });
		expect(await statusOf(sleeper)).toBe("rollingBack");
		// Its handler waits for a slot, first in line.
		await expect.poll(() => gate().gatePositions([sleeper.id])).toEqual({ [sleeper.id]: 1 });
		expect((await probe(name).stats()).order).not.toContain(`${sleeper.id}:rollback`);
		// A queued instance has run no step: nothing to roll back, terminated at once.
		const queued = await create(name);
		await queued.terminate({ rollback: true });
		expect(await statusOf(queued)).toBe("terminated");
		await openGate((first as WorkflowInstance).id, "held");
		await reaches(sleeper, "terminated");
		const { order, max } = await probe(name).stats();
		expect(order.filter((id) => id === `${sleeper.id}:rollback`)).toHaveLength(1);
		expect(max).toBe(LIMIT);
	});

	it("frees the slot of an instance deleted while its gate did not answer, once it does", async () => {
		const name = uniqueId("probe");
		const [first] = await fillSlots(name);
		const queued = await create(name);
		const firstId = (first as WorkflowInstance).id;
		// The gate's storage refuses to free that slot until the test lets it.
		let refusing = true;
		await runInDurableObject(gate(), (_engine: WorkflowEngine, state) => {
			const sql = state.storage.sql;
			const exec = sql.exec;
			sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
				if (!refusing) sql.exec = exec;
				else if (query.startsWith("DELETE FROM gate_holders") && bindings[0] === firstId)
					throw new Error("SQLITE_FULL (simulated)");
				return exec.call(sql, query, ...bindings);
			}) as typeof exec;
		});
		const logged = vi.spyOn(console, "error").mockImplementation(() => {});
		expect(await throttled.deleteBatch([firstId])).toEqual({
			deleted: [{ id: firstId }],
			errors: [],
		});
		expect(logged).toHaveBeenCalledWith(
			expect.stringMatching(/did not hear of it.*alarm tells it again/),
		);
		await expect(throttled.get(firstId)).rejects.toThrow(/not found/);
		// The slot is still counted: the queued instance waits.
		expect(await gate().gateSummary()).toEqual({ limit: LIMIT, running: LIMIT, queued: 1 });
		expect(await statusOf(queued)).toBe("queued");
		// The id created again queues behind it: the deleted instance's release goes first.
		const again = await throttled.create({
			id: firstId,
			params: { scenario: "throttled", probe: name, hold: true },
		});
		created.push(again);
		expect(await statusOf(again)).toBe("queued");
		// Once the gate answers, the emptied object's alarm tells it; the slot goes to the next in line.
		refusing = false;
		await reaches(queued, "complete");
		await expect
			.poll(async () => (await probe(name).stats()).order.filter((id) => id === firstId))
			.toHaveLength(2);
		const { order } = await probe(name).stats();
		expect(order.indexOf(queued.id)).toBeLessThan(order.lastIndexOf(firstId));
		logged.mockRestore();
	});

	it("rolls back in a slot a run that failed while it waited", async () => {
		const name = uniqueId("probe");
		const racer = await throttled.create({
			id: uniqueId("throttled"),
			params: { scenario: "throttledRace", probe: name },
		});
		created.push(racer);
		await reaches(racer, "waiting");
		const [first] = await fillSlots(name);
		// The run fails beside its wait: its handler needs a slot, and every one is taken.
		await openGate(racer.id, "fail");
		await reaches(racer, "rollingBack");
		await expect.poll(() => gate().gatePositions([racer.id])).toEqual({ [racer.id]: 1 });
		expect((await probe(name).stats()).order).not.toContain(`${racer.id}:rollback`);
		// An instance stored before it asked (as older versions left one): its alarm asks.
		await runInDurableObject(
			raw.THROTTLED.get(raw.THROTTLED.idFromName(racer.id)),
			(_engine: WorkflowEngine, state) => {
				state.storage.kv.delete("concurrency.slot");
				state.abort("simulated crash");
			},
		).catch(() => {});
		await fireAlarm(racer.id, raw.THROTTLED);
		await openGate((first as WorkflowInstance).id, "held");
		await reaches(racer, "errored");
		const { order, max } = await probe(name).stats();
		expect(order.filter((id) => id === `${racer.id}:rollback`)).toHaveLength(1);
		expect(max).toBe(LIMIT);
	});

	it("keeps a queued instance across a crash of the gate and of the instance", async () => {
		const name = uniqueId("probe");
		const [first] = await fillSlots(name);
		const queued = await create(name);
		expect(await statusOf(queued)).toBe("queued");
		for (const stub of [gate(), raw.THROTTLED.get(raw.THROTTLED.idFromName(queued.id))]) {
			await runInDurableObject(stub, (_engine: WorkflowEngine, state) => {
				state.abort("simulated crash");
			}).catch(() => {});
		}
		expect(await statusOf(queued)).toBe("queued");
		expect(await gate().gatePositions([queued.id])).toEqual({ [queued.id]: 1 });
		await openGate((first as WorkflowInstance).id, "held");
		await reaches(queued, "complete");
	});

	it("shows queued instances and their position in the listing", async () => {
		const name = uniqueId("probe");
		await fillSlots(name);
		const queued = [await create(name), await create(name)];
		const page = await listInstances(throttled, { status: "queued" });
		const mine = page.instances.filter(({ id }) => queued.some((q) => q.id === id));
		expect(mine.map(({ id, queuePosition }) => [id, queuePosition]).sort()).toEqual(
			queued.map(({ id }, i) => [id, i + 1]).sort(),
		);
		expect(await getConcurrency(throttled)).toEqual({ limit: LIMIT, running: LIMIT, queued: 2 });
	});

	it("refuses a limit that is not a positive integer, naming it", () => {
		for (const limit of [0, -1, 1.5, 50_001, Number.NaN]) {
			expect(() =>
				createWorkflowEngine(ScenarioWorkflow, { name: "bad", concurrency: { limit } }),
			).toThrow(/concurrency\.limit/);
		}
	});
});
