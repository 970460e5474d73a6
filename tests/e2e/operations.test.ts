/// <reference types="node" />
/**
 * Operating the example Worker under `wrangler dev`: the admin API over real HTTP (nothing without
 * the token), the `do-workflows` CLI (bin/do-workflows.mjs, run as a user runs it), and the
 * dashboard in a real headless Chromium (Debian's, driven by playwright-core): load the page, see
 * the instances, open one, press Pause and see the status change.
 *
 * With UPDATE_SCREENSHOTS=1 the browser test writes docs/images/dashboard*.png.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { order, pollStatus, postOrder } from "./orders";
import { devServerForFile, ROOT } from "./wrangler";

const TOKEN = "e2e-admin-token";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS =
	process.env.UPDATE_SCREENSHOTS === "1" ? join(ROOT, "docs", "images") : undefined;

const dev = devServerForFile("operations", { vars: { WORKFLOWS_ADMIN_TOKEN: TOKEN } });

/** Runs the CLI as `npx do-workflows` would: node, the bin file, arguments. */
async function cli(args: string[], env: Record<string, string> = {}) {
	try {
		const { stdout, stderr } = await promisify(execFile)(
			process.execPath,
			[join(ROOT, "bin", "do-workflows.mjs"), ...args],
			{
				env: { PATH: process.env.PATH ?? "", DO_WORKFLOWS_URL: dev().url, ...env },
				timeout: 30_000,
			},
		);
		return { code: 0, stdout, stderr };
	} catch (error) {
		const failed = error as { code?: number; stdout?: string; stderr?: string };
		return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
	}
}

const withToken = { WORKFLOWS_ADMIN_TOKEN: TOKEN };

describe("the admin API over HTTP", () => {
	it("answers 401 to every request without the right token, revealing nothing", async () => {
		for (const [path, init] of [
			["/__workflows/api/workflows", {}],
			["/__workflows/api/workflows/ORDER_WORKFLOW/instances", {}],
			["/__workflows/api/workflows/ORDER_WORKFLOW/instances", { method: "POST", body: "{}" }],
			["/__workflows/api/workflows/ORDER_WORKFLOW/instances/x/pause", { method: "POST" }],
		] as const) {
			for (const authorization of [undefined, "Bearer wrong", `Basic ${TOKEN}`]) {
				const response = await dev().fetch(path, {
					...init,
					headers: authorization ? { authorization } : {},
				});
				expect(response.status, `${path} ${authorization}`).toBe(401);
				expect(await response.text()).not.toContain("ORDER");
			}
		}
	});
});

