import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { WorkflowEngine } from "../src";
import { StepState } from "../src/engine/steps";
import {
	alarmOf,
	calls,
	crash,
	engineStub,
	fastForward,
	fireAlarm,
	openGate,
	retentionAlarmOf,
	start,
	waitForStatus,
} from "./helpers";

/**
 * Keeps out of the output what the engine reports on console.error about one instance: these tests
 * make its storage fail on purpose, and the engine reports each failure there. Reports about
 * anything else are written as usual.
 */
function quietReportsAbout() {
	const write = console.error;
	let id: string | undefined;
	const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
		if (id === undefined || !args.map(String).join(" ").includes(`"${id}"`)) write(...args);
	});
	return {
		of(instanceId: string) {
			id = instanceId;
		},
		[Symbol.dispose]() {
			spy.mockRestore();
		},
	};
}

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

	it("arms the lease for a run that waits on I/O outside any step, and comes back by it", async () => {
		const instance = await start("outsideStep");
		await expect.poll(async () => (await calls(instance.id)).outside).toBe(1);
		// No step is in flight: the lease armed as the run started is what brings it back.
		expect(await alarmOf(instance.id)).not.toBeNull();
		await crash(instance.id);
		expect(await fireAlarm(instance.id)).toBe(true);
		expect((await waitForStatus(instance, "complete")).output).toBe(1);
		expect(await calls(instance.id)).toEqual({ outside: 2, after: 1 });
	});

	it("ends errored, saying why, when the run's result is refused as too big for a row", async () => {
		const instance = await start("outsideStep");
		await expect.poll(async () => (await calls(instance.id)).outside).toBe(1);
		await runInDurableObject(engineStub(instance.id), (_e: WorkflowEngine, state) => {
			// Storage that refuses the complete row itself (a row over SQLite's size limit); a full
			// disk, which may pass, replays the run instead (storage-faults.test.ts).
			state.storage.sql.exec(
				`CREATE TRIGGER refuse_complete BEFORE UPDATE OF status ON instance
				WHEN NEW.status = 5 BEGIN SELECT RAISE(ABORT, 'simulated: string or blob too big'); END`,
			);
		});
		await openGate(instance.id, "outside");
		const status = await waitForStatus(instance, "errored");
		expect(status.error?.message).toMatch(
			/^run\(\) ended complete, but its result could not be stored: .*simulated: string or blob too big/,
		);
		// Only the retention deadline is left.
		const { alarm, due } = await retentionAlarmOf(instance.id);
		expect(alarm).toBe(due);
	});

	/** Makes the instance's storage refuse updates of its row that match `when` (SQL on NEW). */
	const refuse = (id: string, when: string) =>
		runInDurableObject(engineStub(id), (_e: WorkflowEngine, state) => {
			state.storage.sql.exec(
				`CREATE TRIGGER refuse BEFORE UPDATE ON instance WHEN ${when}
				BEGIN SELECT RAISE(ABORT, 'simulated: database or disk is full'); END`,
			);
		});

	it("runs again later, by its lease, when storage refuses every end of the run", async () => {
		using reports = quietReportsAbout();
		const instance = await start("outsideStep");
		reports.of(instance.id);
		await expect.poll(async () => (await calls(instance.id)).outside).toBe(1);
		await refuse(instance.id, "NEW.status IN (3, 5)"); // neither errored nor complete
		await openGate(instance.id, "outside");
		await expect.poll(async () => (await calls(instance.id)).after).toBe(1);
		await expect.poll(() => alarmOf(instance.id)).not.toBeNull();
		expect((await instance.status()).status).toBe("running");
		await runInDurableObject(engineStub(instance.id), (_e: WorkflowEngine, state) => {
			state.storage.sql.exec("DROP TRIGGER refuse");
		});
		expect(await fireAlarm(instance.id)).toBe(true);
		expect((await waitForStatus(instance, "complete")).output).toBe(1);
		// The replay took the journaled step; run() itself ran again.
		expect(await calls(instance.id)).toEqual({ outside: 2, after: 1 });
	});

	for (const fail of [false, true]) {
		it(`keeps the run's ${fail ? "error" : "output"} when a write after it fails`, async () => {
			using reports = quietReportsAbout();
			const instance = await start("outsideStep", { fail });
			reports.of(instance.id);
			await expect.poll(async () => (await calls(instance.id)).outside).toBe(1);
			// The alarm moved from the run's lease to the retention deadline as the instance ends: refused.
			await refuse(instance.id, "OLD.alarm_at IS NOT NULL AND NEW.alarm_at IS NOT OLD.alarm_at");
			await openGate(instance.id, "outside");
			if (fail) {
				const { error } = await waitForStatus(instance, "errored");
				expect(error).toEqual({ name: "Error", message: "the real failure" });
			} else {
				expect((await waitForStatus(instance, "complete")).output).toBe(1);
			}
		});
	}

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

	it("leaves only the retention deadline as the alarm once the instance is finished", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		const { alarm, due } = await retentionAlarmOf(instance.id);
		expect(alarm).toBe(due);
	});
});

describe("schema", () => {
	it("creates the index of due times with the first timer, not with the instance", async () => {
		const indexOf = (id: string) =>
			runInDurableObject(engineStub(id), (_engine: WorkflowEngine, state) =>
				state.storage.sql
					.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'steps_due'")
					.toArray(),
			);
		const quick = await start("basic");
		await waitForStatus(quick, "complete");
		expect(await indexOf(quick.id)).toEqual([]);
		const sleeper = await start("sleep", { duration: "1 day" });
		await waitForStatus(sleeper, "waiting");
		expect(await indexOf(sleeper.id)).toEqual([{ name: "steps_due" }]);
		await fastForward(sleeper, "waiting");
		expect((await waitForStatus(sleeper, "complete")).output).toBe("rested");
	});
});

describe("stored by an earlier version", () => {
	it("carries on an instance whose params and outputs are in KV, without the JSON columns", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		await waitForStatus(instance, "waiting");
		// The layout before values were kept as JSON: no JSON columns; params and outputs in KV.
		await runInDurableObject(engineStub(instance.id), (_engine: WorkflowEngine, state) => {
			const sql = state.storage.sql;
			const kv = state.storage.kv;
			const params = sql.exec<{ params_json: string }>("SELECT params_json FROM instance").one();
			kv.put("params", JSON.parse(params.params_json));
			for (const row of sql
				.exec<{ seq: number; output_json: string | null }>("SELECT seq, output_json FROM steps")
				.toArray()) {
				if (row.output_json !== null)
					kv.put(
						`step:${row.seq}`,
						row.output_json === "" ? undefined : JSON.parse(row.output_json),
					);
			}
			sql.exec("ALTER TABLE instance DROP COLUMN params_json");
			sql.exec("ALTER TABLE instance DROP COLUMN output_json");
			sql.exec("ALTER TABLE steps DROP COLUMN output_json");
		});
		await crash(instance.id);
		expect((await instance.status()).status).toBe("waiting");
		await fastForward(instance, "waiting");
		expect((await waitForStatus(instance, "complete")).output).toBe("rested");
		// Replayed from KV, not re-run: the step before the sleep ran once.
		expect(await calls(instance.id)).toEqual({ before: 1, after: 1 });
	});
});
