/**
 * The product's batch API (workers-types 5): createBatch({ count }) and createBatch({ instances })
 * with per-instance errors, the deprecated array form (which leaves out ids it cannot create), and
 * deleteBatch(ids). Error codes are the product's (src/binding/requests.ts).
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type WorkflowEngine, WorkflowValidationError, workflowBinding } from "../src";
import { shardName, shardOf } from "../src/listing/shard";
import { listInstances } from "../src/ops";
import {
	calls,
	engineStub,
	raw,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import type { ScenarioParams } from "./workflows";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const basic = { scenario: "basic" } as const;

/** The listing shard's row of `id`, or undefined. */
function shardRow(id: string) {
	return runInDurableObject(engineStub(shardName(shardOf(id))), (_e: WorkflowEngine, state) =>
		state.storage.sql
			.exec("SELECT status, deleted, pending FROM listing WHERE id = ?", id)
			.toArray()
			.at(0),
	);
}

/** The ids `listInstances` shows among those created since `since`. */
async function listedIds(since: number): Promise<string[]> {
	const ids: string[] = [];
	let cursor: string | undefined;
	do {
		const page = await listInstances(scenarioWorkflow, { createdAfter: since, limit: 100, cursor });
		ids.push(...page.instances.map(({ id }) => id));
		cursor = page.cursor;
	} while (cursor);
	return ids;
}

