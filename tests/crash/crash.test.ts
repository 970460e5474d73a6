/// <reference types="node" />
/**
 * Crash and restart: hundreds of instances of a workflow that mixes quick steps, sleeps, a step
 * that fails before it succeeds, buffered and live event waits and long steps run under
 * `wrangler dev` with persisted storage, while the test kills the whole runtime (SIGKILL of its
 * process group) or stops it gracefully at random moments and starts it again on the same
 * storage. After the last restart no request reaches any instance: only the counter routes are
 * polled, until every instance has recorded its finished marker. Then the statuses are read once
 * and the execution records are checked against docs/guarantees.md: every instance complete
 * with the output one clean run gives, every journaled step result produced by exactly one
 * attempt and never recomputed, every cut-off attempt run again, every event delivered once.
 *
 * CRASH_SEED=<n> replays the random choices (kill moments, durations, planned failures) of a run;
 * CRASH_INSTANCES=<n> changes how many instances run (default 500).
 */
import { randomInt } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DevServer, delay, freePort, ROOT, removeDir, tempDir, waitFor } from "../e2e/wrangler";
import {
	analyse,
	between,
	bootOf,
	create,
	createOneByOne,
	exists,
	type InstanceStatusAnswer,
	listed,
	type Planned,
	pause,
	prng,
	records,
	resume,
	sendEvents,
	statuses,
	summary,
} from "./harness";
import { type CounterSummary, EARLY, LATE } from "./protocol";

const CONFIG = join(ROOT, "tests", "crash", "wrangler.toml");
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : randomInt(2 ** 31);
const INSTANCES = process.env.CRASH_INSTANCES ? Number(process.env.CRASH_INSTANCES) : 500;
/** Instances are created in this many waves, one per runtime lifetime, so kills find them at every stage. */
const WAVES = 3;
/** How each runtime lifetime but the last ends. More than 4 could cut one attempt off 5 times (the engine's cap). */
const STOPS = ["SIGKILL", "SIGKILL", "graceful", "SIGKILL"] as const;
/** The engine's lease (LEASE_MS in src/engine/scheduler.ts): a cut-off run resumes within this of a restart. */
const LEASE_MS = 10_000;
/** Batch size of the Worker's routes (createBatch takes at most 100). */
const CHUNK = 100;
/**
 * In these lifetimes a tenth of the instances so far are paused, and, just before the runtime
 * stops, a third of those with a long step in flight (their pause waits for the attempt, which the
 * stop cuts off); the next lifetime finds them all paused and resumes them (every instance must be running
 * again before the last lifetime but one, which waits until every instance reached its late wait).
 */
const PAUSE_IN = [0, 1];

const random = prng(SEED);
const started = Date.now();
/** The run's story, printed in one piece at the end: all of it if the test failed, else its summary. */
const story: string[] = [];
const log = (message: string) =>
	story.push(`+${((Date.now() - started) / 1000).toFixed(1)}s ${message}`);

function chunks<T>(list: T[], size = CHUNK): T[][] {
	const result: T[][] = [];
	for (let i = 0; i < list.length; i += size) result.push(list.slice(i, i + size));
	return result;
}

const planned = (id: string): Planned => ({
	id,
	params: {
		nap1Ms: between(random, 1_000, 3_000),
		nap2Ms: between(random, 1_000, 3_000),
		failures: between(random, 0, 2),
		retryDelayMs: between(random, 200, 500),
		longMs: between(random, 2_000, 3_000),
	},
	sent: { early: [], late: [] },
});
/** Every instance that exists; the checks apply to each. */
const plan: Planned[] = Array.from({ length: INSTANCES }, (_, n) =>
	planned(`i${String(n).padStart(4, "0")}`),
);
const byId = new Map(plan.map((instance) => [instance.id, instance]));
const waves = Array.from({ length: WAVES }, (_, w) =>
	plan.slice(Math.floor((w * INSTANCES) / WAVES), Math.floor(((w + 1) * INSTANCES) / WAVES)),
);
/**
 * A create request for these is in flight when runtime CUT_CREATE_IN is killed. Those that exist
 * afterwards join the plan (and must finish like the others); the others must never run.
 */
const cutCreates = Array.from({ length: 50 }, (_, n) => planned(`x${String(n).padStart(4, "0")}`));
const CUT_CREATE_IN = 1;

