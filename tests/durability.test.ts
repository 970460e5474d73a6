import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WorkflowEngine } from "../src";
import { StepState } from "../src/engine/journal";
import { alarmOf, calls, crash, engineStub, fireAlarm, start, waitForStatus } from "./helpers";

function sleepEntry(id: string, name: string) {
	return runInDurableObject(engineStub(id), (engine: WorkflowEngine) =>
		engine.journal.step("sleep", name, 1),
	);
}

describe("sleeps", () => {
	it("reports waiting while sleeping, with the wake time durable in the journal and the alarm", async () => {
		const before = Date.now();
		const instance = await start("sleep", { duration: "2 hours" });
		await waitForStatus(instance, "waiting");
		const entry = await sleepEntry(instance.id, "nap");
		expect(entry?.state).toBe(StepState.Sleeping);
		expect(entry?.dueAt).toBeGreaterThanOrEqual(before + 2 * 3_600_000);
		expect(entry?.dueAt).toBeLessThan(Date.now() + 2 * 3_600_000);
		// The alarm is set no later than the wake time (an earlier lease alarm may come first).
		expect(await alarmOf(instance.id)).toBeLessThanOrEqual(entry?.dueAt ?? 0);
		expect(await calls(instance.id)).toEqual({ before: 1 });
	});

	it.for([
		{ duration: 1500, ms: 1500 },
		{ duration: "1 second", ms: 1000 },
		{ duration: "2 minutes", ms: 120_000 },
		{ duration: "1 hour", ms: 3_600_000 },
		{ duration: "3 days", ms: 3 * 86_400_000 },
		{ duration: "1 week", ms: 7 * 86_400_000 },
		{ duration: "1 month", ms: 30 * 86_400_000 },
		{ duration: "1 year", ms: 365 * 86_400_000 },
	])("parses the duration $duration as $ms ms", async ({ duration, ms }) => {
		const before = Date.now();
		const instance = await start("sleep", { duration });
		await waitForStatus(instance, "waiting");
		const entry = await sleepEntry(instance.id, "nap");
		const startedAt = entry?.startedAt ?? 0;
		expect(startedAt).toBeGreaterThanOrEqual(before);
		expect(entry?.dueAt).toBe(startedAt + ms);
	});

	it("wakes when the alarm fires, then completes without re-running earlier steps", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		await waitForStatus(instance, "waiting");
		while ((await instance.status()).status === "waiting") await fireAlarm(instance.id);
		expect((await waitForStatus(instance, "complete")).output).toBe("rested");
		expect(await calls(instance.id)).toEqual({ before: 1, after: 1 });
	});

	it("wakes by itself when a short sleep ends (real alarm, no test driving it)", async () => {
		const instance = await start("sleep", { duration: 200 });
		expect((await waitForStatus(instance, "complete")).output).toBe("rested");
	});

	it.for([
		{ label: "a Date", asDate: true },
		{ label: "a timestamp", asDate: false },
	])("sleeps until $label", async ({ asDate }) => {
		const at = Date.now() + 6 * 3_600_000;
		const instance = await start("sleepUntil", { at, asDate });
		await waitForStatus(instance, "waiting");
		expect((await sleepEntry(instance.id, "until"))?.dueAt).toBe(at);
		while ((await instance.status()).status === "waiting") await fireAlarm(instance.id);
		expect((await waitForStatus(instance, "complete")).output).toBe("woke");
	});

	it("does not sleep until a time in the past", async () => {
		const instance = await start("sleepUntil", { at: Date.now() - 1000, asDate: true });
		expect((await waitForStatus(instance, "complete")).output).toBe("woke");
	});
});

describe("replay after eviction", () => {
	it("replays a sleeping instance evicted from memory: completed steps never run again", async () => {
		const instance = await start("sleep", { duration: "1 hour" });
		await waitForStatus(instance, "waiting");
		await evictDurableObject(engineStub(instance.id));
		while ((await instance.status()).status === "waiting") await fireAlarm(instance.id);
		expect((await waitForStatus(instance, "complete")).output).toBe("rested");
		expect(await calls(instance.id)).toEqual({ before: 1, after: 1 });
	});

	it("re-runs a step cut off mid-attempt, by the lease alarm, and nothing that had completed", async () => {
		const instance = await start("hangsOnce");
		await expect.poll(async () => (await calls(instance.id)).hangs).toBe(1);
		const entry = () =>
			runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
				engine.journal.step("do", "hangs", 1),
			);
		expect((await entry())?.state).toBe(StepState.Running);
		// A lease alarm is armed while the step runs, so the instance comes back by itself.
		expect(await alarmOf(instance.id)).not.toBeNull();
		await crash(instance.id);
		expect(await fireAlarm(instance.id)).toBe(true);
		const { output } = await waitForStatus(instance, "complete");
		expect(output).toEqual({ calls: 2, attempt: 2 });
		expect(await calls(instance.id)).toEqual({ before: 1, hangs: 2, after: 1 });
	});

	it("keeps a retry's delay across eviction, then retries", async () => {
		const instance = await start("flaky", {
			failures: 1,
			config: { retries: { limit: 1, delay: "1 hour" } },
		});
		await expect
			.poll(
				async () =>
					(
						await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) =>
							engine.journal.step("do", "flaky", 1),
						)
					)?.state,
			)
			.toBe(StepState.Retrying);
		await evictDurableObject(engineStub(instance.id));
		while ((await instance.status()).status !== "complete") {
			if (!(await fireAlarm(instance.id))) break;
		}
		expect((await waitForStatus(instance, "complete")).output).toEqual({ calls: 2, attempt: 2 });
	});

	it("clears the alarm once the instance is finished", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		expect(await alarmOf(instance.id)).toBeNull();
		expect(await fireAlarm(instance.id)).toBe(false);
	});
});
