import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
	createWorkflowEngine,
	MAX_STREAM_OUTPUT_BYTES,
	OUTPUT_CHUNK_BYTES,
	type WorkflowEngine,
	WorkflowValidationError,
} from "../src";
import { StepState } from "../src/engine/steps";
import { getInstanceHistory } from "../src/ops";
import {
	calls,
	crash,
	engineStub,
	fireAlarm,
	limitedWorkflow,
	openGate,
	raw,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import { ScenarioWorkflow, streamByte } from "./workflows";

const MiB = 1024 * 1024;

/** The checksum digest() computes of the first `size` bytes of the test streams. */
function expectedDigest(size: number): { bytes: number; sum: number } {
	let sum = 0;
	for (let i = 0; i < size; i++) sum = (sum * 31 + streamByte(i)) >>> 0;
	return { bytes: size, sum };
}

/** The engine object's chunk rows, by step: how many rows and bytes each step has stored. */
function chunksOf(
	id: string,
	namespace = raw.SCENARIO,
): Promise<{ rows: number; bytes: number; table: boolean }> {
	return runInDurableObject(engineStub(id, namespace), (_engine: WorkflowEngine, state) => {
		const table =
			state.storage.sql
				.exec("SELECT name FROM sqlite_master WHERE name = 'output_chunks'")
				.toArray().length > 0;
		if (!table) return { rows: 0, bytes: 0, table };
		const row = state.storage.sql
			.exec("SELECT COUNT(*) AS rows, COALESCE(SUM(LENGTH(bytes)), 0) AS bytes FROM output_chunks")
			.one();
		return { rows: row.rows as number, bytes: row.bytes as number, table };
	});
}

/** The state of the instance's first journal entry (the step under test), if any. */
function firstStepState(id: string, namespace = raw.SCENARIO): Promise<number | undefined> {
	return runInDurableObject(
		engineStub(id, namespace),
		(engine: WorkflowEngine) => engine.journal.steps()[0]?.state,
	);
}

describe("ReadableStream step outputs", () => {
	it("stores a stream of several MiB in chunks and gives run() a stream of the same bytes", async () => {
		const size = 5 * MiB + 123;
		const instance = await start("streamOutput", { size });
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ isStream: true, ...expectedDigest(size) });
		expect((await calls(instance.id)).big).toBe(1);
		expect(await chunksOf(instance.id)).toMatchObject({
			rows: Math.ceil(size / OUTPUT_CHUNK_BYTES),
			bytes: size,
		});
		// The history shows the output as left out, with its size, as it shows a large value.
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		const step = history.steps[0];
		expect(step?.type === "do" && step.outputOmitted).toEqual({ bytes: size, stream: true });
		expect(step?.type === "do" && "output" in step).toBe(false);
	});

	it("gives a replay after a crash a stream of the stored bytes, without running the step again", async () => {
		const size = 3 * MiB;
		const instance = await start("streamOutput", { size, holdAfter: true });
		await expect.poll(() => firstStepState(instance.id)).toBe(StepState.Done);
		await crash(instance.id);
		await openGate(instance.id, "after");
		await fireAlarm(instance.id);
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ isStream: true, ...expectedDigest(size) });
		expect(await calls(instance.id)).toMatchObject({ big: 1, run: 2 });
	});

	it("a crash mid-write leaves no output visible, and the step runs again from the start", async () => {
		const size = 2 * MiB;
		const instance = await start("streamOutput", { size, holdMidway: true });
		// Half the stream is stored (4 chunks of 256 KiB) when the crash comes.
		await expect.poll(async () => (await chunksOf(instance.id)).rows).toBe(4);
		expect(await firstStepState(instance.id)).toBe(StepState.Running);
		await crash(instance.id);
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		const step = history.steps[0];
		expect(step?.type === "do" && step.state).toBe("running");
		expect(step?.type === "do" && ("output" in step || "outputOmitted" in step)).toBe(false);
		await openGate(instance.id, "mid");
		await fireAlarm(instance.id);
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ isStream: true, ...expectedDigest(size) });
		expect((await calls(instance.id)).big).toBe(2);
		// Only the second attempt's chunks are left.
		expect(await chunksOf(instance.id)).toMatchObject({ rows: 8, bytes: size });
	});

	it("fails the step, without retrying it, when the stream passes the engine's bound", async () => {
		const id = uniqueId("stream-limit");
		// LIMITED allows streams of 3 MiB (tests/workflows.ts).
		const instance = await limitedWorkflow.create({
			id,
			params: { scenario: "streamOutput", size: 3 * MiB + 1 },
		});
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("ValueTooLargeError");
		expect(status.error?.message).toContain(`at most ${3 * MiB} bytes`);
		expect((await calls(id)).big).toBe(1);
		// The chunks written before the bound was passed are deleted.
		expect((await chunksOf(id, raw.LIMITED)).rows).toBe(0);
		// A stream exactly at the bound is stored.
		const fits = await limitedWorkflow.create({
			id: uniqueId("stream-fits"),
			params: { scenario: "streamOutput", size: 3 * MiB },
		});
		expect((await waitForStatus(fits, "complete")).output).toEqual({
			isStream: true,
			...expectedDigest(3 * MiB),
		});
	});

	it("restart and delete remove the stored chunks", async () => {
		const size = MiB;
		const instance = await start("streamOutput", { size, holdAfter: true, smallRerun: true });
		await expect.poll(() => firstStepState(instance.id)).toBe(StepState.Done);
		expect((await chunksOf(instance.id)).rows).toBe(4);
		await instance.restart();
		// The new run waits at gate "rerun", before its step: the old output's chunks are gone.
		await expect.poll(async () => (await calls(instance.id)).run).toBe(2);
		expect(await chunksOf(instance.id)).toMatchObject({ rows: 0, bytes: 0 });
		await openGate(instance.id, "rerun");
		await openGate(instance.id, "after");
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ isStream: true, ...expectedDigest(1000) });
		expect(await chunksOf(instance.id)).toMatchObject({ rows: 1, bytes: 1000 });
		await (instance as WorkflowInstance & { delete(): Promise<void> }).delete();
		expect((await chunksOf(instance.id)).table).toBe(false);
	});
});

