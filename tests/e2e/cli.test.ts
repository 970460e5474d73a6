/// <reference types="node" />
/**
 * The CLI (bin/do-workflows.mjs) prints data from the Worker (ids, step names, error names and
 * messages, outputs) with its terminal control characters made visible: run as a user runs it,
 * against a stand-in admin API (a Node server that answers as the admin API does) whose data is
 * full of escape sequences.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./wrangler";

// An OSC that sets the window title, a CSI that erases the line, a carriage return, a BEL, DEL,
// and the one-byte C1 CSI (U+009B), which terminals also obey.
const HOSTILE = "\x1b]0;pwned\x07\x1b[2K\rok\x7f\u009b31m";
const SHOWN = "\\x1b]0;pwned\\x07\\x1b[2K\\rok\\x7f\\u009b31m";
/** Any control character but the newline, which the CLI's own layout uses. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const when = "2026-01-01T00:00:00.000Z";
const status = {
	id: `evil${HOSTILE}`,
	status: "errored",
	error: { name: `Error${HOSTILE}`, message: `failed\n${HOSTILE}` },
};
const routes: Record<string, { status?: number; body: unknown }> = {
	"/__workflows/api/workflows": { body: { workflows: [{ binding: "W", name: `w${HOSTILE}` }] } },
	"/__workflows/api/workflows/W/instances": {
		body: {
			instances: [{ ...status, createdAt: when, updatedAt: when, endedAt: when }],
			cursor: `c${HOSTILE}`,
		},
	},
	"/__workflows/api/workflows/W/instances/x": { body: { ...status, output: HOSTILE } },
	"/__workflows/api/workflows/W/instances/x/history": {
		body: {
			...status,
			workflow: "w",
			createdAt: when,
			startedAt: when,
			endedAt: when,
			params: HOSTILE,
			steps: [
				{
					type: "do",
					name: `step${HOSTILE}`,
					index: 1,
					state: "complete",
					startedAt: when,
					endedAt: when,
					attempts: [
						{
							attempt: 1,
							startedAt: when,
							endedAt: when,
							outcome: "error",
							error: { name: `E${HOSTILE}`, message: HOSTILE },
						},
					],
					interruptedAttempts: 0,
					nextAttemptAt: null,
					output: { text: HOSTILE },
				},
				{
					type: "do",
					name: "big one",
					index: 2,
					state: "complete",
					startedAt: when,
					endedAt: when,
					attempts: [{ attempt: 1, startedAt: when, endedAt: when, outcome: "success" }],
					interruptedAttempts: 0,
					nextAttemptAt: null,
					outputOmitted: { bytes: 1_000_005 },
				},
				{
					type: "waitForEvent",
					name: "wait",
					index: 1,
					state: "errored",
					startedAt: when,
					endedAt: when,
					eventType: `t${HOSTILE}`,
					timeoutAt: null,
					error: { name: `Timeout${HOSTILE}`, message: HOSTILE },
				},
			],
		},
	},
	"/__workflows/api/workflows/W/instances/x/steps/do/big%20one/2": {
		body: {
			type: "do",
			name: "big one",
			index: 2,
			state: "complete",
			startedAt: when,
			endedAt: when,
			attempts: [{ attempt: 1, startedAt: when, endedAt: when, outcome: "success" }],
			interruptedAttempts: 0,
			nextAttemptAt: null,
			output: { text: HOSTILE },
		},
	},
	"/__workflows/api/workflows/W/instances/x/pause": {
		status: 409,
		body: { error: { name: `InvalidStateError${HOSTILE}`, message: `no\n${HOSTILE}` } },
	},
};

let server: Server;
let url: string;
/** The requests the stand-in received, path and query. */
const requested: string[] = [];

