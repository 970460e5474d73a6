/**
 * What the bench scripts (run.mjs, compare.mjs, profile.mjs) share: how the bench Worker is
 * bundled, and its runtime options (our engine, the floor object and the built-in engine).
 */
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
