/**
 * Beyond the product's binding: listing instances (filters, paging, how soon the listing follows
 * a status), an instance's step history, and waiting for a result.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
	InstanceExistsError,
	InstanceNotFoundError,
	type WorkflowEngine,
	WorkflowTimeoutError,
	WorkflowValidationError,
	workflowBinding,
} from "../src";
import { type ListingEntry, shardName, shardOf } from "../src/listing/shard";
import {
	getInstanceHistory,
	getStepHistory,
	HISTORY_PAGE_BYTES,
	type InstanceSummary,
	LISTING_SHARDS,
	listInstances,
	MAX_HISTORY_LIMIT,
	waitForResult,
} from "../src/ops";
import {
	alarmOf,
	calls,
	crash,
	engineStub,
	fastForward,
	fireAlarm,
	openGate,
	raw,
	scenarioWorkflow,
	start,
	uniqueId,
	waitForStatus,
} from "./helpers";
import type { ScenarioParams } from "./workflows";

/** Every instance listed with `options`, page by page. */
async function listAll(options: Parameters<typeof listInstances>[1] = {}) {
	const all: InstanceSummary[] = [];
	let cursor: string | undefined;
	let pages = 0;
	do {
		const page = await listInstances(scenarioWorkflow, { ...options, cursor });
		all.push(...page.instances);
		cursor = page.cursor;
		pages++;
	} while (cursor);
	return { all, pages };
}

/** The listing's status of `id`, or undefined if it is not listed. */
async function listedStatus(id: string, since: number) {
	const { all } = await listAll({ createdAfter: since, limit: 100 });
	return all.find((entry) => entry.id === id)?.status;
}

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

/**
 * The SCENARIO namespace, seen through a proxy that shows `onPutAll` each batch of listing rows a
 * binding writes (`listingPutAll`) before the shard gets it.
 */
function seeingPutAll(onPutAll: (entries: ListingEntry[]) => Promise<void> | void) {
	return new Proxy(raw.SCENARIO, {
		get(target, key) {
			if (key !== "get") {
				const value = Reflect.get(target, key);
				return typeof value === "function" ? value.bind(target) : value;
			}
			return (...args: Parameters<typeof target.get>) => {
				const stub = target.get(...args);
				return new Proxy(stub, {
					get(stubTarget, method) {
						if (method !== "listingPutAll") return Reflect.get(stubTarget, method, stubTarget);
						return async (entries: ListingEntry[]) => {
							await onPutAll(entries);
							return stubTarget.listingPutAll(entries);
						};
					},
				});
			};
		},
	});
}

/** The shard's row for `id`, as stored. */
async function shardRow(id: string) {
	return runInDurableObject(engineStub(shardName(shardOf(id))), (_e: WorkflowEngine, state) =>
		state.storage.sql
			.exec(
				"SELECT status, deleted, pending, version, removed_version, created_at FROM listing WHERE id = ?",
				id,
			)
			.toArray()
			.at(0),
	);
}

