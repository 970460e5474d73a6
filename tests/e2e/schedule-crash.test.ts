/// <reference types="node" />
/**
 * Exactly one instance per cron tick across a SIGKILL at the tick. `wrangler dev` serves
 * tests/tick-hold/worker.ts, whose engine hooks hold the scheduler at one point of firing a tick:
 * just before the instance's create (the tick recorded pending, with its lease alarm), or just
 * after it (the instance made, the tick not yet recorded). The test fires a tick, waits until the
 * scheduler is held there, kills the runtime (SIGKILL to the whole process group), and restarts
 * it on the same storage without the hold. Requesting nothing but the Worker's log (which starts
 * no scheduler and touches no instance), it waits for the tick to be fired again, by the lease
 * alarm alone; then it checks that the tick has exactly one instance, which ran and completed
 * with the tick's `event.schedule`, that the scheduler recorded it and went on to its next tick.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogRecord } from "../tick-hold/protocol";
import { DevServer, freePort, ROOT, removeDir, tempDir, waitFor } from "./wrangler";

const CONFIG = join(ROOT, "tests", "tick-hold", "wrangler.toml");
/** The Worker's one schedule (tests/tick-hold/worker.ts): no tick of it comes during a run. */
const CRON = "0 0 1 1 *";

/** listSchedules' entry, as JSON. */
interface Schedule {
	cron: string;
	paused: boolean;
	nextRunAt: string | null;
	lastRunAt: string | null;
	lastInstanceId: string | null;
}

interface StepRun {
	schedule: { cron: string; scheduledTime: number } | null;
	token: string;
}

interface InstanceStatus {
	status: string;
	output?: unknown;
	error?: unknown;
}

/** The first January 1st, midnight UTC, after `time`: the schedule's tick after it. */
function tickAfter(time: number): number {
	const year = new Date(time).getUTCFullYear();
	const thisYear = Date.UTC(year, 0, 1);
	return thisYear > time ? thisYear : Date.UTC(year + 1, 0, 1);
}

const iso = (time: number) => new Date(time).toISOString();

async function json<T>(server: DevServer, path: string, init?: RequestInit): Promise<T> {
	const response = await server.fetch(path, init);
	const text = await response.text();
	if (response.status !== 200) {
		throw new Error(`${init?.method ?? "GET"} ${path}: HTTP ${response.status}: ${text}`);
	}
	return JSON.parse(text) as T;
}

/** The requests wrangler dev logged ("GET /log", ...), in order. */
function requestsIn(output: string): string[] {
	return [...output.matchAll(/\b(GET|POST|PUT|DELETE|HEAD) (\/\S*) \d{3}\b/g)].map(
		(match) => `${match[1]} ${match[2]}`,
	);
}

const FINAL = new Set(["complete", "errored", "terminated"]);

