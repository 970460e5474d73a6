/// <reference types="node" />
/**
 * Helpers of the Node-driven end-to-end tests: run the real `wrangler` CLI from node_modules (the
 * way a user does), pick free ports, wait for readiness by polling, and stop wrangler by killing
 * its whole process group (wrangler, its node child, esbuild and every workerd), checking that no
 * process of the group or of its process tree survives.
 *
 * Everything here talks to 127.0.0.1 only. Wrangler's own outbound calls are switched off through
 * its environment: no metrics, no banner (whose update check queries the npm registry), and no
 * download of the `Request.cf` object.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { afterAll, beforeAll } from "vitest";

/** The repository root: the root wrangler.toml, node_modules/.bin/wrangler. */
export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const WRANGLER_BIN = join(ROOT, "node_modules", ".bin", "wrangler");

/** Never prompt, never phone home. */
const WRANGLER_ENV: Record<string, string> = {
	CI: "true",
	WRANGLER_SEND_METRICS: "false",
	WRANGLER_HIDE_BANNER: "true",
	CLOUDFLARE_CF_FETCH_ENABLED: "false",
	NO_COLOR: "1",
	FORCE_COLOR: "0",
};

const OUTPUT_LIMIT = 64 * 1024;

// Groups still running; killed synchronously if the test process exits without stopping them.
const liveGroups = new Set<number>();
process.once("exit", () => {
	for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
});

// ---- temp dirs and ports ----

/** A fresh, empty temporary directory. */
export function tempDir(label: string): string {
	return mkdtempSync(join(tmpdir(), `do-workflows-e2e-${label}-`));
}

export function removeDir(dir: string): void {
	rmSync(dir, { recursive: true, force: true });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
	return new Promise((resolvePort, reject) => {
		const server = createServer();
		server.unref();
		server.once("error", reject);
		server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
			const address = server.address();
			if (address === null || typeof address === "string") {
				server.close();
				reject(new Error(`unexpected server address: ${String(address)}`));
				return;
			}
			server.close(() => resolvePort(address.port));
		});
	});
}

// ---- polling ----

export interface WaitOptions {
	/** Give up after this long. */
	timeoutMs: number;
	/** Pause between probes. Default: 100 ms. */
	intervalMs?: number;
	/** What is being waited for, for the error message. */
	what: string;
	/** Extra context for the error message (e.g. wrangler's output), computed on failure. */
	context?: () => string;
}

/**
 * Probes until `done(value)` holds, and returns that value; a bounded loop, never a fixed sleep.
 * A probe that throws counts as "not yet" (the last error is reported on timeout); `done` may
 * throw to give up at once.
 */
export async function waitFor<T>(
	probe: () => Promise<T>,
	done: (value: T) => boolean,
	{ timeoutMs, intervalMs = 100, what, context }: WaitOptions,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: { value: T } | { error: unknown } | undefined;
	for (;;) {
		let probed: { value: T } | undefined;
		try {
			probed = { value: await probe() };
		} catch (error) {
			last = { error };
		}
		// Outside the try: `done` may throw to stop waiting at once.
		if (probed !== undefined) {
			if (done(probed.value)) return probed.value;
			last = probed;
		}
		if (Date.now() >= deadline) break;
		await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
	}
	const lastSeen =
		last === undefined
			? "nothing"
			: "value" in last
				? JSON.stringify(last.value)
				: String((last.error as Error)?.stack ?? last.error);
	throw new Error(
		`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${lastSeen}` +
			(context ? `\n${context()}` : ""),
	);
}

/** A pause between two probes of a bounded loop. */
export function delay(ms: number): Promise<void> {
	return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}

// ---- processes ----

interface ProcInfo {
	pid: number;
	ppid: number;
	pgid: number;
	state: string;
	name: string;
}

