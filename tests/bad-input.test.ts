/**
 * The bad-input matrix: every public entry point, fed wrong types, missing fields, oversized
 * values and calls its state does not allow. Each must fail at the call with a typed error that
 * names the problem, and leave what the instance had stored exactly as it was.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { InvalidStateError, type WorkflowEngine, WorkflowValidationError } from "../src";
import { engineStub, scenarioWorkflow, start, uniqueId, waitForStatus } from "./helpers";

/**
 * Everything an instance stores: its row, its journal, its buffered events (the table exists once
 * one was buffered), its KV keys and values, its alarm.
 */
async function snapshot(id: string) {
	return runInDurableObject(engineStub(id), async (engine: WorkflowEngine, state) => ({
		instance: engine.journal.instance(),
		steps: state.storage.sql.exec("SELECT * FROM steps ORDER BY seq").toArray(),
		events: state.storage.sql
			.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'")
			.toArray().length
			? state.storage.sql.exec("SELECT * FROM events ORDER BY seq").toArray()
			: [],
		kv: [...state.storage.kv.list()],
		alarm: await state.storage.getAlarm(),
	}));
}

type Call = (instance: WorkflowInstance) => Promise<unknown>;

const mib = "x".repeat(1024 * 1024);

/**
 * Values structured clone takes (it copies their own fields into a plain object) but RPC, which
 * carries params and payloads to the instance, refuses with a DataCloneError.
 */
class Order {
	sku = "book";
}
class Secret {
	#key = 1;
	shown = 2;
	get key() {
		return this.#key;
	}
}
const nullPrototype = Object.assign(Object.create(null) as object, { a: 1 });
const unsendable = [
	{ label: "a class instance", value: new Order(), at: "", what: "an instance of class Order" },
	{
		label: "a class instance in an array in an object",
		value: { items: [1, new Order()] },
		at: ".items[1]",
		what: "an instance of class Order",
	},
	{
		label: "a class instance in a Map",
		value: new Map([["k", new Order()]]),
		at: "<map value 0>",
		what: "an instance of class Order",
	},
	{
		label: "an instance with private fields",
		value: { s: new Secret() },
		at: ".s",
		what: "an instance of class Secret",
	},
	{
		label: "an object with a null prototype",
		value: [nullPrototype],
		at: "[0]",
		what: "an object with a null prototype",
	},
	{
		label: "an object whose prototype is another object",
		value: Object.create({ inherited: 1 }) as object,
		at: "",
		what: "an object whose prototype is not Object.prototype",
	},
];
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const onWaiting: {
	label: string;
	call: Call;
	error: typeof WorkflowValidationError | typeof InvalidStateError;
	message: RegExp;
}[] = [
	{
		label: "sendEvent without a type",
		call: (i) => i.sendEvent({ payload: 1 } as never),
		error: WorkflowValidationError,
		message: /^event\.type: event type must be a string$/,
	},
	{
		label: "sendEvent with a numeric type",
		call: (i) => i.sendEvent({ type: 5, payload: 1 } as never),
		error: WorkflowValidationError,
		message: /^event\.type: /,
	},
	{
		label: "sendEvent with a 101-character type",
		call: (i) => i.sendEvent({ type: "t".repeat(101), payload: 1 }),
		error: WorkflowValidationError,
		message: /at most 100 characters/,
	},
	{
		label: "sendEvent with a 1 MiB payload",
		call: (i) => i.sendEvent({ type: "approval", payload: mib }),
		error: WorkflowValidationError,
		message: /at most 1048576 bytes/,
	},
	{
		label: "sendEvent with a function payload",
		call: (i) => i.sendEvent({ type: "approval", payload: () => 1 }),
		error: WorkflowValidationError,
		message: /structured-clone serialisable/,
	},
	...unsendable.map(({ label, value, at, what }) => ({
		label: `sendEvent with ${label} in its payload`,
		call: (i: WorkflowInstance) => i.sendEvent({ type: "approval", payload: value }),
		error: WorkflowValidationError,
		message: new RegExp(
			`^event\\.payload${literal(at)} is ${what}, which cannot be sent to the instance: event\\.payload must be plain, structured-clone serialisable data`,
		),
	})),
	{
		label: "sendEvent with no argument",
		call: (i) => (i.sendEvent as () => Promise<void>)(),
		error: WorkflowValidationError,
		message: /^event: /,
	},
	{
		label: "restart from an unknown step",
		call: (i) => i.restart({ from: { name: "nope" } }),
		error: InvalidStateError,
		message: /no such step in its history/,
	},
	{
		label: "restart with a bad count",
		call: (i) => i.restart({ from: { name: "before", count: -1 } }),
		error: WorkflowValidationError,
		message: /^restart options\.from\.count: /,
	},
	{
		label: "restart with an unknown step type",
		call: (i) => i.restart({ from: { name: "before", type: "nap" } } as never),
		error: WorkflowValidationError,
		message: /^restart options\.from\.type: /,
	},
	{
		label: "restart with an unknown option",
		call: (i) => i.restart({ to: 1 } as never),
		error: WorkflowValidationError,
		message: /^restart options: /,
	},
	{
		label: "resume when not paused",
		call: (i) => i.resume(),
		error: InvalidStateError,
		message: /it is waiting, not paused/,
	},
];