let server: DevServer | undefined;
const persistDir = tempDir("crash");

/** Set once every check held: the run's timeline is then left out of the output, its summary kept. */
let passed = false;

afterAll(async () => {
	console.log(`[crash]\n  ${(passed ? story.slice(-1) : story).join("\n  ")}`);
	try {
		await server?.crash();
	} finally {
		removeDir(persistDir);
	}
});

/** Sends each instance that has reached its "late" wait (per the counters) its late event, once. */
async function sendLateEvents(current: DevServer, seen: CounterSummary): Promise<number> {
	const due = seen.readyForLate.filter((id) => byId.get(id)?.sent.late.length === 0);
	for (const ids of chunks(due)) {
		const list = ids.map((id) => ({ id, type: LATE, payload: { pid: `${id}/late/1` } }));
		await sendEvents(current, list);
		// Acknowledged: the event is stored (the output gate held the answer until it was).
		for (const { id, payload } of list) byId.get(id)?.sent.late.push(payload.pid);
	}
	return due.length;
}

/** Keeps sending late events until `until` says stop (checked every 250 ms). */
async function pumpLateEvents(current: DevServer, until: (seen: CounterSummary) => boolean) {
	for (;;) {
		const seen = await summary(current);
		await sendLateEvents(current, seen);
		if (until(seen)) return seen;
		await delay(250);
	}
}

const inFlightLong = (seen: CounterSummary) =>
	(seen.inFlight["long-1"] ?? 0) + (seen.inFlight["long-2"] ?? 0);
const inFlightTotal = (seen: CounterSummary) =>
	Object.values(seen.inFlight).reduce((sum, n) => sum + (n ?? 0), 0);

