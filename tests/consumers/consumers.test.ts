/// <reference types="node" />
/**
 * The consumer matrix: the package as users get it. `npm pack` builds and packs it; the tarball is
 * installed (with npm, from the registry for everything else) into small fixture apps, each
 * type-checked with TypeScript 5.9 and 7 under the tsconfig `npm create cloudflare` writes, with
 * @cloudflare/workers-types 4 or 5 or with the Env and runtime types `wrangler types` generates.
 * The ported C3 hello-world-workflows app also runs under `wrangler dev`, and so does a Worker that
 * starts the workflows another Worker hosts (script_name), beside that Worker.
 *
 * Installs are kept in the system temp directory, keyed by the tarball's hash and the versions
 * below, so a second run with an unchanged package reuses them.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
	cpSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	renameSync,
	rmSync,
	statSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { devServerForFile, ROOT, waitFor } from "../e2e/wrangler";

const run = promisify(execFile);

/** What each install holds besides do-workflows and TypeScript 5.9. */
const PROFILES = {
	"wrangler-types": {},
	"workers-types-5": { "@cloudflare/workers-types": "5.20261117.1" },
	"workers-types-4": { "@cloudflare/workers-types": "4.20260702.1" },
} satisfies Record<string, Record<string, string>>;
type Profile = keyof typeof PROFILES;

const TYPESCRIPT_5 = "5.9.3";

/**
 * TypeScript 5.9 comes with each install, and checks the C3 tsconfig as it is. TypeScript 7 (the
 * repository's own) has removed the `moduleResolution: "node"` that C3 writes (TS5108), so it
 * checks the same tsconfig with the one change TypeScript 7 itself asks for: "bundler".
 */
const COMPILERS = {
	"TypeScript 5.9": {
		tsc: (install: string) => join(install, "node_modules", "typescript", "bin", "tsc"),
		tsconfig: "tsconfig.json",
	},
	"TypeScript 7": {
		tsc: (_install: string) => join(ROOT, "node_modules", "typescript", "bin", "tsc"),
		tsconfig: "tsconfig.ts7.json",
	},
};

const CASES: { fixture: string; profile: Profile }[] = [
	{ fixture: "hello-workflows", profile: "wrangler-types" },
	{ fixture: "entrypoint-class", profile: "wrangler-types" },
	{ fixture: "cross-script", profile: "wrangler-types" },
	{ fixture: "orders-worker", profile: "wrangler-types" },
	{ fixture: "own-env", profile: "workers-types-5" },
	{ fixture: "own-env", profile: "workers-types-4" },
];

const FIXTURES = join(ROOT, "tests", "consumers", "fixtures");
const WORK = join(tmpdir(), "do-workflows-consumers");
const QUIET_ENV = {
	...process.env,
	CI: "true",
	WRANGLER_SEND_METRICS: "false",
	WRANGLER_HIDE_BANNER: "true",
	NO_COLOR: "1",
	FORCE_COLOR: "0",
	npm_config_audit: "false",
	npm_config_fund: "false",
	npm_config_update_notifier: "false",
};

/** Runs a command to its end; its exit code and everything it printed. */
async function command(file: string, args: string[], cwd: string, timeoutMs = 240_000) {
	try {
		const { stdout, stderr } = await run(file, args, {
			cwd,
			env: QUIET_ENV,
			timeout: timeoutMs,
			maxBuffer: 16 * 1024 * 1024,
		});
		return { code: 0, output: `${stdout}${stderr}`, stdout };
	} catch (error) {
		const failed = error as { code?: number; stdout?: string; stderr?: string; message: string };
		const output = `${failed.stdout ?? ""}${failed.stderr ?? ""}` || failed.message;
		return { code: typeof failed.code === "number" ? failed.code : 1, output, stdout: "" };
	}
}

async function must(file: string, args: string[], cwd: string): Promise<string> {
	const result = await command(file, args, cwd);
	if (result.code !== 0) {
		throw new Error(
			`${file} ${args.join(" ")} (in ${cwd}) exited ${result.code}:\n${result.output}`,
		);
	}
	return result.stdout;
}

const installs = new Map<Profile, string>();