const onComplete: { label: string; call: Call }[] = [
	{ label: "pause", call: (i) => i.pause() },
	{ label: "resume", call: (i) => i.resume() },
	{ label: "terminate", call: (i) => i.terminate() },
	{ label: "sendEvent", call: (i) => i.sendEvent({ type: "approval", payload: 1 }) },
];

describe("bad input leaves stored state unchanged", () => {
	it.for(onWaiting)("a waiting instance: $label", async ({ call, error, message }) => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		const before = await snapshot(instance.id);
		const thrown = await call(instance).catch((e: unknown) => e);
		expect(thrown).toBeInstanceOf(error);
		expect((thrown as Error).message).toMatch(message);
		expect(await snapshot(instance.id)).toEqual(before);
	});

	it.for(onComplete)(
		"a complete instance refuses $label with InvalidStateError",
		async ({ call }) => {
			const instance = await start("basic");
			await waitForStatus(instance, "complete");
			const before = await snapshot(instance.id);
			const thrown = await call(instance).catch((e: unknown) => e);
			expect(thrown).toBeInstanceOf(InvalidStateError);
			expect((thrown as Error).message).toMatch(/it is already complete$/);
			expect(await snapshot(instance.id)).toEqual(before);
		},
	);

	it.for([
		{ label: "a number", id: 42 },
		{ label: "undefined", id: undefined },
		{ label: "an object", id: { id: "x" } },
		{ label: "101 characters", id: "a".repeat(101) },
	])("get() with $label as the id is a WorkflowValidationError", async ({ id }) => {
		const thrown = await scenarioWorkflow.get(id as never).catch((e: unknown) => e);
		expect(thrown).toBeInstanceOf(WorkflowValidationError);
		expect((thrown as Error).message).toMatch(/^instance id must /);
	});

	it("a refused create() stores nothing under its id", async () => {
		const id = uniqueId("refused");
		const thrown = await scenarioWorkflow
			.create({ id, params: { scenario: "basic", big: mib } })
			.catch((e: unknown) => e);
		expect(thrown).toBeInstanceOf(WorkflowValidationError);
		expect(await engineStub(id).exists()).toBe(false);
		const tables = await runInDurableObject(engineStub(id), (_e: WorkflowEngine, state) =>
			state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray(),
		);
		expect(tables).toEqual([]);
	});

	it.for(unsendable)(
		"create() with $label in its params is a WorkflowValidationError and stores nothing",
		async ({ value, at, what }) => {
			const id = uniqueId("unsendable");
			const thrown = await scenarioWorkflow
				.create({ id, params: { scenario: "basic", value } })
				.catch((e: unknown) => e);
			expect(thrown).toBeInstanceOf(WorkflowValidationError);
			expect((thrown as Error).message).toMatch(
				new RegExp(
					`^create options\\.params\\.value${literal(at)} is ${what}, which cannot be sent`,
				),
			);
			expect(await engineStub(id).exists()).toBe(false);
		},
	);

	it("createBatch() with a class instance in one entry's params creates none of them", async () => {
		const ids = [uniqueId("batch-class"), uniqueId("batch-class")];
		const thrown = await scenarioWorkflow
			.createBatch([
				{ id: ids[0], params: { scenario: "basic" } },
				{ id: ids[1], params: { scenario: "basic", order: new Order() } },
			])
			.catch((e: unknown) => e);
		expect(thrown).toBeInstanceOf(WorkflowValidationError);
		expect((thrown as Error).message).toMatch(
			/^createBatch\[1\]\.params\.order is an instance of class Order, which cannot be sent/,
		);
		for (const id of ids) expect(await engineStub(id ?? "").exists()).toBe(false);
	});

	it("values RPC takes are accepted as params, and run() receives them", async () => {
		class Failure extends Error {}
		class List extends Array<number> {}
		const params = {
			scenario: "event" as const,
			getter: {
				get computed() {
					return 42;
				},
			},
			error: new Failure("boom"),
			list: List.from([1, 2]),
			dates: new Map([["at", new Date(0)]]),
			bytes: new Uint8Array([1, 2]),
			headers: new Headers({ a: "b" }),
		};
		const instance = await scenarioWorkflow.create({ id: uniqueId("sendable"), params });
		const { output } = await waitForStatus(instance, "complete");
		const payload = (output as { payload: Record<string, unknown> }).payload;
		expect(payload.getter).toEqual({ computed: 42 });
		expect(payload.error).toBeInstanceOf(Error);
		expect(payload.list).toEqual([1, 2]);
		expect(payload.dates).toEqual(new Map([["at", new Date(0)]]));
		expect(payload.bytes).toEqual(new Uint8Array([1, 2]));
		expect((payload.headers as Headers).get("a")).toBe("b");
	});

	it("a refused createBatch() creates none of its instances", async () => {
		const ids = Array.from({ length: 101 }, () => uniqueId("batch"));
		const thrown = await scenarioWorkflow
			.createBatch(ids.map((id) => ({ id, params: { scenario: "basic" as const } })))
			.catch((e: unknown) => e);
		expect(thrown).toBeInstanceOf(WorkflowValidationError);
		for (const id of [ids[0], ids[50], ids[100]])
			expect(await engineStub(id ?? "").exists()).toBe(false);
	});
});