describe.each(["beforeCreate", "afterCreate"] as const)(
	"a SIGKILL with a tick held at %s",
	(phase) => {
		let server: DevServer | undefined;
		let persistDir: string;
		let port: number;

		beforeAll(async () => {
			persistDir = tempDir(`tick-${phase}`);
			port = await freePort();
		});

		afterAll(async () => {
			try {
				await server?.stop();
			} finally {
				removeDir(persistDir);
			}
		});

		it("makes exactly one instance for the tick, fired again by its lease alarm with no request, and the scheduler goes on", async () => {
			const first = await DevServer.start({
				port,
				persistTo: persistDir,
				config: CONFIG,
				vars: { HOLD_AT: phase },
			});
			server = first;

			// Starts the scheduler: its next tick is next January 1st.
			const [before] = await json<Schedule[]>(first, "/schedules");
			expect(before).toMatchObject({ cron: CRON, paused: false, lastInstanceId: null });
			const tick = Date.parse(before?.nextRunAt ?? "");
			expect(tick).toBeGreaterThan(Date.now());
			const id = `${CRON}-${tick}`;

			// The fast-forward fires that tick now; held inside it, it answers nothing before the kill.
			const firing = first
				.fetch("/fire", { method: "POST", signal: AbortSignal.timeout(600_000) })
				.then(
					async (response) => `HTTP ${response.status}: ${await response.text()}`,
					(error: unknown) => `no answer: ${String(error)}`,
				);
			const held = await waitFor(
				() => json<LogRecord[]>(first, "/log"),
				(records) => records.some((r) => r.kind === phase && r.instance === id),
				{
					timeoutMs: 60_000,
					what: `the scheduler to be held at ${phase} of ${id}`,
					context: () => first.report(),
				},
			);
			const firstBoot = held.find((r) => r.kind === phase)?.boot;

			await first.crash();
			server = undefined;
			expect(await firing, "the tick was not held until the kill").toMatch(/^no answer/);

			const second = await DevServer.start({ port, persistTo: persistDir, config: CONFIG });
			server = second;

			// Nothing but the log is requested until the scheduler has reached afterCreate again in
			// this runtime: only the tick's lease alarm can have fired it.
			const refired = await waitFor(
				() => json<LogRecord[]>(second, "/log"),
				(records) =>
					records.some(
						(r) => r.kind === "afterCreate" && r.instance === id && r.boot !== firstBoot,
					),
				{
					timeoutMs: 90_000,
					intervalMs: 250,
					what: `the tick ${id} fired again after the restart`,
					context: () => second.report(),
				},
			);
			// wrangler dev logs each request it served: none but those two (the log lines are there).
			const requests = requestsIn(second.output());
			expect(requests).toContain("GET /log");
			expect(
				requests.filter((request) => request !== "GET /" && request !== "GET /log"),
				"only GET / and GET /log may have been requested",
			).toEqual([]);
			const secondBoot = refired.find(
				(r) => r.kind === "afterCreate" && r.boot !== firstBoot,
			)?.boot;

			// The scheduler recorded the tick and moved to the next one.
			const [after] = await waitFor(
				() => json<Schedule[]>(second, "/schedules"),
				([entry]) => entry?.lastInstanceId === id,
				{
					timeoutMs: 30_000,
					what: `the scheduler to record ${id}`,
					context: () => second.report(),
				},
			);
			expect(after).toEqual({
				cron: CRON,
				paused: false,
				lastRunAt: iso(tick),
				lastInstanceId: id,
				nextRunAt: iso(tickAfter(tick)),
			});

			// The tick's instance ran to completion, with the tick's event.schedule.
			const status = await waitFor(
				() => json<InstanceStatus>(second, `/instance?id=${encodeURIComponent(id)}`),
				(s) => FINAL.has(s.status),
				{ timeoutMs: 60_000, what: `${id} to finish`, context: () => second.report() },
			);
			expect(status.status, JSON.stringify(status)).toBe("complete");
			const output = status.output as StepRun;
			expect(output).toEqual({
				schedule: { cron: CRON, scheduledTime: tick },
				token: expect.any(String),
			});

			// Exactly one instance: the listing shows that one only, once.
			const listed = await waitFor(
				() => json<{ id: string; status: string }[]>(second, "/instances"),
				(instances) =>
					instances.length > 0 && instances.every((instance) => FINAL.has(instance.status)),
				{ timeoutMs: 30_000, what: "the listing's final statuses", context: () => second.report() },
			);
			expect(listed).toEqual([{ id, status: "complete" }]);

			const log = await json<LogRecord[]>(second, "/log");
			const runtime = (r: LogRecord) =>
				r.boot === firstBoot ? "killed" : r.boot === secondBoot ? "restarted" : r.boot;
			// The scheduler fired the tick once in each runtime: held in the first, and again by the
			// lease alarm in the second (where the create either made the instance or found it made).
			expect(
				log.filter((r) => r.kind !== "step").map((r) => `${runtime(r)} ${r.kind} ${r.instance}`),
			).toEqual([
				`killed beforeCreate ${id}`,
				...(phase === "afterCreate" ? [`killed afterCreate ${id}`] : []),
				`restarted beforeCreate ${id}`,
				`restarted afterCreate ${id}`,
			]);

			// Every run of the step was the tick's instance's, with the tick's event.schedule. Held
			// before the create, the instance did not exist until the restart: one run, there. Held
			// after it, the instance ran in the killed runtime, and a run the kill cut off before its
			// result was stored runs again: at least one run, and the instance's result is the last
			// run's, every other one cut off by the kill.
			const steps = log.filter((r) => r.kind === "step");
			expect(steps.every((r) => r.instance === id)).toBe(true);
			const runs = steps.map((r) => JSON.parse(r.data ?? "null") as StepRun);
			for (const run of runs) expect(run.schedule).toEqual({ cron: CRON, scheduledTime: tick });
			expect(runs.at(-1)?.token).toBe(output.token);
			if (phase === "beforeCreate") {
				expect(steps.map(runtime)).toEqual(["restarted"]);
			} else {
				expect(steps.length).toBeGreaterThanOrEqual(1);
				expect(steps.slice(0, -1).map(runtime)).toEqual(steps.slice(0, -1).map(() => "killed"));
			}

			// The scheduler goes on: its next tick, fired now, makes the next instance.
			const next = tickAfter(tick);
			const fired = await json<unknown>(second, "/fire", { method: "POST" });
			expect(fired).toEqual([{ cron: CRON, scheduledTime: next, instanceId: `${CRON}-${next}` }]);
			const [later] = await json<Schedule[]>(second, "/schedules");
			expect(later).toMatchObject({
				lastRunAt: iso(next),
				lastInstanceId: `${CRON}-${next}`,
				nextRunAt: iso(tickAfter(next)),
			});
		}, 600_000);
	},
);