/** Every process on the machine, from /proc (Linux), or undefined where there is no /proc. */
function processTable(): ProcInfo[] | undefined {
	let entries: string[];
	try {
		entries = readdirSync("/proc");
	} catch {
		return undefined;
	}
	const table: ProcInfo[] = [];
	for (const entry of entries) {
		if (!/^\d+$/.test(entry)) continue;
		let stat: string;
		try {
			stat = readFileSync(`/proc/${entry}/stat`, "utf8");
		} catch {
			continue; // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
		const open = stat.indexOf("(");
		const close = stat.lastIndexOf(")");
		const [state = "?", ppid = "0", pgid = "0"] = stat
			.slice(close + 2)
			.split(" ")
			.slice(0, 3);
		table.push({
			pid: Number(entry),
			ppid: Number(ppid),
			pgid: Number(pgid),
			state,
			name: stat.slice(open + 1, close),
		});
	}
	return table;
}

/** A zombie has exited; it only waits to be reaped, by its parent or by init. */
const isLive = (proc: ProcInfo) => proc.state !== "Z" && proc.state !== "X";

/** Live processes of group `pgid` or of `pid`'s process tree ("pid name" strings). */
function survivors(pgid: number, tree: ReadonlySet<number>): string[] {
	const table = processTable();
	if (table === undefined) {
		// No /proc: signal 0 tells whether any process of the group exists.
		try {
			process.kill(-pgid, 0);
			return [`process group ${pgid}`];
		} catch {
			return [];
		}
	}
	return table
		.filter((proc) => isLive(proc) && (proc.pgid === pgid || tree.has(proc.pid)))
		.map((proc) => `${proc.pid} ${proc.name}`);
}

/** Live processes of group `pgid` ("pid name" strings); a zombie does not count. */
export function liveInGroup(pgid: number): string[] {
	return survivors(pgid, new Set());
}

/** `pid` and all its live descendants, from /proc (empty where there is no /proc). */
function processTree(pid: number): Set<number> {
	const table = processTable() ?? [];
	const tree = new Set<number>([pid]);
	for (let grew = true; grew; ) {
		grew = false;
		for (const proc of table) {
			if (isLive(proc) && tree.has(proc.ppid) && !tree.has(proc.pid)) {
				tree.add(proc.pid);
				grew = true;
			}
		}
	}
	return tree;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pgid, signal);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
	}
}

/** A process spawned in its own process group, with its output captured. */
class Spawned {
	readonly child: ChildProcess;
	readonly pgid: number;
	readonly description: string;
	readonly tmpdir: string;
	#output = "";
	#exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
	readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