beforeAll(async () => {
	server = createServer((request, response) => {
		requested.push(request.url ?? "");
		const route = routes[new URL(request.url ?? "/", "http://x").pathname];
		response.writeHead(route?.status ?? (route ? 200 : 404), {
			"content-type": "application/json",
			"x-do-workflows-admin": "1",
		});
		response.end(JSON.stringify(route?.body ?? { error: { name: "NotFound", message: "no" } }));
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
	await new Promise((resolve) => server.close(resolve));
});

async function cli(...args: string[]) {
	try {
		const { stdout, stderr } = await promisify(execFile)(
			process.execPath,
			[join(ROOT, "bin", "do-workflows.mjs"), ...args],
			{ env: { PATH: process.env.PATH ?? "", DO_WORKFLOWS_URL: url, WORKFLOWS_ADMIN_TOKEN: "t" } },
		);
		return { code: 0, stdout, stderr };
	} catch (error) {
		const failed = error as { code?: number; stdout?: string; stderr?: string };
		return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
	}
}

describe("the CLI shows control characters in data as visible escapes", () => {
	it.each([["workflows"], ["list"], ["describe", "x"], ["history", "x"]])("%s", async (...args) => {
		const { code, stdout, stderr } = await cli(...args);
		expect(code, stderr).toBe(0);
		expect(stdout).not.toMatch(CONTROL);
		expect(stdout).toContain(SHOWN);
	});

	it("in the table of a history: each step's name, error and output on its own line", async () => {
		const { stdout } = await cli("history", "x");
		const lines = stdout.trimEnd().split("\n");
		expect(lines[0]).toBe(`evil${SHOWN}  errored`);
		expect(lines[1]).toBe(`error: Error${SHOWN}: failed\\n${SHOWN}`);
		expect(lines.find((line) => line.startsWith("step\\x1b"))).toContain(
			'{"text":"\\u001b]0;pwned\\u0007\\u001b[2K\\rok\\x7f\\u009b31m"}',
		);
		expect(lines.find((line) => line.startsWith("  attempt 1"))).toContain(`E${SHOWN}: ${SHOWN}`);
		expect(lines.find((line) => line.startsWith("wait "))).toContain(`Timeout${SHOWN}: ${SHOWN}`);
	});

	it("in place of an output the history left out, the command that reads it", async () => {
		const { stdout } = await cli("history", "x", "--limit", "5", "--cursor", "abc");
		expect(requested.at(-1)).toBe(
			"/__workflows/api/workflows/W/instances/x/history?limit=5&cursor=abc",
		);
		expect(stdout.split("\n").find((line) => line.startsWith("big one #2"))).toContain(
			`(976.6 KiB, not shown: do-workflows step 'evil${SHOWN}' 'big one' --index 2)`,
		);
		const step = await cli("step", "x", "big one", "--index", "2");
		expect(step.code, step.stderr).toBe(0);
		expect(requested.at(-1)).toBe("/__workflows/api/workflows/W/instances/x/steps/do/big%20one/2");
		expect(step.stdout).toMatch(/^big one #2\s+do\s+complete/m);
		expect(step.stdout).toContain(`output: {\n  "text": "\\u001b]0;pwned`);
		expect(step.stdout).not.toMatch(CONTROL);
		expect((await cli("step", "x")).stderr).toContain("step needs an instance id and a step name");
		expect((await cli("step", "x", "big one", "--index", "0")).code).toBe(2);
	});

	it("in an error the API answers, on one line", async () => {
		const { code, stdout, stderr } = await cli("pause", "x");
		expect(code).toBe(1);
		expect(stdout).toBe("");
		expect(stderr).toBe(`do-workflows: InvalidStateError${SHOWN}: no\\n${SHOWN}\n`);
	});

	it("with --json, as JSON escapes: the same JSON, no control character", async () => {
		const { code, stdout } = await cli("history", "x", "--json");
		expect(code).toBe(0);
		expect(stdout).not.toMatch(CONTROL);
		expect(stdout).toContain("\\u009b");
		expect(JSON.parse(stdout)).toEqual(
			routes["/__workflows/api/workflows/W/instances/x/history"]?.body,
		);
	});
});
