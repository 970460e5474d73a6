/// <reference types="node" />
/**
 * Setup mistakes, made for real under `wrangler dev` (tests/misconfigured/): what the user sees
 * must say what to change. A durable_objects binding whose class_name is the workflow class; the
 * runtime's `env` instead of do-workflows'; the CLI pointed at a Worker without the admin API.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { devServerForFile, ROOT } from "./wrangler";

const TOKEN = "e2e-admin-token";

const dev = devServerForFile("mistakes", {
	config: join(ROOT, "tests", "misconfigured", "wrangler.toml"),
	// The token is set: the Worker lacks only the `admin` option of withWorkflows.
	vars: { WORKFLOWS_ADMIN_TOKEN: TOKEN },
});

async function json(path: string): Promise<unknown> {
	const response = await dev().fetch(path);
	expect(response.status, path).toBe(200);
	return response.json();
}

/** Runs the CLI as `npx do-workflows` would, against the misconfigured Worker. */
async function cli(args: string[]) {
	try {
		const { stdout, stderr } = await promisify(execFile)(
			process.execPath,
			[join(ROOT, "bin", "do-workflows.mjs"), ...args],
			{
				env: {
					PATH: process.env.PATH ?? "",
					DO_WORKFLOWS_URL: dev().url,
					WORKFLOWS_ADMIN_TOKEN: TOKEN,
				},
				timeout: 30_000,
			},
		);
		return { code: 0, stdout, stderr };
	} catch (error) {
		const failed = error as { code?: number; stdout?: string; stderr?: string };
		return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
	}
}

describe("a durable_objects binding that names the workflow class", () => {
	it("fails create() with what to put in class_name, not workerd's RPC message", async () => {
		const { error } = (await json("/misbound")) as { error: { message: string } | null };
		expect(error?.message).toContain(
			"OrderWorkflow is a workflow class (it extends WorkflowEntrypoint), but wrangler.toml binds it as a Durable Object.",
		);
		expect(error?.message).toContain('class_name = "OrderWorkflowEngine"');
		expect(error?.message).not.toContain("does not support RPC");
	});
});

describe("env", () => {
	it('from "do-workflows" has the Workflow; from "cloudflare:workers", the raw namespace', async () => {
		expect(await json("/env-export")).toEqual({ status: "complete", output: 42 });
		// The mistake docs/getting-started.md's troubleshooting quotes.
		const { error } = (await json("/runtime-env")) as { error: { message: string } };
		expect(error.message).toMatch(/\.ORDERS\.create is not a function$/);
	});
});

describe("the CLI against a Worker without the admin API", () => {
	it("says so, and how to mount the API, for every kind of command", async () => {
		for (const args of [
			["workflows"],
			["list"],
			["describe", "order-1", "--workflow", "ORDERS"],
			["pause", "order-1", "--workflow", "ORDERS"],
			["create", "--workflow", "ORDERS", "--params", '{"n":1}'],
		]) {
			const result = await cli(args);
			expect(result.code, args.join(" ")).toBe(1);
			expect(result.stderr, args.join(" ")).toContain(
				`do-workflows: the Worker at ${dev().url} did not answer as a do-workflows admin API`,
			);
			expect(result.stderr).toContain(
				"(GET /__workflows/api/workflows: HTTP 200, without the x-do-workflows-admin header)",
			);
			expect(result.stderr).toContain(
				"Enable the admin API in the Worker with withWorkflows(bindings, handler, { admin: adminApi() }), adminApi from do-workflows/ops (docs/operations.md)",
			);
			expect(result.stderr).not.toContain("Cannot read properties");
		}
		// Only the CLI's first question reached the Worker's own fetch: no POST meant for the API.
		expect(await json("/seen")).toEqual(Array(5).fill("GET /__workflows/api/workflows"));
	});
});
