#!/usr/bin/env node
/**
 * Where a waiting instance's memory goes: workload 6 (bench/run.mjs) measures a waiting instance
 * of ours against a bare SQLite-backed object; this splits the difference by measuring, the same
 * way (one fresh runtime of 1,000 objects, workerd's peak RSS above its idle RSS), shapes in
 * between:
 *
 *   empty    a bare object, called once: it stores nothing
 *   lookup   an engine object of ours asked for an instance it does not hold: it reads its
 *            schema and stores nothing (compared with empty: the engine class's own cost)
 *   floor    a bare object with one table and two writes (workload 6's floor)
 *   journal  a bare object that stores what a waiting instance of ours stores, through the
 *            engine's own Journal (instance row, a done step, an event wait, the index of due
 *            times) and sets an alarm: our storage without the engine
 *   done     an instance of ours that ends after its first step: the engine object without a run
 *            in memory
 *   waiting  an instance of ours waiting for an event (workload 6): the run in memory too
 *
 * Each shape runs MEMORY_PARTS_ROUNDS times (default 3), a fresh runtime each time, the shapes in
 * turn; the table gives the median per object and each shape's cost over the one it builds on.
 * MEMORY_PARTS_N sets the objects per runtime (default 1,000, workload 6's).
 *
 *   node bench/memory-parts.mjs
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker, median, memoryOf, startRuntime } from "./runtime.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const ROUNDS = Number(process.env.MEMORY_PARTS_ROUNDS ?? 3);
const N = Number(process.env.MEMORY_PARTS_N ?? 1000);

/** @type {{ key: string, engine: "floor" | "ours", shape: string, over?: string }[]} */
const SHAPES = [
	{ key: "empty", engine: "floor", shape: "empty" },
	{ key: "lookup", engine: "ours", shape: "lookup", over: "empty" },
	{ key: "floor", engine: "floor", shape: "", over: "empty" },
	{ key: "journal", engine: "floor", shape: "journal", over: "floor" },
	{ key: "done", engine: "ours", shape: "done", over: "journal" },
	{ key: "waiting", engine: "ours", shape: "", over: "done" },
];

const dir = mkdtempSync(join(tmpdir(), "do-workflows-memory-parts-"));
const bundle = join(dir, "worker.js");

/**
 * One request to the bench Worker (bench/worker.ts).
 * @param {import("miniflare").Miniflare} mf
 * @param {Record<string, string | number>} query
 * @returns {Promise<import("./runtime.mjs").Answer>}
 */
async function call(mf, query) {
	const search = new URLSearchParams(
		Object.entries(query).map(([k, v]) => /** @type {[string, string]} */ ([k, String(v)])),
	).toString();
	const response = await mf.dispatchFetch(`http://bench/run?${search}`, { method: "POST" });
	const body = /** @type {import("./runtime.mjs").Answer} */ (await response.json());
	if (!response.ok || body.error)
		throw new Error(`${query.workload}: ${body.error ?? response.status}`);
	return body;
}

/**
 * One runtime of `N` objects of one shape: KiB per object of workerd's peak above its idle RSS.
 * @param {(typeof SHAPES)[number]} s
 * @param {number} round
 */
async function measure(s, round) {
	const runtime = await startRuntime({ scriptPath: bundle, modulesRoot: dir });
	try {
		const tag = `${s.key}-${round}`;
		const base = { engine: s.engine, tag, shape: s.shape };
		await call(runtime.mf, { ...base, workload: "noop", n: 0 });
		const idle = memoryOf(runtime.pid).rss;
		await call(runtime.mf, { ...base, workload: "idle-create", n: N, offset: 0 });
		if (s.engine === "ours" && s.shape !== "lookup") {
			const { arrived = 0 } = await call(runtime.mf, { ...base, workload: "idle-wait", n: N });
			if (arrived < N) throw new Error(`${s.key}: ${arrived} of ${N} instances started`);
		}
		if (s.key === "waiting") {
			const { bad } = await call(runtime.mf, {
				...base,
				workload: "idle-check",
				n: N,
				offset: 100,
			});
			if (bad) throw new Error(`${s.key}: ${bad} sampled instances are not waiting`);
		}
		const { hwm, databases } = memoryOf(runtime.pid);
		return { kib: ((hwm - idle) * 1024) / N, databases };
	} finally {
		await runtime.dispose();
	}
}

try {
	await bundleWorker(join(ROOT, "bench", "memory-worker.ts"), bundle, { logLevel: "warning" });
	/** @type {Map<string, number[]>} */
	const kib = new Map(SHAPES.map((s) => [s.key, []]));
	for (let round = 1; round <= ROUNDS; round++) {
		process.stderr.write(`round ${round}:`);
		for (const s of SHAPES) {
			const m = await measure(s, round);
			kib.get(s.key)?.push(m.kib);
			process.stderr.write(` ${s.key} ${m.kib.toFixed(0)} KiB (${m.databases} open)`);
		}
		process.stderr.write("\n");
	}
	console.log(
		`| shape (${N} objects per runtime, ${ROUNDS} rounds) | KiB per object: median (each round) | over |`,
	);
	console.log("| --- | --- | --- |");
	/** @param {string | undefined} key */
	const med = (key) => median(kib.get(key ?? "") ?? []);
	for (const s of SHAPES) {
		const rounds = (kib.get(s.key) ?? []).map((x) => x.toFixed(0)).join(", ");
		const over = s.over ? `${(med(s.key) - med(s.over)).toFixed(0)} KiB over ${s.over}` : "";
		console.log(`| ${s.key} | ${med(s.key).toFixed(0)} (${rounds}) | ${over} |`);
	}
} finally {
	rmSync(dir, { recursive: true, force: true });
}
