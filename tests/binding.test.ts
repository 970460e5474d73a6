import { env, WorkerEntrypoint } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
	InstanceExistsError,
	InstanceNotFoundError,
	isWorkflowError,
	remoteWorkflow,
	WorkflowValidationError,
	workflowBinding,
} from "../src";
import { calls, engineStub, raw, scenarioWorkflow, uniqueId, waitForStatus } from "./helpers";
import { ClassEntry } from "./worker";

const invalidIds = [
	{ label: "empty", id: "" },
	{ label: "101 characters", id: "a".repeat(101) },
	{ label: "a space", id: "has space" },
	{ label: "a leading dash", id: "-leading" },
	{ label: "a slash", id: "a/b" },
	{ label: "a dot", id: "a.b" },
	{ label: "non-ASCII", id: "café" },
];

const validIds = [
	{ label: "100 characters", id: "a".repeat(100) },
	{ label: "a leading underscore", id: "_x" },
	{ label: "dashes and underscores", id: "a-b_c-9" },
	{ label: "a single digit", id: "7" },
];

describe("create", () => {
	it("creates an instance with a random UUID id when none is given", async () => {
		const instance = await scenarioWorkflow.create({ params: { scenario: "basic" } });
		expect(instance.id).toMatch(
			/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
		);
		await waitForStatus(instance, "complete");
	});

	it("gives run() an empty object as the payload when create() has no params", async () => {
		const instance = await scenarioWorkflow.create({ id: uniqueId("no-params") });
		// The scenario dispatcher reads event.payload.scenario; with {} it finds none and run() throws.
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("TypeError");
		const echoed = await scenarioWorkflow.create({ params: { scenario: "event" } });
		expect((await waitForStatus(echoed, "complete")).output).toMatchObject({
			payload: { scenario: "event" },
		});
	});

	it("accepts the product's locationHint option, and refuses an unknown region", async () => {
		const instance = await scenarioWorkflow.create({
			id: uniqueId("hinted"),
			params: { scenario: "basic" },
			locationHint: "weur",
		} as never);
		expect((await waitForStatus(instance, "complete")).output).toEqual({ a: 1, b: 2 });
		const error = await scenarioWorkflow.create({ locationHint: "mars" } as never).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toMatch(/^create options\.locationHint: /);
	});

	it.for(invalidIds)("rejects an id with $label, naming the limit", async ({ id }) => {
		const error = await scenarioWorkflow
			.create({ id, params: { scenario: "basic" } })
			.catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toMatch(
			/^create options\.id: instance id must (not be empty|be at most 100 characters|match \^\[a-zA-Z0-9_\]\[a-zA-Z0-9-_\]\*\$)$/,
		);
	});

	it.for(validIds)("accepts an id with $label", async ({ id }) => {
		const unique =
			`${id.slice(0, 80)}${uniqueId("").slice(0, 100 - Math.min(id.length, 80))}`.slice(0, 100);
		const instance = await scenarioWorkflow.create({ id: unique, params: { scenario: "basic" } });
		expect(instance.id).toBe(unique);
		await waitForStatus(instance, "complete");
	});

	it("refuses an id that exists, and leaves the existing instance untouched", async () => {
		const id = uniqueId("dup");
		const first = await scenarioWorkflow.create({ id, params: { scenario: "basic" } });
		await waitForStatus(first, "complete");
		const error = await scenarioWorkflow
			.create({ id, params: { scenario: "uncaught" } })
			.catch((e) => e);
		expect(error).toBeInstanceOf(InstanceExistsError);
		expect(error.message).toBe(`instance "${id}" already exists`);
		expect(isWorkflowError(error)).toBe(true);
		const status = await first.status();
		expect(status).toEqual({ status: "complete", output: { a: 1, b: 2 } });
		expect(await calls(id)).toEqual({ first: 1, second: 1 });
	});

	it.for([
		{
			label: "an unknown option",
			options: { id: "x", param: {} },
			message: /^create options: .*param/,
		},
		{ label: "a non-object", options: 42, message: /^create options: / },
		{
			label: "a numeric id",
			options: { id: 5 },
			message: /^create options\.id: instance id must be a string$/,
		},
		{
			label: "params with a function",
			options: { params: { f: () => 1 } },
			message: /^create options\.params must be structured-clone serialisable/,
		},
		{
			label: "params over 1 MiB",
			options: { params: { s: "x".repeat(1024 * 1024) } },
			message: /^create options\.params is \d+ bytes; it must be at most 1048576 bytes \(1 MiB\)$/,
		},
		{
			label: "a bad retention",
			options: { retention: { successRetention: "forever" } },
			message: /^create options\.retention\.successRetention: must be a number of milliseconds/,
		},
	])("rejects $label with a WorkflowValidationError", async ({ options, message }) => {
		const error = await scenarioWorkflow.create(options as never).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toMatch(message);
	});
});

describe("get", () => {
	it("returns a handle on an existing instance", async () => {
		const id = uniqueId("get");
		await scenarioWorkflow.create({ id, params: { scenario: "basic" } });
		const handle = await scenarioWorkflow.get(id);
		expect(handle.id).toBe(id);
		expect((await waitForStatus(handle, "complete")).output).toEqual({ a: 1, b: 2 });
	});

	it("throws InstanceNotFoundError for an unknown id, and stores nothing", async () => {
		const id = uniqueId("unknown");
		const error = await scenarioWorkflow.get(id).catch((e) => e);
		expect(error).toBeInstanceOf(InstanceNotFoundError);
		expect(error.message).toBe(`instance "${id}" not found`);
		expect(await engineStub(id).exists()).toBe(false);
	});

	it("throws WorkflowValidationError for an invalid id", async () => {
		await expect(scenarioWorkflow.get("no spaces allowed")).rejects.toThrow(
			WorkflowValidationError,
		);
	});
});

