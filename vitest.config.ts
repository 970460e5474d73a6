import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		projects: [
			{
				plugins: [cloudflareTest({ wrangler: { configPath: "./tests/wrangler.toml" } })],
				test: { name: "workerd", include: ["tests/**/*.test.ts"], exclude: ["tests/e2e/**"] },
			},
			{
				// Node-driven end-to-end tests: they run the real `wrangler` CLI (dev, deploy --dry-run)
				// against the root wrangler.toml and talk to it over HTTP on 127.0.0.1.
				test: {
					name: "e2e",
					environment: "node",
					include: ["tests/e2e/**/*.test.ts"],
					testTimeout: 120_000,
					hookTimeout: 120_000,
				},
			},
			{
				// Differential compatibility suite: the same scenarios on miniflare's built-in Workflows
				// engine and on ours, in one workerd runtime (docs/compatibility.md).
				plugins: [cloudflareTest({ wrangler: { configPath: "./tests/compat/wrangler.toml" } })],
				test: { name: "compat", include: ["tests/compat/**/*.spec.ts"], testTimeout: 30_000 },
			},
		],
	},
});
