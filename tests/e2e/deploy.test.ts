/// <reference types="node" />
/**
 * `wrangler deploy --dry-run` of the root wrangler.toml: the example Worker bundles for
 * Cloudflare, the bundle exports the engine's Durable Object class that wrangler.toml binds, and
 * none of the test kit (do-workflows/testing) ships with it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, removeDir, runWrangler, tempDir } from "./wrangler";

const outdir = tempDir("deploy");

afterAll(() => removeDir(outdir));

describe("wrangler deploy --dry-run", () => {
	it("bundles the example Worker, exporting OrderWorkflowEngine", async () => {
		const result = await runWrangler([
			"deploy",
			"--dry-run",
			"--config",
			join(ROOT, "wrangler.toml"),
			"--outdir",
			outdir,
		]);
		expect(result.code, result.report).toBe(0);

		const bundles = readdirSync(outdir).filter((name) => name.endsWith(".js"));
		expect(bundles, result.report).not.toEqual([]);
		const exportsEngine = bundles.some((name) =>
			/export\s*\{[^}]*\bOrderWorkflowEngine\b[^}]*\}/.test(
				readFileSync(join(outdir, name), "utf8"),
			),
		);
		expect(exportsEngine, `no bundle in ${outdir} exports OrderWorkflowEngine`).toBe(true);

		// The engine's hook slot is read in production, but nothing in the bundle fills it.
		const code = bundles.map((name) => readFileSync(join(outdir, name), "utf8")).join("\n");
		expect(code).toContain("do-workflows.engine-hooks");
		for (const kitOnly of ["introspectWorkflowInstance", "installEngineHooks", "mockStepResult"]) {
			expect(code, `the bundle contains ${kitOnly}`).not.toContain(kitOnly);
		}
	});
});