describe("the CLI", () => {
	it("lists, describes, shows history and controls instances", async () => {
		const id = `cli-${Date.now()}`;
		expect((await postOrder(dev(), order(id, { shippingDelay: "1 hour" }))).status).toBe(201);
		await pollStatus(dev(), id, "waiting");

		const workflows = await cli(["workflows"], withToken);
		expect(workflows.stdout).toMatch(/ORDER_WORKFLOW\s+order-workflow/);

		await expect
			.poll(async () => (await cli(["list", "--status", "waiting"], withToken)).stdout, {
				timeout: 10_000,
			})
			.toContain(id);
		const listed = await cli(["list", "--json", "--limit", "5"], withToken);
		expect(listed.code, listed.stderr).toBe(0);
		expect(JSON.parse(listed.stdout).instances.map((i: { id: string }) => i.id)).toContain(id);

		const described = await cli(["describe", id], withToken);
		expect(described.stdout).toContain(`${id}  waiting`);
		const history = await cli(["history", id], withToken);
		expect(history.stdout).toMatch(/validate order\s+do\s+complete\s+1/);
		expect(history.stdout).toMatch(/wait before shipping\s+sleep\s+sleeping/);
		const step = await cli(["step", id, "validate order"], withToken);
		expect(step.code, step.stderr).toBe(0);
		expect(step.stdout).toMatch(/^validate order\s+do\s+complete\s+1/m);
		expect(step.stdout).toMatch(/^output: /m);

		expect((await cli(["pause", id], withToken)).stdout).toContain(`${id}  paused`);
		expect((await cli(["resume", id], withToken)).code).toBe(0);
		await pollStatus(dev(), id, "waiting");
		expect((await cli(["terminate", id], withToken)).stdout).toContain(`${id}  terminated`);
		const again = await cli(["terminate", id], withToken);
		expect(again.code).toBe(1);
		expect(again.stderr).toContain("InvalidStateError");
		expect((await cli(["restart", id], withToken)).code).toBe(0);
		await pollStatus(dev(), id, "waiting");
		await cli(["terminate", id], withToken);
	});

	it("creates an instance and sends it an event", async () => {
		const id = `cli-review-${Date.now()}`;
		const params = JSON.stringify({
			items: [{ sku: "tea", quantity: 1, unitPrice: 5 }],
			email: "cli@example.com",
			requireReview: true,
			shippingDelay: "1 second",
		});
		const created = await cli(["create", "--id", id, "--params", params], withToken);
		expect(created.code, created.stderr).toBe(0);
		await pollStatus(dev(), id, "waiting");
		const sent = await cli(
			["send-event", id, "--type", "fraud-review", "--payload", '{"approved":true}'],
			withToken,
		);
		expect(sent.code, sent.stderr).toBe(0);
		await pollStatus(dev(), id, "complete");
	});

	it("fails clearly without a token, with a wrong one, and on bad usage", async () => {
		const missing = await cli(["list"]);
		expect(missing.code).toBe(2);
		expect(missing.stderr).toContain("no admin token");
		const wrong = await cli(["list", "--token", "wrong"]);
		expect(wrong.code).toBe(1);
		expect(wrong.stderr).toContain("Unauthorized");
		const usage = await cli(["describe"], withToken);
		expect(usage.code).toBe(2);
		expect(usage.stderr).toContain("describe needs an instance id");
		expect((await cli(["frobnicate"], withToken)).code).toBe(2);
		// Usage is checked before any request: the same answer with no Worker to ask.
		const offline = { ...withToken, DO_WORKFLOWS_URL: "http://127.0.0.1:9" };
		expect((await cli(["frobnicate"], offline)).code).toBe(2);
		expect((await cli(["list", "--bogus"], offline)).code).toBe(2);
		expect((await cli(["pause"], offline)).stderr).toContain("pause needs an instance id");
		expect((await cli(["create", "--params", "{oops"], withToken)).stderr).toContain(
			"--params must be JSON",
		);
	});
});