describe("listInstances", () => {
	it("follows each instance's status, newest first, and pages without repeats", async () => {
		const since = Date.now();
		const complete = await start("basic");
		const waiting = await start("sleep", { duration: "1 day" });
		const errored = await start("nonRetryable");
		await waitForStatus(complete, "complete");
		await waitForStatus(waiting, "waiting");
		await waitForStatus(errored, "errored");
		// The listing shows each status as soon as it is written.
		for (const [instance, status] of [
			[complete, "complete"],
			[waiting, "waiting"],
			[errored, "errored"],
		] as const) {
			expect(await listedStatus(instance.id, since)).toBe(status);
		}

		const { all, pages } = await listAll({ createdAfter: since, limit: 1 });
		const ids = all.map((entry) => entry.id);
		expect(new Set(ids).size).toBe(ids.length);
		expect(ids).toEqual(expect.arrayContaining([complete.id, waiting.id, errored.id]));
		expect(pages).toBe(ids.length);
		const times = all.map((entry) => entry.createdAt.getTime());
		expect(times).toEqual([...times].sort((a, b) => b - a));

		const failed = all.find((entry) => entry.id === errored.id);
		expect(failed?.error).toEqual({ name: "PaymentError", message: "card declined" });
		expect(failed?.endedAt).toBeInstanceOf(Date);
		await waiting.terminate();
	});

	it("filters by status and by creation time", async () => {
		const since = Date.now();
		const done = await start("basic");
		await waitForStatus(done, "complete");
		const { all: completes } = await listAll({ createdAfter: since, status: "complete" });
		expect(completes.every((entry) => entry.status === "complete")).toBe(true);
		expect(completes.map((entry) => entry.id)).toContain(done.id);
		const { all: others } = await listAll({
			createdAfter: new Date(since).toISOString(),
			status: ["waiting", "errored"],
		});
		expect(others.map((entry) => entry.id)).not.toContain(done.id);
		const { all: before } = await listAll({ createdBefore: since });
		expect(before.map((entry) => entry.id)).not.toContain(done.id);
		// An empty list of statuses is no filter, as leaving it out is.
		const { all: unfiltered } = await listAll({ createdAfter: since, status: [] });
		expect(unfiltered.map((entry) => entry.id)).toContain(done.id);
	});

	it("spreads instances over the shards and drops deleted ones", async () => {
		const since = Date.now();
		const ids = Array.from({ length: 20 }, () => uniqueId("spread"));
		expect(new Set(ids.map(shardOf)).size).toBeGreaterThan(LISTING_SHARDS / 4);
		await scenarioWorkflow.createBatch(
			ids.map((id) => ({ id, params: { scenario: "basic" as const } })),
		);
		await expect
			.poll(async () => {
				const { all } = await listAll({ createdAfter: since, status: "complete" });
				return ids.filter((id) => all.some((entry) => entry.id === id)).length;
			})
			.toBe(ids.length);
		const [first] = ids;
		if (!first) throw new Error("no id");
		await (
			(await scenarioWorkflow.get(first)) as WorkflowInstance & { delete(): Promise<void> }
		).delete();
		await expect.poll(() => listedStatus(first, since)).toBeUndefined();
	});

	it("lists an instance as create returns, in its current status, without touching its alarm", async () => {
		const since = Date.now();
		const instance = await start("sleep", { duration: "1 day" });
		// Listed before it was created; the row is checked with the instance, so no waiting.
		expect(await listedStatus(instance.id, since)).toMatch(/^(queued|running|waiting)$/);
		await waitForStatus(instance, "waiting");
		expect(await listedStatus(instance.id, since)).toBe("waiting");
		await fireAlarm(instance.id); // the lease of the step before the sleep runs out
		// The alarm is the sleep's end: the listing arms nothing of its own.
		expect(await alarmOf(instance.id)).toBeGreaterThan(Date.now() + 60 * 60_000);
		await instance.pause();
		expect(await listedStatus(instance.id, since)).toBe("paused");
		expect(await alarmOf(instance.id)).toBeNull();
		await instance.terminate();
		expect(await listedStatus(instance.id, since)).toBe("terminated");
	});

	it("repairs a final status the instance could not publish, and drops rows of creates that never happened", async () => {
		const since = Date.now();
		const done = await start("basic");
		await waitForStatus(done, "complete");
		const shard = engineStub(shardName(shardOf(done.id)));
		const row = () =>
			runInDurableObject(shard, (_engine: WorkflowEngine, state) =>
				state.storage.sql
					.exec<{ status: string; deleted: number }>(
						"SELECT status, deleted FROM listing WHERE id = ?",
						done.id,
					)
					.toArray(),
			);
		await expect.poll(row).toEqual([{ status: "complete", deleted: 0 }]);
		// As if the runtime had stopped before the final status reached the shard.
		await runInDurableObject(shard, (_engine: WorkflowEngine, state) => {
			state.storage.sql.exec(
				"UPDATE listing SET status = 'queued', version = 0, ended_at = NULL WHERE id = ?",
				done.id,
			);
		});
		const { all } = await listAll({ createdAfter: since, status: "complete" });
		expect(all.find((entry) => entry.id === done.id)).toMatchObject({
			status: "complete",
			endedAt: expect.any(Date),
		});
		expect(await row()).toEqual([{ status: "complete", deleted: 0 }]);

		// A row the binding wrote for a create that never happened: hidden at once, dropped once old.
		const ghost = uniqueId("ghost");
		const ghostShard = engineStub(shardName(shardOf(ghost)));
		await ghostShard.listingIntend([{ id: ghost, createdAt: Date.now() }]);
		expect(await listedStatus(ghost, since)).toBeUndefined();
		expect(await ghostShard.listingQuery({ limit: 100, createdAfter: since })).toContainEqual(
			expect.objectContaining({ id: ghost }),
		);
		const old = uniqueId("ghost");
		const oldShard = engineStub(shardName(shardOf(old)));
		await oldShard.listingIntend([{ id: old, createdAt: Date.now() - 2 * 60_000 }]);
		expect(await listedStatus(old, 0)).toBeUndefined();
		expect(await oldShard.listingQuery({ limit: 100 })).not.toContainEqual(
			expect.objectContaining({ id: old }),
		);
	});

	it("lists an id created again even if its last instance's removal was lost or arrives late", async () => {
		const id = uniqueId("recreated");
		const first = await scenarioWorkflow.create({ id, params: { scenario: "basic" } });
		await waitForStatus(first, "complete");
		await expect.poll(() => shardRow(id)).toMatchObject({ status: "complete", pending: 0 });
		const { version } = (await shardRow(id)) as { version: number };
		await (first as WorkflowInstance & { delete(): Promise<void> }).delete();
		await expect.poll(() => shardRow(id)).toMatchObject({ deleted: 1 });
		// As if the removal had never arrived: the old instance's final row is back.
		await runInDurableObject(engineStub(shardName(shardOf(id))), (_e: WorkflowEngine, state) => {
			state.storage.sql.exec("UPDATE listing SET deleted = 0 WHERE id = ?", id);
		});
		const second = await scenarioWorkflow.create({
			id,
			params: { scenario: "sleep", duration: "1 day" },
		});
		await waitForStatus(second, "waiting");
		expect(await listedStatus(id, 0)).toBe("waiting");
		// The removal arriving now, late, does not hide the new instance.
		await engineStub(shardName(shardOf(id))).listingRemove(id, version);
		expect(await listedStatus(id, 0)).toBe("waiting");
		await second.terminate();
		expect(await listedStatus(id, 0)).toBe("terminated");
	});

	it("keeps a re-created id listed when its last instance's removal comes after the new create", async () => {
		const id = uniqueId("late-remove");
		const first = await scenarioWorkflow.create({
			id,
			params: { scenario: "sleep", duration: "1 day" },
		});
		await waitForStatus(first, "waiting");
		await expect.poll(() => shardRow(id)).toMatchObject({ status: "waiting" });
		const { version } = (await shardRow(id)) as { version: number };
		await (first as WorkflowInstance & { delete(): Promise<void> }).delete();
		await expect.poll(() => shardRow(id)).toMatchObject({ deleted: 1 });
		// The new create's row arrives, then a removal of the deleted instance at a version its
		// row never had (it changed status after its last publish).
		const shard = engineStub(shardName(shardOf(id)));
		await shard.listingIntend([{ id, createdAt: Date.now() }]);
		await shard.listingRemove(id, version + 5);
		expect(await shardRow(id)).toMatchObject({ deleted: 0, pending: 1 });
		const second = await scenarioWorkflow.create({
			id,
			params: { scenario: "sleep", duration: "1 day" },
		});
		await waitForStatus(second, "waiting");
		expect(await listedStatus(id, 0)).toBe("waiting");
		// A row dropped as abandoned goes only if nothing wrote it since the listing looked.
		const { created_at } = (await shardRow(id)) as { created_at: number };
		await shard.listingRemove(id, version + 5, { updatedAt: created_at - 1 });
		expect(await shardRow(id)).toMatchObject({ deleted: 0 });
		await second.terminate();
	});

	it("leaves a listed instance's creation time alone when a duplicate create is refused", async () => {
		const sleeper = await start("sleep", { duration: "1 day" });
		await waitForStatus(sleeper, "waiting");
		await expect.poll(() => shardRow(sleeper.id)).toMatchObject({ status: "waiting" });
		const before = (await shardRow(sleeper.id)) as { created_at: number };
		await expect.poll(() => Date.now()).toBeGreaterThan(before.created_at);
		await expect(
			scenarioWorkflow.create({ id: sleeper.id, params: { scenario: "basic" } }),
		).rejects.toThrow(InstanceExistsError);
		expect(await shardRow(sleeper.id)).toMatchObject({
			created_at: before.created_at,
			pending: 1,
		});
		await sleeper.terminate();
	});

	it("sends a final status again when the shard did not take it", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		await waitForStatus(instance, "waiting");
		const shard = engineStub(shardName(shardOf(instance.id)));
		await expect.poll(() => shardRow(instance.id)).toMatchObject({ status: "waiting" });
		const rename = (from: string, to: string) =>
			runInDurableObject(shard, (_e: WorkflowEngine, state) => {
				state.storage.sql.exec(`ALTER TABLE ${from} RENAME TO ${to}`);
			});
		await rename("listing", "listing_away"); // the shard fails every write
		await fastForward(instance, "waiting");
		await waitForStatus(instance, "complete");
		await rename("listing_away", "listing");
		await expect
			.poll(() => shardRow(instance.id), { timeout: 10_000, interval: 100 })
			.toMatchObject({ status: "complete" });
	});

	it("settles the row a refused create marked, and dates a row left by an abandoned create anew", async () => {
		const done = await start("basic");
		await waitForStatus(done, "complete");
		await expect.poll(() => shardRow(done.id)).toMatchObject({ status: "complete", pending: 0 });
		await expect(
			scenarioWorkflow.create({ id: done.id, params: { scenario: "basic" } }),
		).rejects.toThrow(InstanceExistsError);
		expect(await shardRow(done.id)).toMatchObject({ status: "complete", pending: 1 });
		expect(await listedStatus(done.id, 0)).toBe("complete");
		expect(await shardRow(done.id)).toMatchObject({ status: "complete", pending: 0 });

		// So does a batch's create of a taken id, which the batch reports; the others are created.
		const fresh = uniqueId("fresh");
		const batch = await scenarioWorkflow.createBatch({
			instances: [
				{ id: fresh, params: { scenario: "basic" } },
				{ id: done.id, params: { scenario: "basic" } },
			],
		});
		expect(batch.errors).toMatchObject([{ index: 1, id: done.id, code: 10405 }]);
		expect(await shardRow(done.id)).toMatchObject({ status: "complete", pending: 1 });
		expect(await listedStatus(done.id, 0)).toBe("complete");
		expect(await shardRow(done.id)).toMatchObject({ status: "complete", pending: 0 });
		await waitForStatus(batch.created[0] as WorkflowInstance, "complete");

		// An intent whose create never came (its caller died in between) leaves a row; creating
		// the id later lists it at its own creation time.
		const abandoned = uniqueId("abandoned");
		await engineStub(shardName(shardOf(abandoned))).listingIntend([
			{ id: abandoned, createdAt: Date.now() },
		]);
		const leftover = (await shardRow(abandoned)) as { created_at: number };
		await expect.poll(() => Date.now()).toBeGreaterThan(leftover.created_at);
		const since = Date.now();
		const later = await scenarioWorkflow.create({ id: abandoned, params: { scenario: "basic" } });
		await waitForStatus(later, "complete");
		const { all } = await listAll({ createdAfter: since });
		expect(all.map((entry) => entry.id)).toContain(abandoned);
	});

	it("lists a batch's instances that end within their create as createBatch returns, written by the caller", async () => {
		const quick = [uniqueId("quick"), uniqueId("quick")];
		const slow = uniqueId("slow"); // awaits I/O in its steps: its engine publishes when it ends
		// The rows the binding writes, seen through a namespace that records them.
		const written: ListingEntry[] = [];
		const namespace = seeingPutAll((entries) => {
			written.push(...entries);
		});
		await workflowBinding<ScenarioParams>(namespace).createBatch([
			{ id: quick[0], params: { scenario: "event" } },
			{ id: quick[1], params: { scenario: "stepContext" } },
			{ id: slow, params: { scenario: "basic" } },
		]);
		expect(written.map(({ id, status }) => ({ id, status })).sort(byId)).toEqual(
			quick.map((id) => ({ id, status: "complete" })).sort(byId),
		);
		for (const id of quick) {
			expect(await shardRow(id)).toMatchObject({ status: "complete", pending: 0 });
		}
		await expect.poll(() => shardRow(slow)).toMatchObject({ status: "complete", pending: 0 });

		// What the engine answers such a create, and what it holds back from its own publishing.
		const id = uniqueId("handed");
		const answer = await engineStub(id).create({
			id,
			params: { scenario: "stepContext" },
			callerLists: true,
		});
		const entry = await engineStub(id).listingEntry();
		expect(entry?.status).toBe("complete");
		expect(answer).toEqual({ ok: true, value: entry });
		const blocked = uniqueId("blocked");
		const held = await engineStub(blocked).create({
			id: blocked,
			params: { scenario: "gated" },
			callerLists: true,
		});
		expect(held).toEqual({ ok: true, value: null });
		await expect.poll(async () => (await calls(blocked)).held).toBe(1);
		await openGate(blocked, "held");
		// It waits (a sleep) after the gate: the engine, not the caller, publishes that.
		await expect.poll(() => shardRow(blocked)).toMatchObject({ status: "waiting" });
	});

	it("does not list a batch's instance that was deleted before the batch wrote its row", async () => {
		const since = Date.now();
		const id = uniqueId("gone");
		const arrived: ListingEntry[] = [];
		const { promise: go, resolve: release } = Promise.withResolvers<void>();
		const batch = workflowBinding<ScenarioParams>(
			seeingPutAll(async (entries) => {
				arrived.push(...entries);
				await go;
			}),
		).createBatch([{ id, params: { scenario: "stepContext" } }]);
		await expect.poll(() => arrived.length).toBe(1);
		await (
			(await scenarioWorkflow.get(id)) as WorkflowInstance & { delete(): Promise<void> }
		).delete();
		// The removal came first, for a row the intent marked: refused, and remembered.
		await expect
			.poll(() => shardRow(id))
			.toMatchObject({ deleted: 0, pending: 1, removed_version: arrived[0]?.version });
		release();
		await batch;
		expect(await shardRow(id)).toMatchObject({ status: "queued", pending: 1 });
		expect(await listedStatus(id, since)).toBeUndefined();
	});

	it("leaves a batch's taken id to its instance, which refuses it untouched, with or without its row", async () => {
		const existing = await start("sleep", { duration: "1 day" });
		await waitForStatus(existing, "waiting");
		const batch = (first: string) => [
			{ id: first, params: { scenario: "basic" as const } },
			{ id: existing.id, params: { scenario: "basic" as const } },
		];
		const [listed, unlisted] = [uniqueId("listed"), uniqueId("unlisted")];
		expect((await scenarioWorkflow.createBatch(batch(listed))).map(({ id }) => id)).toEqual([
			listed,
		]);
		// Without its row (lost, or older than the listing), the id is refused all the same.
		await runInDurableObject(
			engineStub(shardName(shardOf(existing.id))),
			(_e: WorkflowEngine, state) => {
				state.storage.sql.exec("DELETE FROM listing WHERE id = ?", existing.id);
			},
		);
		expect((await scenarioWorkflow.createBatch(batch(unlisted))).map(({ id }) => id)).toEqual([
			unlisted,
		]);
		expect((await existing.status()).status).toBe("waiting");
		expect(await calls(existing.id)).toEqual({ before: 1 });
		await existing.terminate();
	});

	it("knows a waiting instance from its engine, so filters for final statuses pass it by", async () => {
		const since = Date.now();
		const sleeper = await start("sleep", { duration: "1 day" });
		await waitForStatus(sleeper, "waiting");
		await expect.poll(() => shardRow(sleeper.id)).toMatchObject({ status: "waiting" });
		const shard = engineStub(shardName(shardOf(sleeper.id)));
		// What listInstances asks the shards for when it filters for complete instances.
		const rows = await shard.listingQuery({
			status: ["complete", "queued", "running"],
			createdAfter: since,
			limit: 100,
		});
		expect(rows.map((row) => row.id)).not.toContain(sleeper.id);
		expect(await listedStatus(sleeper.id, since)).toBe("waiting");
		await sleeper.terminate();
	});

	it("reads a shard stored before rows were marked pending or remembered removals", async () => {
		const shard = engineStub(`listing:old-${Date.now()}`);
		await runInDurableObject(shard, (_e: WorkflowEngine, state) => {
			state.storage.sql.exec(`CREATE TABLE listing (id TEXT PRIMARY KEY, status TEXT NOT NULL,
				created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, ended_at INTEGER, error TEXT,
				version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)`);
			state.storage.sql.exec(
				"INSERT INTO listing (id, status, created_at, updated_at, version) VALUES ('old', 'complete', 1, 2, 3)",
			);
		});
		expect(await shard.listingQuery({ limit: 10 })).toEqual([
			expect.objectContaining({ id: "old", status: "complete", version: 3, pending: false }),
		]);
		expect(await shard.listingIntend([{ id: "old", createdAt: 5 }])).toEqual(["old"]);
		// A removal refused for a marked row is remembered: the deleted instance's update is not taken.
		expect(await shard.listingIntend([{ id: "new", createdAt: 5 }])).toEqual([]);
		await shard.listingRemove("new", 7);
		const entry = {
			id: "new",
			status: "complete" as const,
			createdAt: 5,
			updatedAt: 6,
			endedAt: 6,
		};
		await shard.listingPut({ ...entry, error: null, version: 7 });
		expect(await shard.listingQuery({ limit: 10 })).toContainEqual(
			expect.objectContaining({ id: "new", status: "queued", pending: true }),
		);
		await shard.listingPut({ ...entry, error: null, version: 8 });
		expect(await shard.listingQuery({ limit: 10 })).toContainEqual(
			expect.objectContaining({ id: "new", status: "complete", pending: false }),
		);
	});

	it("keeps the newest version when updates arrive out of order", async () => {
		const shard = engineStub("listing:probe");
		const entry = {
			id: uniqueId("versioned"),
			status: "complete" as const,
			createdAt: 1,
			updatedAt: 2,
			endedAt: 2,
			error: null,
			version: 10,
		};
		await shard.listingPut(entry);
		await shard.listingPut({ ...entry, status: "running", version: 9 });
		expect((await shard.listingQuery({ limit: 10 })).map((e) => e.status)).toEqual(["complete"]);
		await shard.listingRemove(entry.id, 9);
		expect(await shard.listingQuery({ limit: 10 })).toHaveLength(1);
		await shard.listingRemove(entry.id, 10);
		expect(await shard.listingQuery({ limit: 10 })).toEqual([]);
		// An update of the deleted instance that arrives late does not bring it back ...
		await shard.listingPut({ ...entry, status: "running" });
		expect(await shard.listingQuery({ limit: 10 })).toEqual([]);
		// ... but the instance created again with its id is listed: the binding's row keeps the
		// tombstone's version, so the deleted instance's late updates stay refused ...
		await shard.listingIntend([{ id: entry.id, createdAt: 5 }]);
		expect(await shard.listingQuery({ limit: 10 })).toEqual([
			expect.objectContaining({ status: "queued", createdAt: 5, version: 10 }),
		]);
		await shard.listingPut({ ...entry, status: "errored", version: 10 });
		expect((await shard.listingQuery({ limit: 10 })).map((e) => e.status)).toEqual(["queued"]);
		// ... and its own updates (higher versions) are taken.
		await shard.listingPut({ ...entry, status: "complete", version: 11 });
		expect((await shard.listingQuery({ limit: 10 })).map((e) => e.status)).toEqual(["complete"]);
		// A row for an id in use is left alone (that create fails as a duplicate).
		await shard.listingIntend([{ id: entry.id, createdAt: 7 }]);
		expect((await shard.listingQuery({ limit: 10 })).map((e) => e.status)).toEqual(["complete"]);
	});

	it("lists an instance created again after a delete", async () => {
		const since = Date.now();
		const id = uniqueId("again");
		const first = await scenarioWorkflow.create({ id, params: { scenario: "basic" } });
		await waitForStatus(first, "complete");
		await expect.poll(() => listedStatus(id, since)).toBe("complete");
		await (first as WorkflowInstance & { delete(): Promise<void> }).delete();
		await expect.poll(() => listedStatus(id, since)).toBeUndefined();
		const second = await scenarioWorkflow.create({
			id,
			params: { scenario: "sleep", duration: "1 day" },
		});
		await waitForStatus(second, "waiting");
		expect(await listedStatus(id, since)).toBe("waiting");
		await second.terminate();
	});

	it("refuses bad options with a typed error naming the limit", async () => {
		const refused = (options: unknown) =>
			expect(listInstances(scenarioWorkflow, options as never)).rejects.toBeInstanceOf(
				WorkflowValidationError,
			);
		await refused({ status: "done" });
		await refused({ limit: 0 });
		await refused({ limit: 101 });
		await refused({ createdAfter: "yesterday" });
		await refused({ cursor: "not-a-cursor" });
		await refused({ sort: "asc" });
		await expect(listInstances(scenarioWorkflow, { limit: 101 })).rejects.toThrow(
			/limit must be at most 100/,
		);
		await expect(listInstances({} as never)).rejects.toThrow(/needs a do-workflows binding/);
	});
});