describe("structured step outputs over 1 MiB (maxStepOutputBytes, ours)", () => {
	it("are refused by default, as the product refuses them", async () => {
		const instance = await start("largeOutput", { size: 2 * MiB });
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.name).toBe("ValueTooLargeError");
		expect(status.error?.message).toContain("at most 1048576 bytes (1 MiB)");
	});

	it("are stored in chunks below the engine's bound and read back, on replay too", async () => {
		const id = uniqueId("large-fits");
		const size = 3 * MiB;
		const instance = await limitedWorkflow.create({
			id,
			params: { scenario: "largeOutput", size, holdAfter: true },
		});
		await expect.poll(() => firstStepState(id, raw.LIMITED)).toBe(StepState.Done);
		const stored = await chunksOf(id, raw.LIMITED);
		expect(stored.rows).toBeGreaterThan(1);
		// A replay reads the value back from its chunks.
		await runInDurableObject(engineStub(id, raw.LIMITED), (_engine: WorkflowEngine, state) => {
			state.abort("simulated crash");
		}).catch(() => {});
		await openGate(id, "after");
		await fireAlarm(id, raw.LIMITED);
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ length: size, tail: "end!" });
		expect((await calls(id)).large).toBe(1);
		const history = await getInstanceHistory(raw.LIMITED, id);
		const step = history.steps[0];
		expect(step?.type === "do" && step.outputOmitted?.bytes).toBeGreaterThan(size);
	});

	it("are refused above the engine's bound, and when they are not plain JSON data", async () => {
		const over = await limitedWorkflow.create({
			id: uniqueId("large-over"),
			params: { scenario: "largeOutput", size: 5 * MiB },
		});
		const status = await waitForStatus(over, "errored");
		expect(status.error?.name).toBe("ValueTooLargeError");
		expect(status.error?.message).toContain("the engine's maxStepOutputBytes");
		const map = await limitedWorkflow.create({
			id: uniqueId("large-map"),
			params: { scenario: "largeOutput", size: 2 * MiB, map: true },
		});
		const refused = await waitForStatus(map, "errored");
		expect(refused.error?.name).toBe("ValueTooLargeError");
		expect(refused.error?.message).toContain("must be plain data");
		expect((await chunksOf(map.id, raw.LIMITED)).rows).toBe(0);
	});

	it("the options are checked when the engine is made", () => {
		const make = (options: Record<string, unknown>) => () =>
			createWorkflowEngine(ScenarioWorkflow, { name: "bad", ...options });
		expect(make({ maxStepOutputBytes: 1000 })).toThrow(WorkflowValidationError);
		expect(make({ maxStepOutputBytes: 1000 })).toThrow(
			/maxStepOutputBytes must be at least 1048576/,
		);
		expect(make({ maxStepOutputBytes: 65 * MiB })).toThrow(/maxStepOutputBytes must be at most/);
		expect(make({ maxStepOutputBytes: 1.5 * MiB + 0.5 })).toThrow(/maxStepOutputBytes/);
		expect(make({ maxStreamOutputBytes: 0 })).toThrow(/maxStreamOutputBytes must be at least 1/);
		expect(make({ maxStreamOutputBytes: MAX_STREAM_OUTPUT_BYTES + 1 })).toThrow(
			/maxStreamOutputBytes must be at most/,
		);
		expect(make({ maxStepOutputBytes: 2 * MiB, maxStreamOutputBytes: MiB })).not.toThrow();
	});
});