describe("storage growth", () => {
	it("a finished instance keeps its row, its journal and one value per step; delete removes everything", async () => {
		const id = uniqueId("growth");
		const instance = await scenarioWorkflow.create({
			id,
			params: { scenario: "manySteps", count: 50 },
		});
		await waitForStatus(instance, "complete");
		const stored = await snapshot(id);
		expect(stored.steps).toHaveLength(50);
		// Plain-data params and outputs are kept as JSON in their rows: nothing in KV.
		expect(stored.kv).toEqual([]);
		expect(stored.steps.every((step) => typeof step.output_json === "string")).toBe(true);
		expect(stored.events).toEqual([]);
		// The one alarm left is the retention deadline, 7 days after the end.
		expect(stored.alarm).toBeGreaterThan(Date.now() + 6 * 24 * 3_600_000);
		await (instance as WorkflowInstance & { delete(): Promise<void> }).delete();
		const after = await runInDurableObject(engineStub(id), async (_e: WorkflowEngine, state) => ({
			tables: state.storage.sql
				.exec("SELECT name FROM sqlite_master WHERE type = 'table'")
				.toArray(),
			kv: [...state.storage.kv.list()],
			alarm: await state.storage.getAlarm(),
		}));
		expect(after).toEqual({ tables: [], kv: [], alarm: null });
	});
});