describe("getInstanceHistory", () => {
	it("exports the steps of an instance, also from the raw namespace", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		const history = await getInstanceHistory(raw.SCENARIO, instance.id);
		expect(history).toMatchObject({ id: instance.id, status: "complete", output: { a: 1, b: 2 } });
		expect(history.steps.map((step) => [step.type, step.name, step.state])).toEqual([
			["do", "first", "complete"],
			["do", "second", "complete"],
		]);
		// A JSON export: dates become ISO strings.
		expect(JSON.parse(JSON.stringify(history)).createdAt).toBe(history.createdAt.toISOString());
	});

	it("throws InstanceNotFoundError for an unknown id", async () => {
		await expect(getInstanceHistory(scenarioWorkflow, uniqueId("nope"))).rejects.toBeInstanceOf(
			InstanceNotFoundError,
		);
		await expect(
			getStepHistory(scenarioWorkflow, uniqueId("nope"), { name: "first" }),
		).rejects.toBeInstanceOf(InstanceNotFoundError);
	});

	it("pages through the steps with a cursor, and leaves out values over maxValueBytes", async () => {
		const instance = await start("basic");
		await waitForStatus(instance, "complete");
		const first = await getInstanceHistory(scenarioWorkflow, instance.id, { limit: 1 });
		expect(first.steps.map((step) => step.name)).toEqual(["first"]);
		expect(first.output).toEqual({ a: 1, b: 2 });
		expect(first.cursor).toEqual(expect.any(String));
		const second = await getInstanceHistory(scenarioWorkflow, instance.id, {
			limit: 1,
			cursor: first.cursor,
		});
		expect(second.steps).toMatchObject([{ name: "second", output: 2 }]);
		expect(second.cursor).toBeUndefined();
		// With maxValueBytes 0 every output is left out, a marker with its size in its place.
		const bare = await getInstanceHistory(scenarioWorkflow, instance.id, { maxValueBytes: 0 });
		for (const step of bare.steps) {
			expect(step).not.toHaveProperty("output");
			expect(step).toMatchObject({ outputOmitted: { bytes: expect.any(Number) } });
		}
		expect(await getStepHistory(scenarioWorkflow, instance.id, { name: "second" })).toMatchObject({
			type: "do",
			name: "second",
			index: 1,
			state: "complete",
			output: 2,
		});
		expect(
			await getStepHistory(scenarioWorkflow, instance.id, { name: "second", index: 2 }),
		).toBeUndefined();
		for (const options of [
			{ limit: 0 },
			{ limit: MAX_HISTORY_LIMIT + 1 },
			{ maxValueBytes: -1 },
			{ maxValueBytes: HISTORY_PAGE_BYTES + 1 },
			{ cursor: "not-a-cursor" },
			{ bogus: 1 },
		]) {
			await expect(
				getInstanceHistory(scenarioWorkflow, instance.id, options as never),
				JSON.stringify(options),
			).rejects.toBeInstanceOf(WorkflowValidationError);
		}
	});

	it("shows an event received, or leaves it out with its size", async () => {
		const instance = await start("waitEvent");
		await waitForStatus(instance, "waiting");
		await instance.sendEvent({ type: "approval", payload: { big: "p".repeat(100_000) } });
		await waitForStatus(instance, "complete");
		const { steps } = await getInstanceHistory(scenarioWorkflow, instance.id);
		const wait = steps.find((step) => step.type === "waitForEvent");
		expect(wait).not.toHaveProperty("event");
		expect(wait).toMatchObject({ eventOmitted: { bytes: expect.any(Number) } });
		if (wait?.type !== "waitForEvent" || !wait.eventOmitted) throw new Error("no marker");
		expect(wait.eventOmitted.bytes).toBeGreaterThan(100_000);
		const whole = await getStepHistory(scenarioWorkflow, instance.id, {
			type: "waitForEvent",
			name: wait.name,
		});
		expect(whole).toMatchObject({
			event: { type: "approval", payload: { big: "p".repeat(100_000) } },
		});
	});

	it("reads an instance of 40 steps of 1 MB each, more than an RPC answer holds", async () => {
		// 40 MB of step outputs, each within the 1 MiB limit: one answer of the engine holds 32 MiB.
		const instance = await start("largeHistory", { count: 40, bytes: 1_000_000 });
		expect(await waitForResult(scenarioWorkflow, instance.id, { timeout: 60_000 })).toEqual({
			status: "complete",
			output: 40,
		});
		const part = (i: number) => `${i}:`.padEnd(1_000_000, "x");

		// By default: every step, each output left out with its size.
		const history = await getInstanceHistory(scenarioWorkflow, instance.id);
		expect(history.cursor).toBeUndefined();
		expect(history.steps).toHaveLength(40);
		history.steps.forEach((step, i) => {
			expect(step).toMatchObject({ type: "do", name: "part", index: i + 1, state: "complete" });
			expect(step).not.toHaveProperty("output");
			if (step.type !== "do") throw new Error("not a do step");
			expect(step.outputOmitted?.bytes).toBeGreaterThan(1_000_000);
			expect(step.outputOmitted?.bytes).toBeLessThanOrEqual(1024 * 1024);
		});

		// With the outputs: pages that stay within HISTORY_PAGE_BYTES, the cursor leading on.
		const outputs: unknown[] = [];
		let cursor: string | undefined;
		let pages = 0;
		do {
			const page = await getInstanceHistory(scenarioWorkflow, instance.id, {
				cursor,
				limit: MAX_HISTORY_LIMIT,
				maxValueBytes: HISTORY_PAGE_BYTES,
			});
			expect(page.steps.length).toBeGreaterThan(0);
			expect(page.steps.length * 1_000_000).toBeLessThanOrEqual(HISTORY_PAGE_BYTES);
			for (const step of page.steps) outputs.push(step.type === "do" ? step.output : undefined);
			cursor = page.cursor;
			pages++;
		} while (cursor);
		expect(pages).toBeGreaterThanOrEqual(5);
		expect(outputs).toHaveLength(40);
		outputs.forEach((output, i) => {
			expect(output === part(i + 1), `output of part #${i + 1}`).toBe(true);
		});

		// One step, whole.
		const step = await getStepHistory(scenarioWorkflow, instance.id, { name: "part", index: 17 });
		expect(step?.type === "do" && step.output === part(17)).toBe(true);
	});
});

