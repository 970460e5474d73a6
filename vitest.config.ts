import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { quietExpectedRuntimeLogs } from "./tests/e2e/runtime-logs.ts";

// workerd's logs of the exceptions and aborts the tests provoke on purpose stay out of the output
// (tests/e2e/runtime-logs.ts says which); everything else it logs is written.
quietExpectedRuntimeLogs();

/**
 * Ceilings of the tests that run in workerd, which wait on observed state (expect.poll, the
 * helpers' polls), never on time: on a loaded machine (two cores shared with wrangler dev, a
 * browser and other work) a test of many instances takes longer than vitest's 5 s, and a state
 * longer than expect.poll's 1 s to appear. A ceiling only says when to give up.
 */
const inWorkerd = { testTimeout: 30_000, expect: { poll: { timeout: 10_000 } } };

// The package's own entry points resolve to its sources (the published exports point at dist/).
const resolve = {
	alias: {
		"do-workflows/testing": new URL("./src/testing/index.ts", import.meta.url).pathname,
		"do-workflows/ops": new URL("./src/ops.ts", import.meta.url).pathname,
	},
};

export default defineConfig({
	test: {
		projects: [
			{
				plugins: [cloudflareTest({ wrangler: { configPath: "./tests/wrangler.toml" } })],
				resolve,
				test: {
					name: "workerd",
					include: ["tests/**/*.test.ts"],
					exclude: ["tests/e2e/**", "tests/crash/**", "tests/consumers/**"],
					...inWorkerd,
				},
			},
			{
				// The example Worker's own tests, written with the test kit (do-workflows/testing).
				plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
				resolve,
				test: { name: "example", include: ["examples/**/*.test.ts"], ...inWorkerd },
			},
			{
				// Node-driven end-to-end tests: they run the real `wrangler` CLI (dev, deploy --dry-run)
				// against the root wrangler.toml and talk to it over HTTP on 127.0.0.1.
				test: {
					name: "e2e",
					environment: "node",
					include: ["tests/e2e/**/*.test.ts"],
					// wrangler dev, a browser and the Worker share two cores: expect.poll's 1 s default is a
					// margin, not an observation, on a loaded machine.
					expect: { poll: { timeout: 15_000, interval: 100 } },
					testTimeout: 120_000,
					hookTimeout: 120_000,
				},
			},
			{
				// The consumer matrix: the packed package installed into fixture apps, type-checked with
				// TypeScript 5.9 and 7 and the toolchains users have; one app also runs under wrangler dev.
				test: {
					name: "consumers",
					environment: "node",
					include: ["tests/consumers/*.test.ts"],
					testTimeout: 180_000,
					hookTimeout: 600_000,
				},
			},
			{
				// Crash and restart: `wrangler dev` for tests/crash/wrangler.toml, killed and restarted on
				// the same persisted storage. It runs after the other projects (groupOrder), alone, so
				// its load and its timing neither disturb nor depend on theirs. It takes about 2 minutes,
				// over 5 on two cores kept busy by other processes: the timeout is only a ceiling.
				test: {
					name: "crash",
					environment: "node",
					include: ["tests/crash/**/*.test.ts"],
					testTimeout: 900_000,
					hookTimeout: 120_000,
					sequence: { groupOrder: 1 },
				},
			},
			{
				// Differential compatibility suite: the same scenarios on miniflare's built-in Workflows
				// engine and on ours, in one workerd runtime (docs/compatibility.md).
				plugins: [cloudflareTest({ wrangler: { configPath: "./tests/compat/wrangler.toml" } })],
				resolve,
				test: { name: "compat", include: ["tests/compat/**/*.spec.ts"], testTimeout: 30_000 },
			},
		],
	},
});