beforeAll(async () => {
	mkdirSync(WORK, { recursive: true });
	// `npm pack` runs prepack (the build), so the tarball is what `npm publish` would upload. Its
	// --json answer is the last thing it prints, after the build's own output. Each run packs into
	// a directory of its own, so runs side by side do not overwrite each other's tarball.
	const packDir = mkdtempSync(join(WORK, "pack-"));
	const printed = await must(
		"npm",
		["pack", "--json", "--pack-destination", packDir, "--loglevel=error"],
		ROOT,
	);
	const packed = JSON.parse(printed.slice(printed.search(/^\[/m))) as { filename: string }[];
	const packedFile = join(packDir, packed[0]?.filename ?? "missing.tgz");
	const key = createHash("sha256")
		.update(readFileSync(packedFile))
		.update(JSON.stringify([PROFILES, TYPESCRIPT_5]))
		.digest("hex")
		.slice(0, 16);
	// Installs of earlier versions of the package (over an hour old) are removed, not kept forever.
	for (const entry of readdirSync(WORK)) {
		const dir = join(WORK, entry);
		if (entry !== key && Date.now() - statSync(dir).mtimeMs > 3_600_000) {
			rmSync(dir, { recursive: true, force: true });
		}
	}
	mkdirSync(join(WORK, key), { recursive: true });
	const tarball = join(WORK, key, "do-workflows.tgz");
	if (!existsSync(tarball)) renameSync(packedFile, tarball);
	rmSync(packDir, { recursive: true, force: true });
	await Promise.all(
		(Object.keys(PROFILES) as Profile[]).map(async (profile) => {
			const dir = join(WORK, key, profile);
			const stamp = join(dir, ".installed");
			if (!existsSync(stamp)) {
				rmSync(dir, { recursive: true, force: true });
				mkdirSync(dir, { recursive: true });
				writeFileSync(
					join(dir, "package.json"),
					JSON.stringify({
						name: `consumer-${profile}`,
						private: true,
						type: "module",
						dependencies: {
							"do-workflows": `file:${tarball}`,
							typescript: TYPESCRIPT_5,
							...PROFILES[profile],
						},
					}),
				);
				await must(
					"npm",
					["install", "--prefer-offline", "--no-package-lock", "--loglevel=error"],
					dir,
				);
				writeFileSync(stamp, new Date().toISOString());
			}
			installs.set(profile, dir);
		}),
	);
	// Fresh copies of the fixtures; those on wrangler's generated types get them generated.
	await Promise.all(
		CASES.map(async ({ fixture, profile }) => {
			const install = installs.get(profile) as string;
			const target = join(install, fixture);
			rmSync(target, { recursive: true, force: true });
			cpSync(join(FIXTURES, fixture), target, { recursive: true });
			cpSync(join(FIXTURES, "tsconfig.c3.json"), join(install, "tsconfig.c3.json"));
			writeFileSync(
				join(target, "tsconfig.ts7.json"),
				JSON.stringify({
					extends: "./tsconfig.json",
					compilerOptions: { moduleResolution: "bundler" },
				}),
			);
			if (profile === "wrangler-types") {
				await must(
					process.execPath,
					[join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "types"],
					target,
				);
			}
		}),
	);
}, 600_000);

describe("the packed package in users' projects", () => {
	it("ships built JavaScript, declarations and source maps, not the docs' images", async () => {
		const install = installs.get("workers-types-5") as string;
		const pkg = join(install, "node_modules", "do-workflows");
		for (const file of [
			"dist/index.js",
			"dist/index.d.ts",
			"dist/index.js.map",
			"dist/testing/index.d.ts",
		]) {
			expect(existsSync(join(pkg, file)), file).toBe(true);
		}
		expect(existsSync(join(pkg, "docs", "images"))).toBe(false);
		// ES2022 JavaScript: no TypeScript left in what runs.
		expect(readFileSync(join(pkg, "dist", "index.js"), "utf8")).not.toMatch(/^import type /m);
	});

	describe.for(CASES)("$fixture with $profile", ({ fixture, profile }) => {
		it.for(Object.keys(COMPILERS) as (keyof typeof COMPILERS)[])(
			"type-checks with %s and the C3 tsconfig",
			async (compiler) => {
				const install = installs.get(profile) as string;
				const { tsc, tsconfig } = COMPILERS[compiler];
				const project = join(install, fixture, tsconfig);
				const result = await command(process.execPath, [tsc(install), "-p", project], install);
				expect(result.output.trim(), `${compiler} on ${fixture}`).toBe("");
				expect(result.code).toBe(0);
			},
		);
	});
});

/** An install's fixture, by path (the installs are made by the file's first beforeAll). */
function fixturePath(profile: Profile, ...path: string[]): string {
	return join(installs.get(profile) as string, ...path);
}

describe("the ported C3 hello-world-workflows app under wrangler dev", () => {
	const dev = devServerForFile("consumer", () => ({
		config: fixturePath("wrangler-types", "hello-workflows", "wrangler.jsonc"),
	}));

	it("creates an instance, reports it waiting for its event, and completes it", async () => {
		const server = dev();
		const created = (await (await server.fetch("/", { method: "POST" })).json()) as { id: string };
		const status = async () => {
			const answer = await server.fetch(`/?instanceId=${created.id}`);
			return ((await answer.json()) as { status: { status: string; output?: unknown } }).status;
		};
		await waitFor(status, (s) => s.status === "waiting", {
			timeoutMs: 60_000,
			what: "the instance to wait for its approval event",
		});
		await server.fetch(`/?approve=${created.id}`, { method: "POST" });
		const done = await waitFor(status, (s) => s.status === "complete", {
			timeoutMs: 60_000,
			what: "the instance to complete",
			context: () => server.report(),
		});
		expect(done.output).toEqual({ files: 2, approved: true });
	});
});

describe("a Worker starting the workflows another Worker hosts, under wrangler dev", () => {
	const dev = devServerForFile("consumer-cross", () => ({
		config: fixturePath("wrangler-types", "cross-script", "wrangler.jsonc"),
		moreConfigs: [fixturePath("wrangler-types", "orders-worker", "wrangler.jsonc")],
	}));

	it("creates an instance through the script_name binding and sees it complete there", async () => {
		const server = dev();
		const created = (await (await server.fetch("/?order=42")).json()) as { id: string };
		const done = await waitFor(
			async () =>
				(await (await server.fetch(`/?id=${created.id}`)).json()) as {
					status: string;
					output?: unknown;
				},
			(status) => status.status === "complete",
			{
				timeoutMs: 60_000,
				what: "the remote instance to complete",
				context: () => server.report(),
			},
		);
		// The output comes from the workflow the other Worker hosts.
		expect(done.output).toEqual({ confirmation: "confirmed 42", workflow: "orders" });
	});
});
