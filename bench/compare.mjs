#!/usr/bin/env node
/**
 * A/B comparison of engine versions on one workload: `node bench/compare.mjs <workload> <engine>
 * <n> <rounds> <ref>...`. Each ref is a git commit (or `worktree`, the files as they are); its
 * src/ runs under the current bench Worker (bench/worker.ts), so only the engine differs. Rounds
 * alternate between the refs (A B, B A, ...), each in a fresh runtime after a warm-up, which on a
 * shared, noisy machine compares better than separate runs. It prints each ref's median and
 * minimum time, and workerd's CPU time (user + system) for the measured run.
 *
 * Workloads and engines are those of bench/worker.ts: steps, instances, sleepy, wake; ours,
 * native, floor. BENCH_STATE_ROOT: where runtimes keep their state (default: the system's
 * temporary directory; /dev/shm keeps it in memory).
 *
 * Example: BENCH_STATE_ROOT=/dev/shm node bench/compare.mjs instances ours 1000 9 19c8504 HEAD
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { bundleWorker, median, runtimeOptions, workerdPids } from "./runtime.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const [workload, engine, nArg, roundsArg, ...refs] = process.argv.slice(2);
if (!workload || !engine || !refs.length) {
	console.error("usage: node bench/compare.mjs <workload> <engine> <n> <rounds> <ref>...");
	process.exit(2);
}
const n = Number(nArg);
const rounds = Number(roundsArg);
const dir = mkdtempSync(join(process.env.BENCH_STATE_ROOT ?? tmpdir(), "do-workflows-compare-"));

/**
 * Bundles the bench Worker of this worktree with the src/ of `ref`.
 * @param {string} ref
 * @param {number} i
 */
async function bundle(ref, i) {
	const tree = join(dir, `tree-${i}`);
	mkdirSync(tree);
	if (ref === "worktree") cpSync(join(ROOT, "src"), join(tree, "src"), { recursive: true });
	else execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${ref}" src | tar -x -C "${tree}"`]);
	cpSync(join(ROOT, "bench"), join(tree, "bench"), { recursive: true });
	const outfile = join(dir, `worker-${i}.js`);
	await bundleWorker(join(tree, "bench", "worker.ts"), outfile, {
		nodePaths: [join(ROOT, "node_modules")],
	});
	return outfile;
}

/**
 * workerd's CPU time so far (user + system), in ms.
 * @param {string} pid
 */
function cpuOf(pid) {
	const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
	return (Number(fields[11]) + Number(fields[12])) * 10;
}

let seq = 0;
/**
 * One measured run of the workload in a fresh runtime, after a warm-up.
 * @param {string} scriptPath
 * @returns {Promise<{ ms: number, cpu: number }>}
 */
async function once(scriptPath) {
	const state = mkdtempSync(join(dir, "state-"));
	const before = new Set(workerdPids());
	const mf = new Miniflare(runtimeOptions({ scriptPath, modulesRoot: dir, state }));
	try {
		await mf.ready;
		const pid = workerdPids().find((p) => !before.has(p));
		/** @param {number} count */
		const run = async (count) => {
			const query = new URLSearchParams({ workload, engine, n: String(count), tag: `t${seq++}` });
			const response = await mf.dispatchFetch(`http://bench/run?${query}`, { method: "POST" });
			const body = /** @type {import("./runtime.mjs").Answer} */ (await response.json());
			if (body.error) throw new Error(body.error);
			return body;
		};
		await run(workload === "instances" || workload === "wake" ? 100 : Math.max(1, n / 10));
		const cpu0 = pid ? cpuOf(pid) : Number.NaN;
		const { ms } = await run(n);
		return { ms, cpu: pid ? cpuOf(pid) - cpu0 : Number.NaN };
	} finally {
		await mf.dispose();
		rmSync(state, { recursive: true, force: true });
	}
}

try {
	const scripts = [];
	for (const [i, ref] of refs.entries()) scripts.push(await bundle(ref, i));
	/** @type {{ ms: number, cpu: number }[][]} */
	const results = refs.map(() => []);
	for (let r = 0; r < rounds; r++) {
		const order = refs.map((_, i) => i);
		if (r % 2) order.reverse();
		for (const i of order) results[i].push(await once(scripts[i]));
		process.stderr.write(`round ${r + 1} of ${rounds}\n`);
	}
	console.log(`${workload}, ${engine}, n = ${n}, ${rounds} rounds, state in ${dir}`);
	for (const [i, ref] of refs.entries()) {
		const ms = results[i].map((x) => x.ms);
		const cpu = results[i].map((x) => x.cpu);
		console.log(
			`${ref.padEnd(12)} median ${median(ms)} ms, min ${Math.min(...ms)} ms; ` +
				`workerd CPU median ${median(cpu)} ms; all: ${ms.join(" ")}`,
		);
	}
} finally {
	rmSync(dir, { recursive: true, force: true });
}
