import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { type WorkflowEngine, workflowBinding } from "../src";
import { isFinal } from "../src/engine/status";
import { DEFAULT_RETENTION_MS } from "../src/limits";
import type { ScenarioParams } from "./workflows";

interface RawEnv {
	SCENARIO: DurableObjectNamespace<WorkflowEngine>;
	LIMITED: DurableObjectNamespace<WorkflowEngine>;
	THROTTLED: DurableObjectNamespace<WorkflowEngine>;
	WIDE_THROTTLED: DurableObjectNamespace<WorkflowEngine>;
	PROBE: DurableObjectNamespace<import("./workflows").Probe>;
	CALLS: DurableObjectNamespace<import("./workflows").CallCounter>;
	GATES: DurableObjectNamespace<import("./workflows").Gate>;
	REMOTE_SCENARIO: DurableObjectNamespace<WorkflowEngine>;
}

export const raw = env as unknown as RawEnv;
export const scenarioWorkflow = workflowBinding<ScenarioParams>(raw.SCENARIO);
export const limitedWorkflow = workflowBinding<ScenarioParams>(raw.LIMITED);

let next = 0;
/** A fresh instance id per test, so tests never share an engine object. */
export function uniqueId(label: string): string {
	next += 1;
	return `${label.replace(/[^a-zA-Z0-9-_]/g, "-")}-${Date.now()}-${next}`;
}

export function engineStub(
	id: string,
	namespace = raw.SCENARIO,
): DurableObjectStub<WorkflowEngine> {
	return namespace.get(namespace.idFromName(id));
}

/** Creates a scenario instance with a unique id. */
export async function start(
	scenario: ScenarioParams["scenario"],
	params: Record<string, unknown> = {},
) {
	const id = uniqueId(scenario);
	const instance = await scenarioWorkflow.create({ id, params: { scenario, ...params } });
	return instance;
}

/** Polls until the instance reports `status` (durable state, no fixed sleeps). */
export async function waitForStatus(instance: WorkflowInstance, status: InstanceStatus["status"]) {
	await expect.poll(async () => (await instance.status()).status, { timeout: 10_000 }).toBe(status);
	return instance.status();
}

/** How many times each counted side effect ran for an instance. */
export function calls(id: string): Promise<Record<string, number>> {
	return raw.CALLS.get(raw.CALLS.idFromName(id)).counts();
}

/** Runs the engine object's alarm now, as if its time had come. */
export function fireAlarm(id: string, namespace = raw.SCENARIO): Promise<boolean> {
	// A finished instance's alarm is its retention deadline: a test fast-forwarding a run must not
	// delete the instance it has just seen finish, so its alarm runs only with fireRetention.
	return runInDurableObject(engineStub(id, namespace), async (engine: WorkflowEngine, state) => {
		const status = engine.journal.instance()?.status;
		if (status === undefined || isFinal(status) || (await state.storage.getAlarm()) === null)
			return false;
		await state.storage.deleteAlarm();
		await engine.alarm();
		return true;
	});
}

/** Runs a finished instance's alarm now: its retention deadline, which deletes it. */
export function fireRetention(id: string, namespace = raw.SCENARIO): Promise<boolean> {
	return runDurableObjectAlarm(engineStub(id, namespace));
}

/** Releases the step an instance holds open on gate `key`. */
export function openGate(id: string, key: string): Promise<void> {
	return raw.GATES.get(raw.GATES.idFromName(id)).open(key);
}

/** Runs the engine's alarm until the instance leaves `from` (at most 20 times), as if time passed. */
export async function fastForward(instance: WorkflowInstance, from: InstanceStatus["status"]) {
	for (let i = 0; i < 20 && (await instance.status()).status === from; i++)
		await fireAlarm(instance.id);
}

/** Resets the engine object as a crash would: in-memory state and in-flight work are gone. */
export async function crash(id: string): Promise<void> {
	await runInDurableObject(engineStub(id), (_engine: WorkflowEngine, state) => {
		state.abort("simulated crash");
	}).catch(() => {});
}

/** The engine object's alarm time, or null. */
export function alarmOf(id: string, namespace = raw.SCENARIO): Promise<number | null> {
	return runInDurableObject(engineStub(id, namespace), (_engine: WorkflowEngine, state) =>
		state.storage.getAlarm(),
	);
}

/**
 * The alarm a finished instance of the test workflows has: its retention deadline, the product's
 * default of 7 days after it ended (null if it is not finished).
 */
export function retentionAlarmOf(
	id: string,
): Promise<{ alarm: number | null; due: number | null }> {
	return runInDurableObject(engineStub(id), async (engine: WorkflowEngine, state) => {
		const endedAt = engine.journal.instance()?.endedAt ?? null;
		return {
			alarm: await state.storage.getAlarm(),
			due: endedAt === null ? null : endedAt + DEFAULT_RETENTION_MS,
		};
	});
}