describe("the dashboard in headless Chromium", () => {
	let browser: Browser | undefined;

	beforeAll(async () => {
		if (!existsSync(CHROMIUM)) {
			throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (see .ci/run)`);
		}
		browser = await chromium.launch({ executablePath: CHROMIUM });
	});

	afterAll(async () => {
		await browser?.close();
	});

	it("shows the instances, an instance's steps, pauses it, and creates one", async () => {
		if (!browser) throw new Error("no browser");
		const ids = [`dash-a-${Date.now()}`, `dash-b-${Date.now()}`];
		await postOrder(
			dev(),
			order(ids[0] as string, { paymentFailures: 1, shippingDelay: "1 hour" }),
		);
		await postOrder(dev(), order(ids[1] as string, { shippingDelay: "1 second" }));
		await pollStatus(dev(), ids[0] as string, "waiting");
		await pollStatus(dev(), ids[1] as string, "complete");

		const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
		const errors: string[] = [];
		page.on("pageerror", (error) => errors.push(error.message));
		await page.goto(`${dev().url}/__workflows`);
		// Without the token the page asks for it and shows nothing else.
		await expect.poll(() => page.locator("#login").isVisible()).toBe(true);
		expect(await page.locator("#app").isVisible()).toBe(false);
		await page.fill("#token", "wrong");
		await page.click("#login button[type=submit]");
		await expect.poll(() => page.textContent("#login-error")).toContain("not accepted");

		await page.fill("#token", TOKEN);
		await page.click("#login button[type=submit]");
		for (const id of ids) {
			await page.locator(`tr.instance[data-id="${id}"]`).waitFor({ timeout: 15_000 });
		}
		await page.click(`tr.instance[data-id="${ids[0]}"]`);
		await expect.poll(() => page.textContent("#detail-status")).toBe("waiting");
		// The timeline: a failed and a successful attempt of the charge, and the sleep.
		await expect.poll(() => page.locator('#timeline rect[data-kind="bad"]').count()).toBe(1);
		expect(await page.locator('#timeline rect[data-kind="ok"]').count()).toBe(2);
		expect(await page.locator('#timeline rect[data-kind="sleep"]').count()).toBe(1);
		// The retry delay between the two attempts is drawn too.
		expect(await page.locator('#timeline rect[data-kind="delay"]').count()).toBe(1);
		if (SCREENSHOTS) {
			mkdirSync(SCREENSHOTS, { recursive: true });
			await page.screenshot({ path: join(SCREENSHOTS, "dashboard.png") });
		}

		await page.click("#pause");
		await expect.poll(() => page.textContent("#detail-status")).toBe("paused");
		await pollStatus(dev(), ids[0] as string, "paused");
		await expect
			.poll(() => page.textContent(`tr.instance[data-id="${ids[0]}"] .badge`))
			.toBe("paused");

		// A new instance from the form: listed and opened; the same id again is refused, saying why.
		const created = `dash-new-${Date.now()}`;
		const { id: _, ...params } = order(created, { shippingDelay: "1 second" });
		await page.fill("#create-id", created);
		await page.fill("#create-params", JSON.stringify(params));
		await page.click("#create");
		await expect.poll(() => page.textContent("#detail-id")).toBe(created);
		await page.locator(`tr.instance[data-id="${created}"]`).waitFor({ timeout: 15_000 });
		await pollStatus(dev(), created, "complete");
		await page.fill("#create-id", created);
		await page.click("#create");
		await expect.poll(() => page.textContent("#create-message")).toContain("already exists");
		await page.fill("#create-params", "{oops");
		await page.click("#create");
		await expect.poll(() => page.textContent("#create-message")).toBe("the params must be JSON");

		// Usable on a phone: the same page at a phone's width.
		await page.setViewportSize({ width: 390, height: 844 });
		expect(await page.locator("#pause").isVisible()).toBe(true);
		if (SCREENSHOTS)
			await page.screenshot({ path: join(SCREENSHOTS, "dashboard-phone.png"), fullPage: true });
		expect(errors).toEqual([]);
		await page.close();
	});

	it("acts only on the instance it shows, and says when one cannot be opened", async () => {
		if (!browser) throw new Error("no browser");
		const [shown, broken] = [`dash-shown-${Date.now()}`, `dash-broken-${Date.now()}`];
		for (const id of [shown, broken])
			await postOrder(dev(), order(id, { shippingDelay: "1 hour" }));
		for (const id of [shown, broken]) await pollStatus(dev(), id, "waiting");

		const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
		const errors: string[] = [];
		page.on("pageerror", (error) => errors.push(error.message));
		// The history of `broken` cannot be loaded (as when its object fails, or the network does).
		await page.route(
			(url) => url.pathname.endsWith(`/instances/${broken}/history`),
			(route) =>
				route.fulfill({
					status: 500,
					contentType: "application/json",
					headers: { "x-do-workflows-admin": "1" },
					body: JSON.stringify({ error: { name: "Error", message: "history unavailable" } }),
				}),
		);
		await page.goto(`${dev().url}/__workflows`);
		await page.fill("#token", TOKEN);
		await page.click("#login button[type=submit]");
		for (const id of [shown, broken]) {
			await page.locator(`tr.instance[data-id="${id}"]`).waitFor({ timeout: 15_000 });
		}
		await page.click(`tr.instance[data-id="${shown}"]`);
		await expect.poll(() => page.textContent("#detail-id")).toBe(shown);
		await expect.poll(() => page.locator("#terminate").isEnabled()).toBe(true);

		// The click on `broken` fails to load: the panel says so and no longer shows `shown`, so
		// no button can act on an instance other than the one on screen.
		await page.click(`tr.instance[data-id="${broken}"]`);
		await expect
			.poll(() => page.textContent("#load-error"))
			.toBe(`Could not open ${broken}: Error: history unavailable`);
		expect(await page.locator("#load-error").isVisible()).toBe(true);
		expect(await page.locator("#detail").isVisible()).toBe(false);
		expect(await page.locator("#terminate").isVisible()).toBe(false);
		expect(await page.locator("tr.instance.selected").count()).toBe(0);

		// Opened again, `shown` is what Terminate acts on; `broken` is untouched.
		await page.click(`tr.instance[data-id="${shown}"]`);
		await expect.poll(() => page.locator("#detail").isVisible()).toBe(true);
		expect(await page.textContent("#detail-id")).toBe(shown);
		expect(await page.locator("#load-error").isVisible()).toBe(false);
		await expect.poll(() => page.locator("#terminate").isEnabled()).toBe(true);
		await page.click("#terminate");
		await expect.poll(() => page.textContent("#detail-status")).toBe("terminated");
		await pollStatus(dev(), shown, "terminated");
		expect((await cli(["describe", broken], withToken)).stdout).toContain(`${broken}  waiting`);
		expect(errors).toEqual([]);
		await page.close();
		await cli(["terminate", broken], withToken);
	});
});