	constructor(args: string[], cwd: string) {
		this.description = `wrangler ${args.join(" ")}`;
		// detached: the child leads a new process group (setsid), which its children inherit, so
		// one signal to -pgid reaches wrangler, its node child, esbuild and workerd.
		// Its own TMPDIR: miniflare leaves a directory there when it is killed, removed on stop.
		this.tmpdir = tempDir("tmp");
		this.child = spawn(WRANGLER_BIN, args, {
			cwd,
			detached: true,
			stdio: ["ignore", "pipe", "pipe"],
			env: { ...process.env, ...WRANGLER_ENV, TMPDIR: this.tmpdir },
		});
		const pid = this.child.pid;
		if (pid === undefined) throw new Error(`could not spawn ${this.description}`);
		this.pgid = pid;
		liveGroups.add(pid);
		const append = (chunk: Buffer) => {
			this.#output += chunk.toString("utf8");
			if (this.#output.length > OUTPUT_LIMIT) {
				this.#output = `[…]${this.#output.slice(-OUTPUT_LIMIT)}`;
			}
		};
		this.child.stdout?.on("data", append);
		this.child.stderr?.on("data", append);
		this.exited = new Promise((resolveExit) => {
			// "close", not "exit": it comes once the output pipes are drained too.
			this.child.once("close", (code, signal) => {
				this.#exit = { code, signal };
				resolveExit(this.#exit);
			});
			this.child.once("error", (error) => {
				append(Buffer.from(`\n[spawn error] ${error.stack ?? error.message}\n`));
				this.#exit ??= { code: null, signal: null };
				resolveExit(this.#exit);
			});
		});
	}

	get exitStatus() {
		return this.#exit;
	}

	/** Everything the process wrote so far (the last 64 KiB), for failure messages. */
	output(): string {
		// Some of wrangler's messages are coloured whatever NO_COLOR says.
		return stripVTControlCharacters(this.#output);
	}

	/** A report to append to a failure message. */
	report(): string {
		const exit = this.#exit
			? ` (exited: code ${this.#exit.code}, signal ${this.#exit.signal})`
			: " (running)";
		return `--- output of ${this.description}${exit} ---\n${this.output()}\n--- end of output ---`;
	}

	/**
	 * Sends `signal` to the whole process group and waits until neither the group nor the
	 * process tree has a live process left; escalates to SIGKILL after `graceMs`. Resolves to the
	 * time (Date.now()) just after `signal` was sent.
	 * @throws if some process still lives after the SIGKILL.
	 */
	async kill(signal: NodeJS.Signals, graceMs = 10_000): Promise<number> {
		// Processes that left the group (a daemonising child) are still in the tree.
		const tree = processTree(this.pgid);
		const gone = () => survivors(this.pgid, tree).length === 0;
		signalGroup(this.pgid, signal);
		const sentAt = Date.now();
		if (signal !== "SIGKILL") {
			const stopped = await waitFor(async () => gone(), Boolean, {
				timeoutMs: graceMs,
				what: "a graceful stop",
			}).catch(() => false);
			if (stopped) {
				await this.#stopped();
				return sentAt;
			}
			signalGroup(this.pgid, "SIGKILL");
			for (const pid of tree) signalPid(pid, "SIGKILL");
		}
		await waitFor(
			async () => survivors(this.pgid, tree),
			(left) => left.length === 0,
			{
				timeoutMs: 10_000,
				what: `every process of ${this.description} (group ${this.pgid}) to exit`,
				context: () => this.report(),
			},
		);
		await this.#stopped();
		return sentAt;
	}

	async #stopped(): Promise<void> {
		liveGroups.delete(this.pgid);
		// The group leader is our child: its close event comes once Node reaps it.
		await this.exited;
		removeDir(this.tmpdir);
	}
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(pid, signal);
	} catch {
		// already gone
	}
}

// ---- wrangler dev ----

export interface DevServerOptions {
	port: number;
	/** `--persist-to`: where local Durable Object storage lives across restarts. */
	persistTo: string;
	/** Wrangler config; default: the root wrangler.toml. */
	config?: string;
	/** More Workers in the same `wrangler dev` (a `--config` each), reachable by service and script_name bindings. */
	moreConfigs?: string[];
	/** How long to wait for the server to answer. Default: 90 s. */
	readyTimeoutMs?: number;
	/** `--var NAME:VALUE` for each entry (the admin token, say). */
	vars?: Record<string, string>;
}

/** A running `wrangler dev`. */
export class DevServer {
	readonly url: string;
	readonly #process: Spawned;

	private constructor(url: string, spawned: Spawned) {
		this.url = url;
		this.#process = spawned;
	}

	/**
	 * Starts `wrangler dev` on 127.0.0.1:`port` and resolves once `GET /` answers 200.
	 * @throws (after stopping it) if wrangler exits or does not answer in time.
	 */
	static async start(options: DevServerOptions): Promise<DevServer> {
		const { port, persistTo, config = join(ROOT, "wrangler.toml") } = options;
		const inspectorPort = await freePort();
		const spawned = new Spawned(
			[
				"dev",
				"--config",
				config,
				...(options.moreConfigs ?? []).flatMap((more) => ["--config", more]),
				"--ip",
				"127.0.0.1",
				"--port",
				String(port),
				"--inspector-port",
				String(inspectorPort),
				"--persist-to",
				persistTo,
				"--log-level",
				"info",
				...Object.entries(options.vars ?? {}).flatMap(([name, value]) => [
					"--var",
					`${name}:${value}`,
				]),
			],
			ROOT,
		);
		const server = new DevServer(`http://127.0.0.1:${port}`, spawned);
		try {
			await waitFor(
				async () => {
					try {
						const response = await fetch(`${server.url}/`, { signal: AbortSignal.timeout(2_000) });
						await response.arrayBuffer();
						return `HTTP ${response.status}`;
					} catch (error) {
						return String(error);
					}
				},
				(answer) => {
					if (answer === "HTTP 200") return true;
					if (spawned.exitStatus) throw new Error(`wrangler dev exited\n${spawned.report()}`);
					// A Worker that fails to build or load leaves wrangler dev up, waiting for an edit:
					// stop at its first error rather than at the timeout.
					if (/\[ERROR\]/.test(spawned.output())) {
						throw new Error(`wrangler dev reported an error\n${spawned.report()}`);
					}
					return false;
				},
				{
					timeoutMs: options.readyTimeoutMs ?? 90_000,
					intervalMs: 200,
					what: `wrangler dev to answer GET ${server.url}/ with 200`,
					context: () => spawned.report(),
				},
			);
		} catch (error) {
			await spawned.kill("SIGKILL");
			throw error;
		}
		return server;
	}