/** The SCENARIO namespace, counting the objects (engines or listing shards) a call asks for. */
function counting() {
	const touched = { objects: 0 };
	const namespace = new Proxy(raw.SCENARIO, {
		get(target, key) {
			const value = Reflect.get(target, key);
			if (key === "get") touched.objects++;
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	return { workflow: workflowBinding<ScenarioParams>(namespace), touched };
}

/**
 * The SCENARIO namespace, except that the create of instance `failId` fails as a broken
 * connection would (the engine object never sees it).
 */
function failingCreateOf(failId: string): DurableObjectNamespace<WorkflowEngine> {
	const failing = raw.SCENARIO.idFromName(failId);
	return new Proxy(raw.SCENARIO, {
		get(target, key) {
			const value = Reflect.get(target, key);
			if (key !== "get") return typeof value === "function" ? value.bind(target) : value;
			return (...args: Parameters<typeof target.get>) => {
				const stub = target.get(...args);
				if (!args[0].equals(failing)) return stub;
				return new Proxy(stub, {
					get(stubTarget, method) {
						if (method !== "create") return Reflect.get(stubTarget, method, stubTarget);
						return async () => {
							throw new Error("the connection was lost");
						};
					},
				});
			};
		},
	});
}

describe("createBatch({ count })", () => {
	it("creates count instances with generated ids, each with the shared params, and lists them", async () => {
		const since = Date.now();
		const result = await scenarioWorkflow.createBatch({
			count: 3,
			params: { scenario: "event", shared: true },
			retention: { successRetention: "1 day" },
			locationHint: "weur",
		});
		expect(result.errors).toEqual([]);
		const ids = result.created.map((instance) => instance.id);
		expect(ids).toHaveLength(3);
		expect(new Set(ids).size).toBe(3);
		for (const id of ids) expect(id).toMatch(UUID);
		for (const instance of result.created) {
			const { output } = await waitForStatus(instance, "complete");
			expect(output).toMatchObject({
				payload: { scenario: "event", shared: true },
				instanceId: instance.id,
			});
		}
		// Instances that end within their create have their rows written by the batch.
		for (const id of ids)
			expect(await shardRow(id)).toMatchObject({ status: "complete", pending: 0 });
		expect(await listedIds(since)).toEqual(expect.arrayContaining(ids));
	});

	it("accepts 100 and gives run() an empty object without params", async () => {
		const result = await scenarioWorkflow.createBatch({ count: 100 });
		expect(result.errors).toEqual([]);
		expect(result.created).toHaveLength(100);
		// No params: the scenario dispatcher finds no scenario and run() throws, as create() shows.
		const last = result.created[99] as WorkflowInstance;
		expect((await waitForStatus(last, "errored")).error?.name).toBe("TypeError");
	});

	it.for([
		{ label: "0", options: { count: 0 }, message: "createBatch expects at least 1 instance" },
		{
			label: "101",
			options: { count: 101 },
			message: "createBatch accepts at most 100 instances per call, got 101",
		},
		{
			label: "a fraction",
			options: { count: 1.5 },
			message: "createBatch count must be an integer from 1 to 100, got 1.5",
		},
		{
			label: "a string",
			options: { count: "2" },
			message: 'createBatch count must be an integer from 1 to 100, got "2"',
		},
		{
			label: "an id",
			options: { count: 1, id: "chosen" },
			message: /^createBatch\(\{ count \}\) gives each instance a generated id/,
		},
		{
			label: "an unknown option",
			options: { count: 1, colour: "red" },
			message: /^createBatch options: Unrecognized key/,
		},
		{
			label: "params too large",
			options: { count: 2, params: { blob: "x".repeat(1024 * 1024) } },
			message: /^createBatch options\.params is \d+ bytes; it must be at most 1048576 bytes/,
		},
		{
			label: "count with instances",
			options: { count: 1, instances: [{}] },
			message: /^createBatch\(\{ instances \}\) takes no other option/,
		},
		{
			label: "neither",
			options: { params: {} },
			message: "createBatch expects { count }, { instances } or an array of create options",
		},
	])(
		"refuses $label with WorkflowValidationError, before any request",
		async ({ options, message }) => {
			const { workflow, touched } = counting();
			const error = await workflow.createBatch(options as never).catch((e) => e);
			expect(error).toBeInstanceOf(WorkflowValidationError);
			if (typeof message === "string") expect(error.message).toBe(message);
			else expect(error.message).toMatch(message);
			expect(touched.objects).toBe(0);
		},
	);
});

describe("createBatch({ instances })", () => {
	it("creates each instance it can and reports the others by index: an existing id, a repeated id", async () => {
		const existing = await start("sleep", { duration: "1 day" });
		await waitForStatus(existing, "waiting");
		const [a, b] = [uniqueId("a"), uniqueId("b")];
		const result = await scenarioWorkflow.createBatch({
			instances: [
				{ id: a, params: basic },
				{ id: existing.id, params: basic },
				{ params: { scenario: "event" } },
				{ id: a, params: { scenario: "event" } },
				{ id: b, params: basic },
				{ id: b, params: basic },
			],
		});
		expect(result.errors).toEqual([
			{
				index: 1,
				id: existing.id,
				code: 10405,
				message: `instance "${existing.id}" already exists`,
			},
			{
				index: 3,
				id: a,
				code: 10415,
				message: `instance id "${a}" repeats that of entry 0 of the batch`,
			},
			{
				index: 5,
				id: b,
				code: 10415,
				message: `instance id "${b}" repeats that of entry 4 of the batch`,
			},
		]);
		const ids = result.created.map((instance) => instance.id);
		expect(ids).toEqual([a, expect.stringMatching(UUID), b]);
		// The first entry with an id is the one created: its params, not the repeat's.
		const first = result.created[0] as WorkflowInstance;
		expect((await waitForStatus(first, "complete")).output).toEqual({ a: 1, b: 2 });
		expect(await calls(a)).toEqual({ first: 1, second: 1 });
		await waitForStatus(result.created[2] as WorkflowInstance, "complete");
		expect(await calls(b)).toEqual({ first: 1, second: 1 });
		// The existing instance is left as it was, and still listed as it is.
		expect((await existing.status()).status).toBe("waiting");
		expect(await calls(existing.id)).toEqual({ before: 1 });
		await expect.poll(() => shardRow(existing.id)).toMatchObject({ status: "waiting" });
		await existing.terminate();
	});

	it("reports an instance whose create failed (10001) and creates the rest", async () => {
		const [ok, broken] = [uniqueId("ok"), uniqueId("broken")];
		const workflow = workflowBinding<ScenarioParams>(failingCreateOf(broken));
		const result = await workflow.createBatch({
			instances: [
				{ id: broken, params: basic },
				{ id: ok, params: basic },
			],
		});
		expect(result.errors).toEqual([
			{ index: 0, id: broken, code: 10001, message: "Error: the connection was lost" },
		]);
		expect(result.created.map((instance) => instance.id)).toEqual([ok]);
		await waitForStatus(result.created[0] as WorkflowInstance, "complete");
		expect(await engineStub(broken).exists()).toBe(false);
	});

	it.for([
		{
			label: "an invalid id",
			instances: [{ id: "fine" }, { id: "not ok" }],
			message: /^createBatch\.instances\[1\]\.id: instance id must match/,
		},
		{
			label: "an invalid entry",
			instances: [{ id: "fine" }, { params: {}, colour: "red" }],
			message: /^createBatch\.instances\[1\]: Unrecognized key/,
		},
		{
			label: "a missing entry",
			instances: [{ id: "fine" }, null],
			message: /^createBatch\.instances\[1\]/,
		},
		{
			label: "101 instances",
			instances: Array.from({ length: 101 }, () => ({})),
			message: "createBatch accepts at most 100 instances per call, got 101",
		},
		{ label: "no instances", instances: [], message: "createBatch expects at least 1 instance" },
		{
			label: "a non-array",
			instances: { id: "x" },
			message: "createBatch instances must be an array of create options",
		},
	])(
		"refuses $label with WorkflowValidationError, before any request",
		async ({ instances, message }) => {
			const { workflow, touched } = counting();
			const error = await workflow.createBatch({ instances } as never).catch((e) => e);
			expect(error).toBeInstanceOf(WorkflowValidationError);
			if (typeof message === "string") expect(error.message).toBe(message);
			else expect(error.message).toMatch(message);
			expect(touched.objects).toBe(0);
		},
	);

	it("takes no batch-wide options beside instances", async () => {
		const error = await scenarioWorkflow
			.createBatch({ instances: [{}], params: basic } as never)
			.catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toMatch(/^createBatch\(\{ instances \}\) takes no other option/);
	});
});

describe("createBatch([...]), the deprecated array form", () => {
	it("leaves out an existing id and a repeated one, without an error, and creates the rest", async () => {
		const existing = await start("sleep", { duration: "1 day" });
		await waitForStatus(existing, "waiting");
		const [fresh, twice] = [uniqueId("fresh"), uniqueId("twice")];
		const created = await scenarioWorkflow.createBatch([
			{ id: fresh, params: basic },
			{ id: existing.id, params: basic },
			{ id: twice, params: basic },
			{ id: twice, params: { scenario: "event" } },
		]);
		expect(created.map((instance) => instance.id)).toEqual([fresh, twice]);
		for (const instance of created) {
			expect((await waitForStatus(instance, "complete")).output).toEqual({ a: 1, b: 2 });
		}
		expect((await existing.status()).status).toBe("waiting");
		expect(await calls(existing.id)).toEqual({ before: 1 });
		await existing.terminate();
	});

	it("rejects with a create's failure for another reason than its id, once every create was tried", async () => {
		const [broken, ok] = [uniqueId("broken"), uniqueId("ok")];
		const workflow = workflowBinding<ScenarioParams>(failingCreateOf(broken));
		await expect(
			workflow.createBatch([
				{ id: broken, params: basic },
				{ id: ok, params: basic },
			]),
		).rejects.toThrow("the connection was lost");
		expect(await engineStub(ok).exists()).toBe(true);
		expect(await engineStub(broken).exists()).toBe(false);
	});
});

describe("deleteBatch", () => {
	it("deletes each instance once and answers per id given: deleted, or not found (10400)", async () => {
		const since = Date.now();
		const done = await start("basic");
		const sleeping = await start("sleep", { duration: "1 day" });
		await waitForStatus(done, "complete");
		await waitForStatus(sleeping, "waiting");
		await expect.poll(() => shardRow(sleeping.id)).toMatchObject({ status: "waiting" });
		const unknown = uniqueId("unknown");
		const result = await scenarioWorkflow.deleteBatch([
			done.id,
			unknown,
			sleeping.id,
			done.id,
			unknown,
		]);
		const notFound = { id: unknown, code: 10400, message: `instance "${unknown}" not found` };
		expect(result).toEqual({
			deleted: [{ id: done.id }, { id: sleeping.id }, { id: done.id }],
			errors: [notFound, notFound],
		});
		for (const id of [done.id, sleeping.id]) {
			expect(await engineStub(id).exists()).toBe(false);
			await expect(scenarioWorkflow.get(id)).rejects.toThrow(`instance "${id}" not found`);
			// The engine removes its row as it is deleted: a tombstone, listed no more.
			await expect.poll(() => shardRow(id)).toMatchObject({ deleted: 1 });
		}
		const listed = await listedIds(since);
		for (const id of [done.id, sleeping.id]) expect(listed).not.toContain(id);
		// A deleted id can be used again.
		const again = await scenarioWorkflow.create({ id: done.id, params: basic });
		await waitForStatus(again, "complete");
		expect(await calls(done.id)).toEqual({ first: 2, second: 2 });
	});

	it("deletes 100 ids, counting repeats toward the limit", async () => {
		const instances = await scenarioWorkflow.createBatch({ count: 50, params: basic });
		const ids = instances.created.map((instance) => instance.id);
		const result = await scenarioWorkflow.deleteBatch([...ids, ...ids]);
		expect(result.errors).toEqual([]);
		expect(result.deleted).toEqual([...ids, ...ids].map((id) => ({ id })));
		const error = await scenarioWorkflow.deleteBatch([...ids, ...ids, "one-more"]).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toBe("deleteBatch accepts at most 100 ids per call, got 101");
	});

	it.for([
		{ label: "an empty list", ids: [], message: "deleteBatch expects at least 1 id" },
		{ label: "a non-array", ids: "x", message: "deleteBatch expects an array of instance ids" },
		{
			label: "an invalid id",
			ids: ["KEEP", "not ok"],
			message: /^deleteBatch\[1\]: instance id must match/,
		},
		{
			label: "a non-string",
			ids: ["KEEP", 7],
			message: /^deleteBatch\[1\]: instance id must be a string/,
		},
	])("refuses $label with WorkflowValidationError, deleting nothing", async ({ ids, message }) => {
		const kept = uniqueId("kept");
		const list = Array.isArray(ids) ? ids.map((id) => (id === "KEEP" ? kept : id)) : ids;
		const { workflow, touched } = counting();
		const error = await workflow.deleteBatch(list as never).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		if (typeof message === "string") expect(error.message).toBe(message);
		else expect(error.message).toMatch(message);
		expect(touched.objects).toBe(0);
	});
});
