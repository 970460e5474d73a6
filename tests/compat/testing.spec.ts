/**
 * The test kit against the product's. One introspection-style test body, typed against the
 * product's `cloudflare:test`, runs with `cloudflare:test` on the built-in engine and with
 * `do-workflows/testing` on ours (only the import differs); what each run observes must be equal.
 */
import * as product from "cloudflare:test";
import * as ours from "do-workflows/testing";
import { describe, expect, it } from "vitest";
import type { EngineName } from "./scenarios";
import { type CompatEnv, sideEffectsKey } from "./worker";

/** What a test needs from a kit: the product's two functions, and the binding under test. */
interface Kit {
	introspectWorkflowInstance: typeof product.introspectWorkflowInstance;
	introspectWorkflow: typeof product.introspectWorkflow;
	workflow: Workflow;
}

const compatEnv = product.env as unknown as CompatEnv;

const kits: Record<EngineName, Kit> = {
	native: { ...product, workflow: compatEnv.NATIVE },
	// Assignable to the product's types: a compile-time check that the kit has the same shape.
	ours: { ...ours, workflow: (ours.env as unknown as Record<"OURS", Workflow>).OURS },
};

function counts(engine: EngineName, id: string): Promise<Record<string, number>> {
	return compatEnv.COUNTER.get(compatEnv.COUNTER.idFromName(sideEffectsKey(engine, id))).counts();
}

/** Resolved (with what), or rejected: the kit's errors are typed, the product's plain (typed-errors in docs/compatibility.md). */
const outcome = (promise: Promise<unknown>) =>
	promise.then(
		(value) => ({ ok: value }),
		() => "rejected",
	);

/**
 * An error as run() sees it on the built-in engine, whose step calls cross RPC: the class becomes
 * Error and the message starts with the error's own name (the error-name row of
 * docs/compatibility.md). Ours run in the engine's isolate and keep the class: this maps them
 * alike, so the rest of the error (the message the kit words) is compared as it is.
 */
function acrossRpc(error: { name: string; message: string }) {
	return error.name === "Error"
		? error
		: { name: "Error", message: `${error.name}: ${error.message}` };
}

/** A stream of `size` bytes in chunks of uneven sizes. */
function byteStream(size: number): ReadableStream<Uint8Array> {
	let offset = 0;
	return new ReadableStream<Uint8Array>({
		pull(controller) {
			if (offset >= size) return controller.close();
			const n = Math.min(70_001, size - offset);
			controller.enqueue(new Uint8Array(n).map((_, j) => ((offset + j) * 7 + 3) & 255));
			offset += n;
		},
	});
}

/** A stream's length and a checksum of its bytes. */
async function digest(stream: unknown) {
	if (!(stream instanceof ReadableStream)) return { notAStream: typeof stream };
	let bytes = 0;
	let sum = 0;
	for await (const chunk of stream as ReadableStream<Uint8Array>) {
		for (const byte of chunk) sum = (sum * 31 + byte) >>> 0;
		bytes += chunk.byteLength;
	}
	return { bytes, sum };
}