	/** wrangler's output so far, to put in failure messages. */
	report(): string {
		return this.#process.report();
	}

	/** wrangler's output so far (the last 64 KiB): its log of the requests it served, say. */
	output(): string {
		return this.#process.output();
	}

	get pgid(): number {
		return this.#process.pgid;
	}

	/** Stops wrangler gracefully (SIGTERM to the group, SIGKILL after 10 s); no process survives. */
	async stop(): Promise<void> {
		await this.#process.kill("SIGTERM");
	}

	/**
	 * Kills wrangler and workerd at once, as a crash or power cut would. Resolves, once no process
	 * is left, to the time (Date.now()) the SIGKILL was sent: nothing of the Worker ran after it,
	 * however long the processes then took to go.
	 */
	crash(): Promise<number> {
		return this.#process.kill("SIGKILL");
	}

	/** `fetch` of a path on this server, with a timeout. */
	fetch(path: string, init: RequestInit = {}): Promise<Response> {
		return fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000), ...init });
	}
}

// ---- wrangler dev's proxy ----

/**
 * What wrangler dev's proxy Worker answers when the user Worker was restarted (reloaded) while the
 * proxy forwarded it a request it does not retry by itself: any method but GET and HEAD, which it
 * retries. The answer is a 503 with `Retry-After: 0` and this text (ProxyWorker in
 * wrangler-dist). The request failed on its way to the Worker or while the Worker ran it: whether
 * it took effect, only the caller can find out.
 */
const RESTARTED_MID_REQUEST = "Your worker restarted mid-request.";

/**
 * Whether an answer is wrangler dev's "restarted mid-request" 503, not one from the Worker (the
 * test Workers never answer with that text).
 */
export function isRestartedMidRequest(status: number, headers: Headers, body: string): boolean {
	return (
		status === 503 && headers.get("retry-after") === "0" && body.startsWith(RESTARTED_MID_REQUEST)
	);
}

// ---- one-shot commands ----

export interface CommandResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	output: string;
	report: string;
}

/** Runs a wrangler command to its end (killing its process group after `timeoutMs`). */
export async function runWrangler(args: string[], timeoutMs = 90_000): Promise<CommandResult> {
	const spawned = new Spawned(args, ROOT);
	let timer: ReturnType<typeof setTimeout> | undefined;
	const timedOut = new Promise<"timeout">((resolveTimeout) => {
		timer = setTimeout(() => resolveTimeout("timeout"), timeoutMs);
	});
	const outcome = await Promise.race([spawned.exited, timedOut]);
	clearTimeout(timer);
	if (outcome === "timeout") {
		await spawned.kill("SIGKILL");
		throw new Error(
			`${spawned.description} did not finish in ${timeoutMs} ms\n${spawned.report()}`,
		);
	}
	// The command is over; make sure nothing it started lingers.
	await spawned.kill("SIGTERM", 5_000);
	return {
		code: outcome.code,
		signal: outcome.signal,
		output: spawned.output(),
		report: spawned.report(),
	};
}

type ServerOptions = Omit<DevServerOptions, "port" | "persistTo">;

/**
 * A `wrangler dev` for the tests of one file (or one describe block): started on a free port with fresh persisted state
 * before them, stopped after them (stop() throws if any process of wrangler's group or tree,
 * workerd included, survives) and its state removed. Returns a getter for the running server.
 */
export function devServerForFile(
	label: string,
	options: ServerOptions | (() => ServerOptions) = {},
): () => DevServer {
	let server: DevServer | undefined;
	let persistDir: string | undefined;
	beforeAll(async () => {
		persistDir = tempDir(label);
		// A function is read once the file's earlier hooks have run (they may make the config).
		const resolved = typeof options === "function" ? options() : options;
		server = await DevServer.start({ ...resolved, port: await freePort(), persistTo: persistDir });
	});
	afterAll(async () => {
		try {
			await server?.stop();
		} finally {
			if (persistDir) removeDir(persistDir);
		}
	});
	return () => {
		if (!server) throw new Error("wrangler dev did not start (see beforeAll)");
		return server;
	};
}
