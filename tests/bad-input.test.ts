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
		expect(stored.alarm).toBeNull();
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
