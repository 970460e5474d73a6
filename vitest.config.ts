import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		projects: [
			{
				plugins: [cloudflareTest({ wrangler: { configPath: "./tests/wrangler.toml" } })],
				test: { name: "workerd", include: ["tests/**/*.test.ts"], exclude: ["tests/e2e/**"] },
			},
		],
	},
});