describe("waitForResult", () => {
	it("answers as the instance ends: its output, or its error", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		const result = waitForResult(scenarioWorkflow, instance.id);
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		expect(await result).toEqual({ status: "complete", output: (await instance.status()).output });

		const failing = await start("nonRetryable");
		expect(await waitForResult(scenarioWorkflow, failing.id)).toMatchObject({
			status: "errored",
			error: { name: "PaymentError" },
		});
	});

	it("carries on across a crash of the engine object", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		await waitForStatus(instance, "waiting");
		const result = waitForResult(scenarioWorkflow, instance.id);
		await crash(instance.id);
		await fastForward(instance, "waiting");
		expect((await result).status).toBe("complete");
	});

	it("times out with WorkflowTimeoutError, and refuses unknown ids and bad options", async () => {
		const instance = await start("sleep", { duration: "1 day" });
		await waitForStatus(instance, "waiting");
		await expect(waitForResult(scenarioWorkflow, instance.id, { timeout: 20 })).rejects.toThrow(
			WorkflowTimeoutError,
		);
		await expect(waitForResult(scenarioWorkflow, uniqueId("nope"))).rejects.toBeInstanceOf(
			InstanceNotFoundError,
		);
		await expect(
			waitForResult(scenarioWorkflow, instance.id, { timeout: "soon" }),
		).rejects.toBeInstanceOf(WorkflowValidationError);
		await instance.terminate();
		expect((await waitForResult(scenarioWorkflow, instance.id)).status).toBe("terminated");
	});
});