describe("createBatch", () => {
	it("creates every instance of the batch", async () => {
		const ids = [uniqueId("batch"), uniqueId("batch"), uniqueId("batch")];
		const instances = await scenarioWorkflow.createBatch(
			ids.map((id) => ({ id, params: { scenario: "basic" as const } })),
		);
		expect(instances.map((i) => i.id)).toEqual(ids);
		for (const instance of instances) await waitForStatus(instance, "complete");
	});

	it("accepts 100 instances and refuses 101", async () => {
		const make = (n: number) =>
			Array.from({ length: n }, () => ({
				id: uniqueId("b"),
				params: { scenario: "event" as const },
			}));
		const error = await scenarioWorkflow.createBatch(make(101)).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		expect(error.message).toBe("createBatch accepts at most 100 instances per call, got 101");
		const hundred = make(100);
		const instances = await scenarioWorkflow.createBatch(hundred);
		expect(instances).toHaveLength(100);
		await waitForStatus(instances[99] as WorkflowInstance, "complete");
	});

	it.for([
		{ label: "an empty batch", batch: [], message: "createBatch expects at least 1 instance" },
		{
			label: "a non-array",
			batch: { id: "x" },
			message: "createBatch expects { count }, { instances } or an array of create options",
		},
		{
			label: "an invalid entry",
			batch: [{}, { id: "bad id" }],
			message: /^createBatch\[1\]\.id: instance id must match/,
		},
	])("rejects $label", async ({ batch, message }) => {
		const error = await scenarioWorkflow.createBatch(batch as never).catch((e) => e);
		expect(error).toBeInstanceOf(WorkflowValidationError);
		if (typeof message === "string") expect(error.message).toBe(message);
		else expect(error.message).toMatch(message);
	});
});

describe("withWorkflows", () => {
	it("gives fetch handlers env.X as a Workflow", async () => {
		const worker = (await import("./worker")).default;
		if (!worker.fetch) throw new Error("the test worker has no fetch handler");
		const response = await worker.fetch(
			new Request("http://example.com/") as never,
			env as never,
			{ waitUntil() {}, passThroughOnException() {}, props: {} } as never,
		);
		const { id } = (await response.json()) as { id: string };
		const instance = await scenarioWorkflow.get(id);
		expect((await waitForStatus(instance, "complete")).output).toEqual({ a: 1, b: 2 });
	});

	it("wraps a WorkerEntrypoint class: this.env has Workflows in fetch and in RPC methods", async () => {
		const response = await env.CLASS_ENTRY.fetch("http://example.com/");
		const { id } = (await response.json()) as { id: string };
		expect((await waitForStatus(await scenarioWorkflow.get(id), "complete")).output).toEqual({
			a: 1,
			b: 2,
		});
		// The class keeps its name and stays a WorkerEntrypoint (workerd found its RPC method).
		expect(ClassEntry.name).toBe("ClassEntry");
		expect(ClassEntry.prototype).toBeInstanceOf(WorkerEntrypoint);
	});

	it("serves the admin API from a wrapped WorkerEntrypoint class, before its own fetch", async () => {
		const response = await env.CLASS_ENTRY.fetch("http://example.com/__workflows/api/workflows", {
			headers: { authorization: `Bearer ${env.WORKFLOWS_ADMIN_TOKEN}` },
		});
		expect(response.status).toBe(200);
		expect(await response.json()).toEqual({
			workflows: [
				{ binding: "SCENARIO", name: "scenario" },
				{ binding: "REMOTE_SCENARIO", name: "scenario" },
			],
		});
	});

	it("serves the admin API before a fetch written as a class field", async () => {
		const admin = await env.FIELD_ENTRY.fetch("http://example.com/__workflows/api/workflows", {
			headers: { authorization: `Bearer ${env.WORKFLOWS_ADMIN_TOKEN}` },
		});
		expect(await admin.json()).toEqual({ workflows: [{ binding: "SCENARIO", name: "scenario" }] });
		const own = await env.FIELD_ENTRY.fetch("http://example.com/anything");
		expect(await own.text()).toBe("own fetch");
	});

	it("binds a workflow another Worker hosts (remoteWorkflow, script_name)", async () => {
		const id = await env.CLASS_ENTRY.createRemote();
		// The same engine class behind both bindings: the instance is there through either.
		const instance = await workflowBinding(raw.REMOTE_SCENARIO).get(id);
		expect((await waitForStatus(instance, "complete")).output).toEqual({ a: 1, b: 2 });
	});

	it("refuses remoteWorkflow options that break a limit, naming it", () => {
		expect(() => remoteWorkflow({ name: "no spaces" })).toThrow(WorkflowValidationError);
		expect(() => remoteWorkflow({ script: "" })).toThrow(/script/);
		expect(() => remoteWorkflow({ script: "billing", extra: 1 } as never)).toThrow(
			WorkflowValidationError,
		);
	});

	it("gives workflows this.env with Workflow bindings (a workflow can create another)", async () => {
		const parent = await scenarioWorkflow.create({
			id: uniqueId("parent"),
			params: { scenario: "spawn" },
		});
		const { output } = await waitForStatus(parent, "complete");
		const child = await workflowBinding(raw.SCENARIO).get((output as { child: string }).child);
		expect((await waitForStatus(child, "complete")).output).toEqual({ a: 1, b: 2 });
	});
});
