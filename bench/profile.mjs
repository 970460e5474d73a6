#!/usr/bin/env node
/**
 * A CPU profile of one bench workload: `node bench/profile.mjs <workload> <engine> <n> [out]`.
 * It runs the bench Worker (bench/worker.ts, with this worktree's src/) in one runtime with the
 * V8 inspector on, warms up, then profiles one run of the workload through the inspector's
 * Profiler and prints the functions with the most self time (the isolate runs the Worker and
 * every Durable Object of the script, so the engine's objects are all in it). `out`, if given,
 * receives the whole profile (a .cpuprofile that Chrome's DevTools open).
 *
 * Example: node bench/profile.mjs instances ours 1000 /tmp/instances.cpuprofile
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { bundleWorker, runtimeOptions } from "./runtime.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const [workload, engine, nArg, out] = process.argv.slice(2);
if (!workload || !engine || !nArg) {
	console.error("usage: node bench/profile.mjs <workload> <engine> <n> [out.cpuprofile]");
	process.exit(2);
}
const n = Number(nArg);
const dir = mkdtempSync(join(process.env.BENCH_STATE_ROOT ?? tmpdir(), "do-workflows-profile-"));
const scriptPath = join(dir, "worker.js");
await bundleWorker(join(ROOT, "bench", "worker.ts"), scriptPath);
const inspectorPort = 9300 + Math.floor(Math.random() * 500);
const mf = new Miniflare({
	...runtimeOptions({ scriptPath, modulesRoot: dir, state: join(dir, "state") }),
	inspectorPort,
});
try {
	await mf.ready;
	/** @param {number} round */
	const run = async (round) => {
		const query = new URLSearchParams({ workload, engine, n: String(n), tag: `p${round}` });
		const response = await mf.dispatchFetch(`http://bench/run?${query}`, { method: "POST" });
		if (!response.ok) throw new Error(`${workload}/${engine}: ${await response.text()}`);
		return response.json();
	};
	await run(0); // warm-up
	const targets = /** @type {{ webSocketDebuggerUrl: string }[]} */ (
		await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()
	);
	// Node's own WebSocket client (global since Node 22).
	const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
	await new Promise((ok, fail) => {
		socket.addEventListener("open", ok, { once: true });
		socket.addEventListener("error", fail, { once: true });
	});
	let next = 0;
	/** @typedef {{ id: number, result?: any, error?: { message: string } }} Reply */
	/** @type {Map<number, (reply: Reply) => void>} */
	const pending = new Map();
	socket.addEventListener("message", (event) => {
		/** @type {Reply} */
		const message = JSON.parse(String(event.data));
		pending.get(message.id)?.(message);
	});
	/**
	 * One call of the inspector protocol.
	 * @param {string} method
	 * @param {object} [params]
	 * @returns {Promise<Reply>}
	 */
	const send = (method, params = {}) =>
		new Promise((ok) => {
			const id = ++next;
			pending.set(id, ok);
			socket.send(JSON.stringify({ id, method, params }));
		});
	await send("Profiler.enable");
	await send("Profiler.setSamplingInterval", { interval: 100 });
	await send("Profiler.start");
	const result = await run(1);
	const { result: stopped } = await send("Profiler.stop");
	socket.close();
	/** @type {import("node:inspector").Profiler.Profile} */
	const profile = stopped.profile;
	if (out) writeFileSync(out, JSON.stringify(profile));

	// Self time per function, from the samples' time deltas.
	const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
	/** @type {Map<string, number>} */
	const self = new Map();
	let total = 0;
	(profile.samples ?? []).forEach((id, i) => {
		const node = byNode.get(id);
		if (!node) return;
		const frame = node.callFrame;
		const key = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").pop()}:${frame.lineNumber + 1}`;
		const dt = profile.timeDeltas?.[i] ?? 0;
		self.set(key, (self.get(key) ?? 0) + dt);
		total += dt;
	});
	console.log(
		`${workload}/${engine}, n = ${n}: ${JSON.stringify(result)}; profiled ${(total / 1000).toFixed(0)} ms`,
	);
	for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
		console.log(
			`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(7)} ms  ${key}`,
		);
	}
} finally {
	await mf.dispose();
	rmSync(dir, { recursive: true, force: true });
}
