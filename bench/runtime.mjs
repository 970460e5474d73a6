/**
 * The bench Worker's runtime options, shared by run.mjs and compare.mjs: our engine, the floor
 * object and the built-in engine, with state on disk under `state`.
 */

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