const bodies: Record<string, (kit: Kit, engine: EngineName) => Promise<unknown>> = {
	async "disables sleeps and delays, mocks a result, errors and an event"(kit, engine) {
		const id = "introspected--mocks";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.disableRetryDelays();
			await m.mockStepError({ name: "fetch" }, new Error("upstream down"), 2);
			await m.mockStepResult({ name: "charge" }, "mocked");
			await m.mockEvent({ type: "approved", payload: { ok: true } });
		});
		await kit.workflow.create({ id });
		const fetched = await instance.waitForStepResult({ name: "fetch" });
		await instance.waitForStatus("complete");
		return { fetched, output: await instance.getOutput(), calls: await counts(engine, id) };
	},

	async "forces an event timeout"(kit, engine) {
		const id = "introspected--event-timeout";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => {
			await m.disableSleeps();
			await m.forceEventTimeout({ name: "approval" });
		});
		await kit.workflow.create({ id });
		await instance.waitForStatus("complete");
		return { output: await instance.getOutput(), calls: await counts(engine, id) };
	},

	async "a forced event timeout throws what the product's kit throws, caught or not"(kit) {
		// eventTimeoutCaught waits (timeout 100 ms) and returns what it caught; waitEvent waits with
		// the default timeout (24 hours) and does not catch.
		const caughtId = "eventTimeoutCaught--forced";
		await using caught = await kit.introspectWorkflowInstance(kit.workflow, caughtId);
		await caught.modify(async (m) => m.forceEventTimeout({ name: "approval" }));
		await kit.workflow.create({ id: caughtId });
		await caught.waitForStatus("complete");
		const output = (await caught.getOutput()) as { name: string; message: string };
		const uncaughtId = "waitEvent--forced";
		await using uncaught = await kit.introspectWorkflowInstance(kit.workflow, uncaughtId);
		await uncaught.modify(async (m) => m.forceEventTimeout({ name: "approval" }));
		await kit.workflow.create({ id: uncaughtId });
		await uncaught.waitForStatus("errored");
		return {
			caught: { ...output, ...acrossRpc(output) },
			uncaught: acrossRpc(await uncaught.getError()),
		};
	},

	async "mocks a step's result with a ReadableStream"(kit, engine) {
		const id = "streamOutput--mocked";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => m.mockStepResult({ name: "stream" }, byteStream(300_000)));
		await kit.workflow.create({ id });
		await instance.waitForStatus("complete");
		return {
			output: await instance.getOutput(),
			stepResult: await digest(await instance.waitForStepResult({ name: "stream" })),
			calls: await counts(engine, id),
		};
	},

	async "waitForStepResult of a streamed step resolves with a stream of its bytes"(kit) {
		const id = "streamOutput--awaited";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		const result = instance.waitForStepResult({ name: "stream" });
		await kit.workflow.create({ id });
		await instance.waitForStatus("complete");
		return { output: await instance.getOutput(), stepResult: await digest(await result) };
	},

	async "a mocked result and a mocked error reach the rollback handlers"(kit, engine) {
		const id = "rollbackOrder--mocked";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => {
			await m.disableRetryDelays();
			await m.mockStepResult({ name: "a" }, "mocked A");
			await m.mockStepError({ name: "d" }, new Error("mocked d"));
		});
		await kit.workflow.create({ id });
		await instance.waitForStatus("errored");
		return { error: await instance.getError(), calls: await counts(engine, id) };
	},

	async "a step that always fails: errored, and complete is never reached"(kit) {
		const id = "introspected--always-fails";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => {
			await m.disableRetryDelays();
			await m.mockStepError({ name: "fetch" }, new Error("always"));
		});
		const stepResult = outcome(instance.waitForStepResult({ name: "fetch" }));
		await kit.workflow.create({ id });
		await instance.waitForStatus("errored");
		return {
			stepResult: await stepResult,
			// Asked once errored. (Asked before the instance exists, the built-in kit's promise
			// never settles; ours rejects then too: see docs/testing.md.)
			complete: await outcome(instance.waitForStatus("complete")),
			error: await instance.getError(),
			output: await outcome(instance.getOutput()),
		};
	},

	async "mocking a step's result twice is refused"(kit) {
		const id = "introspected--twice";
		await using instance = await kit.introspectWorkflowInstance(kit.workflow, id);
		await instance.modify(async (m) => m.mockStepResult({ name: "fetch" }, 1));
		const second = await outcome(
			instance.modify(async (m) => m.mockStepResult({ name: "fetch" }, 2)),
		);
		return { second };
	},

	async "introspectWorkflow modifies instances created after it"(kit, engine) {
		await using introspector = await kit.introspectWorkflow(kit.workflow);
		await introspector.modifyAll(async (m) => {
			await m.disableSleeps();
			await m.mockEvent({ type: "approved", payload: "all" });
		});
		const ids = ["introspected--all-1", "introspected--all-2"];
		await kit.workflow.createBatch(ids.map((id) => ({ id })));
		const instances = await introspector.get();
		const outputs = [];
		for (const instance of instances) {
			await instance.waitForStatus("complete");
			outputs.push(await instance.getOutput());
		}
		return {
			instances: instances.length,
			outputs,
			calls: await Promise.all(ids.map((id) => counts(engine, id))),
		};
	},
};

describe("test kit: cloudflare:test on the built-in engine vs do-workflows/testing on ours", () => {
	it.for(Object.keys(bodies))("%s", async (name) => {
		const body = bodies[name];
		if (!body) throw new Error(`no body ${name}`);
		const native = await body(kits.native, "native");
		const ourResult = await body(kits.ours, "ours");
		expect(ourResult).toEqual(native);
	});
});
