/**
 * What the bench scripts (run.mjs, compare.mjs, profile.mjs, chart.mjs) share: how the bench
 * Worker is bundled, its runtime options (our engine, the floor object and the built-in engine),
 * finding the workerd processes they start, and the median.
 */
import { readdirSync, readFileSync } from "node:fs";
import { build } from "esbuild";

/**
 * Bundles a bench Worker entry point for workerd into `outfile`.
 * @param {string} entry
 * @param {string} outfile
 * @param {{ nodePaths?: string[], logLevel?: import("esbuild").LogLevel }} [options]
 */
export async function bundleWorker(entry, outfile, { nodePaths, logLevel = "error" } = {}) {
	await build({
		entryPoints: [entry],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2022",
		mainFields: ["module", "main"],
		conditions: ["workerd", "worker", "import"],
		external: ["cloudflare:*", "node:*"],
		nodePaths,
		logLevel,
	});
}

/** The bench Worker's runtime options, with state on disk under `state`. */

/**
 * @param {{ scriptPath: string, modulesRoot: string, state: string }} where
 * @returns {import("miniflare").MiniflareOptions}
 */
export function runtimeOptions({ scriptPath, modulesRoot, state }) {
	return {
		modules: true,
		scriptPath,
		modulesRoot,
		compatibilityDate: "2026-04-01",
		compatibilityFlags: ["nodejs_compat"],
		durableObjects: {
			OURS: { className: "OursEngine", useSQLite: true },
			FLOOR: { className: "Floor", useSQLite: true },
		},
		workflows: { NATIVE: { name: "bench", className: "NativeBench" } },
		defaultPersistRoot: state,
		durableObjectsPersist: true,
		workflowsPersist: true,
	};
}

/** The median of a list of numbers. */
export const median = (xs) => {
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The workerd processes this Node process started: Miniflare spawns one per runtime. */
export function workerdPids() {
	const parents = new Map();
	const names = new Map();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			const close = stat.lastIndexOf(")");
			names.set(entry, stat.slice(stat.indexOf("(") + 1, close));
			parents.set(entry, stat.slice(close + 2).split(" ")[1]);
		} catch {
			// The process ended while we looked.
		}
	}
	const mine = new Set([String(process.pid)]);
	for (let grew = true; grew; ) {
		grew = false;
		for (const [pid, ppid] of parents) {
			if (!mine.has(pid) && mine.has(ppid)) {
				mine.add(pid);
				grew = true;
			}
		}
	}
	return [...mine].filter((pid) => names.get(pid) === "workerd");
}
