/**
 * Common setup mistakes, each answered with an error that says what to change (docs/getting-started.md
 * and docs/testing.md, "Troubleshooting"). tests/e2e/mistakes.test.ts makes the same mistakes
 * under `wrangler dev`.
 */
import {
	introspectWorkflow as productIntrospectWorkflow,
	introspectWorkflowInstance as productIntrospectWorkflowInstance,
	runInDurableObject,
} from "cloudflare:test";
import { env as runtimeEnv } from "cloudflare:workers";
import { env as testEnv } from "do-workflows/testing";
import { describe, expect, it } from "vitest";
import { env, WorkflowEntrypoint } from "../src";
import { raw, uniqueId, waitForStatus } from "./helpers";
// Evaluating the Worker's module runs its withWorkflows, which registers SCENARIO and LIMITED.
import "./worker";

class OrderWorkflow extends WorkflowEntrypoint {
	async run() {
		return "never runs";
	}
}

describe("a workflow class bound as a Durable Object (class_name names it, not its engine)", () => {
	it("refuses to be constructed by the runtime, naming the class to bind instead", async () => {
		const stub = raw.CALLS.get(raw.CALLS.idFromName("mistakes"));
		// The runtime constructs a Durable Object class with its DurableObjectState.
		const message = await runInDurableObject(stub, (_instance, state) => {
			try {
				new OrderWorkflow(state as unknown as ExecutionContext, {});
				return "constructed";
			} catch (error) {
				return (error as Error).message;
			}
		});
		expect(message).toBe(
			"OrderWorkflow is a workflow class (it extends WorkflowEntrypoint), but wrangler.toml binds it as a Durable Object. " +
				"Set class_name to its engine instead, the class createWorkflowEngine(OrderWorkflow, { name }) returns, which your Worker exports " +
				'(for example class_name = "OrderWorkflowEngine" if it exports the engine under that name), ' +
				`in [[durable_objects.bindings]] and in the migration's new_sqlite_classes (docs/getting-started.md, "Troubleshooting").`,
		);
	});

	it("is constructed as usual by its engine", () => {
		const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
		expect(new OrderWorkflow(ctx as unknown as ExecutionContext, {})).toBeInstanceOf(OrderWorkflow);
	});
});

describe('env from "do-workflows"', () => {
	it("has each binding registered by withWorkflows as its Workflow", async () => {
		const id = uniqueId("env-export");
		await env.SCENARIO.create({ id, params: { scenario: "basic" } });
		const instance = await env.SCENARIO.get(id);
		await waitForStatus(instance, "complete");
		expect(await instance.status()).toEqual({ status: "complete", output: { a: 1, b: 2 } });
		// The mistake it replaces: the runtime's env has the raw namespace.
		expect((runtimeEnv.SCENARIO as unknown as Partial<Workflow>).create).toBeUndefined();
	});

	it("has every other binding as the runtime's, and lists the same keys", () => {
		expect(env.CALLS).toBe(runtimeEnv.CALLS);
		expect(env.WORKFLOWS_ADMIN_TOKEN).toBe("test-admin-token");
		expect("SCENARIO" in env && "CALLS" in env).toBe(true);
		expect("NOPE" in env).toBe(false);
		expect(Object.keys(env).sort()).toEqual(Object.keys(runtimeEnv).sort());
		expect({ ...env }.SCENARIO).toBe(env.SCENARIO);
	});

	it("is read-only", () => {
		expect(() => {
			(env as unknown as Record<string, unknown>).SCENARIO = "replaced";
		}).toThrow(TypeError);
		expect(typeof env.SCENARIO.create).toBe("function");
	});
});

describe('the introspectors of "cloudflare:test" given a do-workflows binding', () => {
	it("say which import to change", async () => {
		await expect(productIntrospectWorkflow(testEnv.SCENARIO)).rejects.toThrow(
			'introspectWorkflow() from "cloudflare:test" cannot introspect a do-workflows workflow: import introspectWorkflow from "do-workflows/testing" instead (docs/testing.md)',
		);
		await expect(productIntrospectWorkflowInstance(testEnv.SCENARIO, "x")).rejects.toThrow(
			'introspectWorkflowInstance() from "cloudflare:test" cannot introspect a do-workflows workflow: import introspectWorkflowInstance from "do-workflows/testing" instead (docs/testing.md)',
		);
	});

	it("given the raw namespace, answer with the message docs/testing.md quotes", async () => {
		// Nothing of ours runs on this path: the plugin checks the namespace for its own methods.
		const namespace = raw.SCENARIO as unknown as Workflow;
		await expect(productIntrospectWorkflow(namespace)).rejects.toThrow(
			"[WorkflowIntrospector] `introspectWorkflow()` needs a Workflow binding from `env`, and can't introspect Workflows on `ctx.exports`.",
		);
		await expect(productIntrospectWorkflowInstance(namespace, "x")).rejects.toThrow(
			"[WorkflowIntrospector] `introspectWorkflowInstance()` needs a Workflow binding from `env`, and can't introspect Workflows on `ctx.exports`.",
		);
	});
});
