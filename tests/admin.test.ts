/**
 * The admin HTTP API (mounted by withWorkflows in tests/worker.ts): authentication on every
 * route, validation of every body and query, and each route's effect.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { WorkflowValidationError, withWorkflows } from "../src";
import { adminHandler } from "../src/admin/api";
import { adminApi, waitForResult } from "../src/ops";
import { fastForward, scenarioWorkflow, uniqueId, waitForStatus } from "./helpers";
import { ScenarioEngine } from "./workflows";

const TOKEN = "test-admin-token";
const BASE = "http://worker/__workflows/api/workflows/SCENARIO/instances";

function call(path: string, init: RequestInit & { token?: string | null } = {}) {
	const { token = TOKEN, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (token !== null) headers.set("authorization", `Bearer ${token}`);
	if (rest.body !== undefined) headers.set("content-type", "application/json");
	return SELF.fetch(path.startsWith("http") ? path : `${BASE}${path}`, { ...rest, headers });
}

async function ok(path: string, init?: RequestInit & { token?: string | null }) {
	const response = await call(path, init);
	const body = response.status === 204 ? null : await response.json();
	return { status: response.status, body: body as Record<string, unknown> & { error?: unknown } };
}

const post = (body?: unknown) => ({
	method: "POST",
	...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

describe("mounting", () => {
	it("refuses an admin option that is not adminApi()'s, saying what to pass", () => {
		const mount = (admin: unknown) => () =>
			withWorkflows({ SCENARIO: ScenarioEngine }, {}, { admin: admin as never });
		for (const admin of [true, { path: "/ops" }, "yes"]) {
			expect(mount(admin)).toThrow(WorkflowValidationError);
			expect(mount(admin)).toThrow('must be adminApi() from "do-workflows/ops"');
		}
	});

	it("refuses adminApi options that break a limit, naming it", () => {
		expect(() => adminApi({ path: "ops" })).toThrow(
			"admin path must start with / and not end with /",
		);
		expect(() => adminApi({ tokenSecret: "" })).toThrow(WorkflowValidationError);
		expect(() => adminApi({ port: 1 } as never)).toThrow(WorkflowValidationError);
	});
});

describe("authentication", () => {
	const routes: [string, RequestInit][] = [
		["http://worker/__workflows/api/workflows", {}],
		["", {}],
		["", post({ params: {} })],
		["/some-id", {}],
		["/some-id/history", {}],
		["/some-id/pause", post()],
		["/some-id/resume", post()],
		["/some-id/terminate", post()],
		["/some-id/restart", post()],
		["/some-id/events", post({ type: "x" })],
		["/some-id", { method: "DELETE" }],
		["http://worker/__workflows/api/anything", {}],
	];

	it.for([
		["no token", null],
		["a wrong token", "nope"],
		["an empty token", ""],
	] as const)("answers 401 with %s on every route, revealing nothing", async ([, token]) => {
		for (const [path, init] of routes) {
			const response = await call(path, { ...init, token });
			expect(response.status, path).toBe(401);
			expect(await response.json()).toEqual({
				error: { name: "Unauthorized", message: "a valid bearer token is required" },
			});
		}
		// Nothing was created by the refused POST.
		const { body } = await ok("?limit=100");
		expect((body.instances as { id: string }[]).map((i) => i.id)).not.toContain("some-id");
	});

	it("takes the Bearer scheme in any case (RFC 7235), and only that scheme", async () => {
		for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
			const response = await call("http://worker/__workflows/api/workflows", {
				token: null,
				headers: { authorization: `${scheme} ${TOKEN}` },
			});
			expect(response.status, scheme).toBe(200);
			await response.body?.cancel();
		}
		for (const header of [
			`Basic ${TOKEN}`,
			`Bearer${TOKEN}`,
			TOKEN,
			`Bearer ${TOKEN.toUpperCase()}`,
		]) {
			const response = await call("http://worker/__workflows/api/workflows", {
				token: null,
				headers: { authorization: header },
			});
			expect(response.status, header).toBe(401);
			await response.body?.cancel();
		}
	});

	it("answers 401 when the token secret is not set at all", async () => {
		const handler = adminHandler({ SCENARIO: ScenarioEngine }, {}, () => scenarioWorkflow);
		const response = await handler(
			new Request("http://worker/__workflows/api/workflows", {
				headers: { authorization: "Bearer undefined" },
			}),
			{},
		);
		expect(response?.status).toBe(401);
	});

	it("serves the dashboard shell, which holds no data, and leaves other paths to the Worker", async () => {
		const page = await SELF.fetch("http://worker/__workflows");
		expect(page.status).toBe(200);
		expect(page.headers.get("content-type")).toContain("text/html");
		const html = await page.text();
		// The page's one script runs by its hash; no inline script is allowed as such.
		const policy = page.headers.get("content-security-policy") ?? "";
		expect(policy).toContain("default-src 'none'");
		const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? "");
		expect(scripts).toHaveLength(1);
		const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(scripts[0]));
		const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
		const scriptSrc = policy.split(";").find((d) => d.trim().startsWith("script-src"));
		expect(scriptSrc?.trim()).toBe(`script-src 'sha256-${hash}'`);
		// The same policy on every page (the hash is computed once).
		const again = await SELF.fetch("http://worker/__workflows");
		expect(again.headers.get("content-security-policy")).toBe(policy);
		await again.body?.cancel();
		expect(html).toContain("Admin token");
		expect(html).not.toContain(TOKEN);
		const other = await SELF.fetch("http://worker/not-admin");
		expect(await other.json()).toHaveProperty("id");
	});
});

describe("the admin header", () => {
	it("marks every answer of the API and dashboard, and none of the Worker's own", async () => {
		const id = uniqueId("admin-header");
		const answers = [
			await SELF.fetch("http://worker/__workflows"),
			await call("http://worker/__workflows/api/workflows", { token: null }),
			await call("http://worker/__workflows/api/workflows"),
			await call("", post({ id, params: { scenario: "basic" } })),
			await call("", post({ id, params: { scenario: "basic" } })),
			await call("?limit=1000"),
			await call("/x/unknown", post()),
			await call("", { method: "PUT" }),
			await call(`/${id}`, { method: "DELETE" }),
		];
		expect(answers.map((response) => response.status)).toEqual([
			200, 401, 200, 201, 409, 400, 404, 405, 204,
		]);
		for (const response of answers) {
			expect(response.headers.get("x-do-workflows-admin"), String(response.status)).toBe("1");
			await response.body?.cancel();
		}
		const own = await SELF.fetch("http://worker/not-admin");
		expect(own.headers.has("x-do-workflows-admin")).toBe(false);
		await own.body?.cancel();
	});

	it("answers a fault with a 500 of its own, not the runtime's", async () => {
		const logged = vi.spyOn(console, "error").mockImplementation(() => {});
		onTestFinished(() => logged.mockRestore());
		const handler = adminHandler({ SCENARIO: ScenarioEngine }, {}, () => {
			throw new TypeError("the binding broke");
		});
		const response = await handler(
			new Request("http://worker/__workflows/api/workflows/SCENARIO/instances", {
				headers: { authorization: `Bearer ${TOKEN}` },
			}),
			{ WORKFLOWS_ADMIN_TOKEN: TOKEN },
		);
		expect(response?.status).toBe(500);
		expect(response?.headers.get("x-do-workflows-admin")).toBe("1");
		expect(await response?.json()).toEqual({
			error: { name: "TypeError", message: "the binding broke" },
		});
		// The fault is still in the Worker's log.
		expect(logged).toHaveBeenCalledWith("do-workflows admin API:", expect.any(TypeError));
	});
});

describe("routes", () => {
	it("lists the workflows", async () => {
		const { status, body } = await ok("http://worker/__workflows/api/workflows");
		expect(status).toBe(200);
		expect(body.workflows).toEqual([
			{ binding: "SCENARIO", name: "scenario" },
			{ binding: "LIMITED", name: "limited" },
			{ binding: "THROTTLED", name: "throttled" },
			{ binding: "WIDE_THROTTLED", name: "wide-throttled" },
			{ binding: "SCHEDULED", name: "scheduled" },
		]);
	});

	it("creates, describes, lists, exports history, and deletes", async () => {
		const since = Date.now();
		const id = uniqueId("admin");
		const created = await ok("", post({ id, params: { scenario: "basic" } }));
		expect(created.status).toBe(201);
		expect(created.body.id).toBe(id);
		expect((await ok("", post({ id, params: { scenario: "basic" } }))).status).toBe(409);
		await waitForStatus(await scenarioWorkflow.get(id), "complete");

		const described = await ok(`/${id}`);
		expect(described.body).toEqual({ id, status: "complete", output: { a: 1, b: 2 } });
		await expect
			.poll(async () => {
				const { body } = await ok("?status=complete&limit=100");
				return (body.instances as { id: string }[]).some((i) => i.id === id);
			})
			.toBe(true);
		// An empty status filter (a form's "any status") is no filter.
		for (const status of ["", ","]) {
			const { status: code, body } = await ok(`?status=${status}&createdAfter=${since}`);
			expect(code).toBe(200);
			expect((body.instances as { id: string }[]).map((i) => i.id)).toContain(id);
		}
		const history = await ok(`/${id}/history`);
		expect(history.body).toMatchObject({ id, status: "complete" });
		expect((history.body.steps as { name: string }[]).map((s) => s.name)).toEqual([
			"first",
			"second",
		]);

		expect((await ok(`/${id}`, { method: "DELETE" })).status).toBe(204);
		expect((await ok(`/${id}`)).status).toBe(404);
	});

	it("pages the history of 40 steps of 1 MB each, and serves each step's output on its own", async () => {
		// 40 MB of outputs, each within the limit: more than one answer of the engine holds (32 MiB).
		const id = uniqueId("admin-large");
		await ok("", post({ id, params: { scenario: "largeHistory", count: 40, bytes: 1_000_000 } }));
		await waitForResult(scenarioWorkflow, id, { timeout: 60_000 });
		const part = (i: number) => `${i}:`.padEnd(1_000_000, "x");

		const history = await ok(`/${id}/history`);
		expect(history.status).toBe(200);
		const steps = history.body.steps as {
			name: string;
			index: number;
			outputOmitted?: { bytes: number };
		}[];
		expect(steps).toHaveLength(40);
		for (const [i, step] of steps.entries()) {
			expect(step).toMatchObject({ name: "part", index: i + 1 });
			expect(step).not.toHaveProperty("output");
			expect(step.outputOmitted?.bytes).toBeGreaterThan(1_000_000);
		}
		expect(history.body).not.toHaveProperty("cursor");

		// Pages with the outputs: each within the page's budget, the cursor leading on.
		let seen = 0;
		let cursor: string | undefined;
		do {
			const query = new URLSearchParams({ limit: "1000", maxValueBytes: String(2 * 1024 * 1024) });
			if (cursor) query.set("cursor", cursor);
			const page = await ok(`/${id}/history?${query}`);
			expect(page.status).toBe(200);
			const outputs = (page.body.steps as { output?: string }[]).map((step) => step.output);
			expect(outputs.length).toBeGreaterThan(0);
			expect(outputs.length).toBeLessThanOrEqual(8);
			for (const output of outputs) expect(output === part(++seen), `part #${seen}`).toBe(true);
			cursor = page.body.cursor as string | undefined;
		} while (cursor);
		expect(seen).toBe(40);

		const step = await ok(`/${id}/steps/do/part/40`);
		expect(step.status).toBe(200);
		expect(step.body).toMatchObject({ type: "do", name: "part", index: 40, state: "complete" });
		expect(step.body.output === part(40)).toBe(true);
		expect((await ok(`/${id}/steps/do/part/41`)).status).toBe(404);
		expect((await ok(`/${id}/steps/do/nothing/1`)).body).toEqual({
			error: { name: "NotFound", message: `instance "${id}" has no step do "nothing" #1` },
		});
		for (const path of [
			`/${id}/steps/do/part/0`,
			`/${id}/steps/do/part/x`,
			`/${id}/steps/dance/part/1`,
			`/${id}/history?limit=0`,
			`/${id}/history?limit=1001`,
			`/${id}/history?maxValueBytes=-1`,
			`/${id}/history?cursor=nonsense`,
			`/${id}/history?bogus=1`,
		]) {
			expect((await ok(path)).status, path).toBe(400);
		}
		expect((await ok(`/${uniqueId("nope")}/steps/do/part/1`)).status).toBe(404);
	});

	it("pauses, resumes, sends an event, terminates and restarts", async () => {
		const id = uniqueId("admin-control");
		await ok("", post({ id, params: { scenario: "waitEvent" } }));
		const instance = await scenarioWorkflow.get(id);
		await waitForStatus(instance, "waiting");
		expect((await ok(`/${id}/pause`, post())).body.status).toBe("paused");
		expect((await ok(`/${id}/resume`, post())).status).toBe(200);
		await waitForStatus(instance, "waiting");
		const sent = await ok(`/${id}/events`, post({ type: "approval", payload: { approved: true } }));
		expect(sent.status).toBe(200);
		await waitForStatus(instance, "complete");
		expect((await ok(`/${id}/terminate`, post())).status).toBe(409);
		expect((await ok(`/${id}/restart`, post())).status).toBe(200);
		await waitForStatus(instance, "waiting");
		const terminated = await ok(`/${id}/terminate`, post());
		expect(terminated.body).toEqual({ id, status: "terminated" });
	});

	it("creates without params and sends an event without payload, as documented", async () => {
		const id = uniqueId("admin-optional");
		const created = await ok("", post({ id }));
		expect(created.status).toBe(201);
		expect(created.body.id).toBe(id);
		const waiting = uniqueId("admin-optional-event");
		await ok("", post({ id: waiting, params: { scenario: "waitEvent" } }));
		const instance = await scenarioWorkflow.get(waiting);
		await waitForStatus(instance, "waiting");
		expect((await ok(`/${waiting}/events`, post({ type: "approval" }))).status).toBe(200);
		const done = await waitForStatus(instance, "complete");
		expect(done.output).toMatchObject({ type: "approval", payload: undefined });
	});

	it("restarts from a step", async () => {
		const id = uniqueId("admin-restart");
		await ok("", post({ id, params: { scenario: "sleep", duration: "1 day" } }));
		const instance = await scenarioWorkflow.get(id);
		await waitForStatus(instance, "waiting");
		await fastForward(instance, "waiting");
		await waitForStatus(instance, "complete");
		const restarted = await ok(`/${id}/restart`, post({ from: { name: "after" } }));
		expect(restarted.status).toBe(200);
		expect((await ok(`/${id}/restart`, post({ from: { name: "missing" } }))).status).toBe(409);
	});

	it("refuses bad input with 400 and a typed error naming the problem", async () => {
		const cases: [string, RequestInit, RegExp][] = [
			["", { method: "POST", body: "{not json" }, /create body must be JSON/],
			["", post({ id: "bad id!" }), /instance id must match/],
			["", post({ params: {}, extra: 1 }), /create body/],
			["?status=done", {}, /status/],
			["?limit=1000", {}, /limit must be at most 100/],
			["?cursor=zzz", {}, /cursor is not one/],
			["?createdAfter=yesterday", {}, /createdAfter/],
			["/bad id!", {}, /instance id must match/],
			["/%E0%A4%A", {}, /malformed percent-escape/],
			["/x/events", post({ payload: 1 }), /event body/],
			["/x/restart", post({ from: { name: 5 } }), /restart body/],
		];
		for (const [path, init, message] of cases) {
			const { status, body } = await ok(path, init);
			expect(status, path).toBe(400);
			expect(body.error, path).toMatchObject({ name: "WorkflowValidationError" });
			expect((body.error as { message: string }).message, path).toMatch(message);
		}
	});

	it("answers 404 for unknown ids, bindings and routes, and 405 for wrong methods", async () => {
		expect((await ok(`/${uniqueId("nope")}`)).status).toBe(404);
		expect((await ok(`/${uniqueId("nope")}/pause`, post())).status).toBe(404);
		expect((await ok("http://worker/__workflows/api/workflows/NOPE/instances")).status).toBe(404);
		expect((await ok("/x/unknown", post())).status).toBe(404);
		expect((await ok("/x/history/more")).status).toBe(404);
		expect((await ok("", { method: "PUT" })).status).toBe(405);
		expect((await ok("/x/pause")).status).toBe(405);
	});
});