describe("crash and restart with persisted storage", () => {
	it("finishes every instance exactly as written, without requests after the last restart", async () => {
		log(
			`seed ${SEED} (CRASH_SEED=${SEED} replays it), ${INSTANCES} instances in ${WAVES} waves, stops: ${STOPS.join(", ")}`,
		);
		const port = await freePort();
		const boots: string[] = [];
		let cutCreateAnswered = false;
		let cutCreateSurvivors = 0;
		const stopsDone: { how: string; inFlight: number; readyForLate: number; finished: number }[] =
			[];
		/** Instances paused in the lifetime before this one, to find paused and resume. */
		let paused: string[] = [];
		let pausedTotal = 0;
		/** Pauses that were waiting for an attempt in flight when the runtime stopped. */
		let pausesCutOff = 0;
		const pauseAll = async (current: DevServer, ids: string[]) => {
			let waiting = 0;
			for (const list of chunks(ids)) {
				for (const answer of await pause(current, list)) {
					if (!answer.paused) continue;
					paused.push(answer.id);
					if (answer.status === "waitingForPause") waiting++;
				}
			}
			return waiting;
		};

		for (const [lifetime, how] of STOPS.entries()) {
			const current = await DevServer.start({ port, persistTo: persistDir, config: CONFIG });
			server = current;
			boots.push(await bootOf(current));
			log(`runtime ${lifetime} up`);

			const wave = waves[lifetime] ?? [];
			for (const list of chunks(wave)) {
				await create(
					current,
					list.map(({ id, params }) => ({ id, params })),
				);
			}
			if (lifetime === CUT_CREATE_IN + 1) {
				// Which of the instances whose create request the kill cut off exist?
				const found = (
					await exists(
						current,
						cutCreates.map(({ id }) => id),
					)
				).filter((f) => f.exists);
				const survivors = cutCreates.filter(({ id }) => found.some((f) => f.id === id));
				for (const instance of survivors) {
					plan.push(instance);
					byId.set(instance.id, instance);
					wave.push(instance);
				}
				if (cutCreateAnswered) {
					expect(survivors.length, "a create that was answered before the kill").toBe(
						cutCreates.length,
					);
				}
				log(
					`${survivors.length} of ${cutCreates.length} instances exist whose creation was under way at the kill (request answered: ${cutCreateAnswered})`,
				);
				cutCreateSurvivors = survivors.length;
			}
			for (const list of chunks(wave)) {
				// Two "early" events, sent before the waits for them start: buffered, FIFO.
				const events = list.flatMap(({ id }) =>
					[1, 2].map((n) => ({ id, type: EARLY, payload: { pid: `${id}/early/${n}` } })),
				);
				await sendEvents(current, events);
				for (const { id, payload } of events) byId.get(id)?.sent.early.push(payload.pid);
			}
			if (wave.length > 0) log(`created ${wave.length} instances and sent them their early events`);

			if (paused.length > 0) {
				// A pause survives the stop: paused (not waitingForPause, not running), nothing resumed it.
				const after = await statuses(current, paused);
				expect(
					after
						.filter(({ status }) => status !== "paused")
						.map(({ id, status }) => `${id}: ${status}`),
					"instances paused before the stop are paused after the restart",
				).toEqual([]);
				for (const ids of chunks(paused)) await resume(current, ids);
				log(`${paused.length} instances paused before the stop were found paused, and resumed`);
				paused = [];
			}
			if (PAUSE_IN.includes(lifetime)) {
				const candidates = plan.filter(() => random() < 0.1).map(({ id }) => id);
				const existing = new Set(
					(await exists(current, candidates)).filter((f) => f.exists).map((f) => f.id),
				);
				await pauseAll(
					current,
					candidates.filter((id) => existing.has(id)),
				);
				log(`paused ${paused.length} instances`);
			}

			if (lifetime === STOPS.length - 1) {
				// The last lifetime before the final one: every late event must be sent by now, since
				// nothing may touch an instance after the last restart.
				await waitFor(
					() => pumpLateEvents(current, () => true),
					() => plan.every(({ sent }) => sent.late.length === 1),
					{
						timeoutMs: 120_000,
						intervalMs: 250,
						what: "every instance to reach its late-event wait",
						context: () => current.report(),
					},
				);
				log("every instance has been sent its late event");
			}
			// The last kill comes soon after the last late events, so it finds work left to do.
			const killAt =
				Date.now() + between(random, 200, lifetime === STOPS.length - 1 ? 1_500 : 6_000);
			await pumpLateEvents(current, () => Date.now() >= killAt);
			// Cut at least one long step off: wait (bounded) until one is in flight.
			const seen =
				how === "SIGKILL"
					? await waitFor(
							() => summary(current),
							(s) => inFlightLong(s) > 0,
							{ timeoutMs: 8_000, intervalMs: 50, what: "a long step in flight" },
						).catch(() => summary(current))
					: await summary(current);
			if (PAUSE_IN.includes(lifetime)) {
				// Pauses that wait for the long attempt in flight, which the stop then cuts off (a third
				// of them: the others' cut-off attempts come back by their leases, unpaused).
				const more = seen.longInFlight.filter((id) => !paused.includes(id) && random() < 1 / 3);
				const waiting = await pauseAll(current, more);
				pausesCutOff += waiting;
				pausedTotal += paused.length;
				log(`paused ${more.length} more with a long step in flight (${waiting} waiting for it)`);
			}
			if (lifetime === CUT_CREATE_IN) {
				// Kill while a create request is in flight: some instances of it may exist, some not.
				const request = createOneByOne(
					current,
					cutCreates.map(({ id, params }) => ({ id, params })),
				).then(
					() => true,
					() => false,
				);
				// At a random moment while they are created one after another: none, some or all exist.
				await delay(between(random, 0, 300));
				await current.crash();
				cutCreateAnswered = await request;
			} else if (how === "SIGKILL") await current.crash();
			else await current.stop();
			server = undefined;
			stopsDone.push({
				how,
				inFlight: inFlightTotal(seen),
				readyForLate: seen.readyForLate.length,
				finished: seen.finished.length,
			});
			log(
				`runtime ${lifetime} ${how === "SIGKILL" ? "killed (SIGKILL)" : "stopped gracefully"} with ${inFlightTotal(seen)} attempts in flight (${inFlightLong(seen)} long), ${seen.finished.length} instances finished`,
			);
		}

		// The final lifetime: from here on, only the counter routes are requested.
		const last = await DevServer.start({ port, persistTo: persistDir, config: CONFIG });
		server = last;
		const readyAt = Date.now();
		boots.push(await bootOf(last));
		log("final runtime up; polling the counters only");
		const settled = await waitFor(
			() => summary(last),
			(s) =>
				s.finished.length === plan.length &&
				// A run cut off at the last kill resumes by its lease alarm within LEASE_MS; after that,
				// and two quiet seconds, no instance has anything left to record.
				Date.now() >= readyAt + LEASE_MS + 3_000 &&
				s.lastAt !== null &&
				s.now - s.lastAt >= 2_000,
			{
				timeoutMs: 150_000,
				intervalMs: 500,
				what: `every instance's finished marker (${plan.length})`,
				context: () => last.report(),
			},
		).catch(async (error: Error) => {
			const seen = await summary(last);
			const missing = plan.filter(({ id }) => !seen.finished.includes(id)).map(({ id }) => id);
			throw new Error(`${error.message}\nnot finished: ${missing.join(", ")}`);
		});
		log(`all ${settled.finished.length} finished markers recorded`);
		expect(last.report(), "no request may reach an instance after the last restart").not.toMatch(
			/\/instances/,
		);

		// Now, once: the statuses, then every execution record.
		const answers: InstanceStatusAnswer[] = [];
		for (const ids of chunks(plan.map(({ id }) => id)))
			answers.push(...(await statuses(last, ids)));
		const all = await records(last);
		// The listing shows exactly the instances that exist, each complete, whatever the kills
		// cut off (creates, publishes of final statuses): it asks, and repairs, what it missed.
		const listing = await listed(last);
		await last.stop();
		server = undefined;

		const { problems, counts } = analyse(plan, all, answers, boots);
		const kills = stopsDone.filter((s) => s.how === "SIGKILL").length;
		story.push(
			[
				`seed ${SEED}: ${plan.length} instances (${cutCreateSurvivors} of them created as the kill came), ${boots.length} runtime lifetimes, ${kills} SIGKILLs, ${stopsDone.length - kills} graceful stops`,
				`${pausedTotal} instances paused before a stop (${pausesCutOff} waiting for an attempt the stop cut off), found paused after it and resumed`,
				`attempts in flight at each stop: ${stopsDone.map((s) => s.inFlight).join(", ")}`,
				`${all.length} records; ${counts.attemptsStarted} attempts started, ${counts.plannedFailures} planned failures`,
				`${counts.cutOffAttempts} attempts cut off, ${counts.rerunSteps} steps re-run after a cut, ${counts.completedNotJournaled} completed attempts whose result a kill kept from the journal`,
				`after the last restart: ${counts.instancesWokenAfterLastRestart} instances woken by their alarms, ${counts.recordsAfterLastRestart} records`,
				`${counts.eventsDelivered} events delivered (${2 * plan.length} early, sent before their waits, ${plan.length} late)`,
				`total ${((Date.now() - started) / 1000).toFixed(1)} s`,
			].join("\n  "),
		);

		const show = (list: string[]) =>
			list.length === 0 ? "" : `${list.length} violations:\n${list.slice(0, 20).join("\n")}`;
		const existing = answers.map((a) => a.id);
		const listedIds = listing.map(({ id }) => id);
		expect(new Set(listedIds).size, "each instance listed once").toBe(listedIds.length);
		expect([...listedIds].sort(), "the listing has exactly the instances").toEqual(
			[...existing].sort(),
		);
		expect(
			listing.filter(({ status }) => status !== "complete").map(({ id }) => id),
			"the listing shows every instance complete",
		).toEqual([]);
		expect(show(problems.finalState), "every instance complete, with its output").toBe("");
		expect(show(problems.exactlyOnceResults), "a journaled step result is never recomputed").toBe(
			"",
		);
		expect(show(problems.atLeastOnce), "an attempt cut off runs again").toBe("");
		expect(show(problems.replayConsistency), "replays return journaled results").toBe("");
		expect(show(problems.durableAttempts), "attempt numbers are durable").toBe("");
		expect(show(problems.durableTimers), "sleeps and retry delays are durable").toBe("");
		expect(show(problems.events), "each event delivered exactly once, in order").toBe("");
		expect(counts.cutOffAttempts, "some attempt was cut off by a kill").toBeGreaterThan(0);
		expect(pausedTotal, "some instances were paused across a stop").toBeGreaterThan(0);
		expect(pausesCutOff, "some pause waited for an attempt the stop cut off").toBeGreaterThan(0);
		expect(
			counts.instancesWokenAfterLastRestart,
			"alarms woke instances after the last restart",
		).toBeGreaterThan(0);
		passed = true;
	});
});
