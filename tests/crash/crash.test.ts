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
 * Beside them (issue 15): instances whose run fails so that their steps' rollback handlers run,
 * a few seconds each, created just before each stop so that it finds handlers in flight (each
 * handler must run to completion exactly once as journaled, in reverse order, and the instance
 * end errored); subscribers that follow some instances' events (`instance.subscribe()` through
 * the Worker) across every stop, resuming from their last eventId (they must see what one full
 * read at the end sees, once each); and batches of creates in both object forms of createBatch
 * cut off by a kill (each instance must exist whole or not at all, a retry of the batch must
 * report the ones created as existing, and the listing must show exactly those that exist).
 *
 * And (issue 16): instances of a workflow with a concurrency limit, created in every lifetime,
 * a batch of them just before each stop, so that each stop finds some queued (each must complete,
 * its steps run exactly once as journaled, never more instances inside a step than the limit, and
 * those queued at the last kill started after the restart without any request); and a workflow
 * started every minute by its cron schedule across the stops (each tick's instance complete with
 * its `event.schedule`, its step run exactly once as journaled; no minute without its instance
 * but those a downtime explains, and one catch-up run per downtime at most).
 *
 * CRASH_SEED=<n> replays the random choices (kill moments, durations, planned failures) of a run;
 * CRASH_INSTANCES=<n> changes how many instances run (default 500); CRASH_VERBOSE=1 prints the
 * run's timeline even when it passes.
 */
import { randomInt } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DevServer, delay, freePort, ROOT, removeDir, tempDir, waitFor } from "../e2e/wrangler";
import {
	analyse,
	analyseLimited,
	analyseRollbacks,
	analyseTicks,
	type BatchAnswer,
	between,
	bootOf,
	create,
	createBatch,
	createOneByOne,
	cutOffAttemptStarts,
	exists,
	type InstanceStatusAnswer,
	listed,
	type Planned,
	pause,
	prng,
	type RollbackStepHistory,
	records,
	resume,
	rollbackHistory,
	Subscriber,
	schedules,
	sendEvents,
	statuses,
	summary,
} from "./harness";
import {
	type BatchParams,
	type CounterSummary,
	DO_STEPS,
	EARLY,
	type ExecutionRecord,
	LATE,
	LIMIT,
	type LimitedParams,
	type RollbackParams,
	SCHEDULE,
} from "./protocol";

const CONFIG = join(ROOT, "tests", "crash", "wrangler.toml");
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : randomInt(2 ** 31);
const INSTANCES = process.env.CRASH_INSTANCES ? Number(process.env.CRASH_INSTANCES) : 500;
/** CRASH_VERBOSE=1 prints the run's whole timeline even if it passed. */
const VERBOSE = process.env.CRASH_VERBOSE === "1";
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
/**
 * Batches of createBatch's object forms in flight at the same kill: `{ instances }` with these
 * ids, and `{ count: 100 }` (random ids) of the batch workflow.
 */
const cutBatch = Array.from({ length: 100 }, (_, n) => ({
	id: `b${String(n).padStart(4, "0")}`,
	params: { form: "instances", n } satisfies BatchParams,
}));
const cutBatchIds = cutBatch.map(({ id }) => id);
const cutBatchIdSet = new Set(cutBatchIds);
/** A batch created whole in the first lifetime, to time one. */
const warmBatch = Array.from({ length: 100 }, (_, n) => ({
	id: `w${String(n).padStart(4, "0")}`,
	params: { form: "instances", n } satisfies BatchParams,
}));
const warmBatchIds = new Set(warmBatch.map(({ id }) => id));

/**
 * Rollback-workflow instances created in each lifetime, just before it ends: their forward steps,
 * a short sleep, then a failing step, and three handlers of about a second each, so that the
 * stop finds some of them rolling back.
 */
const ROLLBACKS_PER_LIFETIME = 10;
const rollbackPlans: { id: string; params: RollbackParams }[][] = STOPS.map((_, lifetime) =>
	Array.from({ length: ROLLBACKS_PER_LIFETIME }, (_, n) => ({
		id: `r${lifetime}${String(n).padStart(3, "0")}`,
		params: { napMs: between(random, 300, 2_500), handlerMs: between(random, 800, 1_500) },
	})),
);
const rollbackIds = rollbackPlans.flat().map(({ id }) => id);

/**
 * Limited-workflow instances (a concurrency limit of LIMIT): a few created as each lifetime
 * begins, and a batch of three times the limit just before it ends, so that the stop finds at
 * least two thirds of that batch not started (queued, or admitted and not started yet).
 */
const LIMITED_EARLY = 6;
const LIMITED_LATE = 3 * LIMIT;
const limitedPlan = (lifetime: number, when: "a" | "z", n: number) => ({
	id: `l${lifetime}${when}${String(n).padStart(3, "0")}`,
	params: {
		workMs: between(random, 300, 900),
		napMs: between(random, 200, 1_500),
	} satisfies LimitedParams,
});
const limitedPlans = STOPS.map((_, lifetime) => ({
	early: Array.from({ length: LIMITED_EARLY }, (_, n) => limitedPlan(lifetime, "a", n)),
	late: Array.from({ length: LIMITED_LATE }, (_, n) => limitedPlan(lifetime, "z", n)),
}));
/** The lifetime each limited instance is created in. */
const limitedCreatedIn = new Map(
	limitedPlans.flatMap(({ early, late }, lifetime) =>
		[...early, ...late].map(({ id }) => [id, lifetime] as const),
	),
);
const limitedIds = [...limitedCreatedIn.keys()];
const MINUTE = 60_000;
/** The scheduled time of a tick's instance, from its id. */
const tickTime = (id: string) => Number(id.slice(SCHEDULE.length + 1));
/** The first minute after `time`. */
const firstTick = (time: number) => Math.ceil(time / MINUTE) * MINUTE;

/**
 * Subscribers that follow these instances' events from their creation to their end, across the
 * stops that come meanwhile: the first crash-workflow instance of each wave, and rollback
 * instances of the first and the last lifetime but one (that stop comes soon after they are
 * created: it finds them rolling back). `from`: the lifetime their instance is created in.
 */
const subscribers = [
	...waves.flatMap((wave, from) =>
		wave.slice(0, 1).map(({ id }) => ({ from, subscriber: new Subscriber("crash", id) })),
	),
	...[0, STOPS.length - 1].flatMap((from) =>
		(rollbackPlans[from] ?? [])
			.slice(0, 2)
			.map(({ id }) => ({ from, subscriber: new Subscriber("rollback", id) })),
	),
];
const followers = subscribers.map(({ subscriber }) => subscriber);
/** The subscribers of `workflow` whose instances are created in `lifetime`. */
const subscribersOf = (workflow: "crash" | "rollback", lifetime: number) =>
	subscribers
		.filter(({ from, subscriber }) => from === lifetime && subscriber.workflow === workflow)
		.map(({ subscriber }) => subscriber);

/** A crash-workflow record (the rollback and batch workflows' records are checked apart). */
const isCrashRecord = (record: ExecutionRecord) =>
	(DO_STEPS as readonly string[]).includes(record.step);

let server: DevServer | undefined;
const persistDir = tempDir("crash");

/** Set once every check held: the run's timeline is then left out of the output, its summary kept. */
let passed = false;

afterAll(async () => {
	console.log(`[crash]\n  ${(passed && !VERBOSE ? story.slice(-1) : story).join("\n  ")}`);
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
const inFlightHandlers = (seen: CounterSummary) =>
	(seen.inFlight["undo:ship"] ?? 0) +
	(seen.inFlight["undo:charge"] ?? 0) +
	(seen.inFlight["undo:reserve"] ?? 0);
/** The statuses an instance can have (InstanceStatus["status"]). */
const KNOWN_STATUSES = [
	"queued",
	"running",
	"paused",
	"errored",
	"terminated",
	"complete",
	"waiting",
	"waitingForPause",
	"rollingBack",
];
const inFlightTotal = (seen: CounterSummary) =>
	Object.values(seen.inFlight).reduce((sum, n) => sum + (n ?? 0), 0);

describe("crash and restart with persisted storage", () => {
	it("finishes every instance exactly as written, without requests after the last restart", async () => {
		log(
			`seed ${SEED} (CRASH_SEED=${SEED} replays it), ${INSTANCES} instances in ${WAVES} waves, stops: ${STOPS.join(", ")}`,
		);
		const port = await freePort();
		const boots: string[] = [];
		/** When each runtime was started, and when each stop was over (ms, the Worker's clock too). */
		const ups: number[] = [];
		const stops: number[] = [];
		/** When the scheduler was known to run (its schedules listed), in the first lifetime. */
		let scheduledFrom = 0;
		let cutCreateAnswered = false;
		const cutBatchAnswers: { instances?: BatchAnswer; count?: BatchAnswer } = {};
		/** The instances of the batch workflow: the cut batches' that exist, once known. */
		const batchInstances: string[] = [];
		const rollbacksCreated: string[] = [];
		let warmBatchMs = 0;
		let cutBatchKilledAfter = 0;
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
			ups.push(Date.now());
			const current = await DevServer.start({ port, persistTo: persistDir, config: CONFIG });
			server = current;
			boots.push(await bootOf(current));
			log(`runtime ${lifetime} up`);
			if (lifetime === 0) {
				// The first event started the scheduler; its listing answers once it has.
				const [schedule] = await schedules(current);
				scheduledFrom = Date.now();
				expect(schedule?.cron, "the scheduled workflow's schedule").toBe(SCHEDULE);
				log(`schedule "${SCHEDULE}" running, next tick ${String(schedule?.nextRunAt)}`);
			}
			/** The subscribers' loops of this lifetime: they end once it does. */
			const following: Promise<void>[] = [];
			const follow = (list: Subscriber[]) => {
				for (const subscriber of list) {
					following.push(subscriber.keepFollowing(current, () => server === current));
				}
			};
			// The subscribers whose instances exist resume from their cursors.
			follow(subscribers.filter(({ from }) => from < lifetime).map(({ subscriber }) => subscriber));

			const limited = limitedPlans[lifetime];
			if (limited) {
				await create(current, limited.early, "limited");
				log(`created ${limited.early.length} limited instances`);
			}
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

				// The batches the kill cut off: every instance exists whole or not at all, the listing
				// shows exactly those that exist, each with a status, and a retry of the batch with the
				// same ids reports the ones created as existing and creates the others.
				const existing = new Set(
					(await exists(current, cutBatchIds, "batch")).filter((f) => f.exists).map((f) => f.id),
				);
				const listing = await listed(current, "batch");
				const countSurvivors = listing
					.map(({ id }) => id)
					.filter((id) => !cutBatchIdSet.has(id) && !warmBatchIds.has(id));
				expect(
					listing
						.map(({ id }) => id)
						.filter((id) => cutBatchIdSet.has(id))
						.sort(),
					"the listing shows the { instances } batch's instances that exist",
				).toEqual([...existing].sort());
				expect(new Set(listing.map(({ id }) => id)).size, "each instance listed once").toBe(
					listing.length,
				);
				const readable = await statuses(
					current,
					listing.map(({ id }) => id),
					"batch",
				);
				expect(
					readable.filter(({ status }) => !KNOWN_STATUSES.includes(status)),
					"every listed instance has a status",
				).toEqual([]);
				if (cutBatchAnswers.instances) {
					expect(existing.size, "an { instances } batch answered before the kill").toBe(100);
				}
				if (cutBatchAnswers.count) {
					expect([...countSurvivors].sort(), "a { count } batch answered before the kill").toEqual(
						[...cutBatchAnswers.count.created].sort(),
					);
				}
				expect(countSurvivors.length).toBeLessThanOrEqual(100);
				const retry = await createBatch(current, "batch", { instances: cutBatch });
				expect(
					retry.errors.map(({ index, id, code, message }) => ({ index, id, code, message })),
					"the retry reports each instance the cut batch created as existing",
				).toEqual(
					cutBatch.flatMap(({ id }, index) =>
						existing.has(id)
							? [{ index, id, code: 10405, message: `instance "${id}" already exists` }]
							: [],
					),
				);
				expect(retry.created, "the retry creates the others").toEqual(
					cutBatchIds.filter((id) => !existing.has(id)),
				);
				batchInstances.push(...cutBatchIds, ...countSurvivors);
				log(
					`cut batches (killed ${cutBatchKilledAfter} ms after they were sent): ${existing.size} of 100 of the { instances } batch existed (answered: ${cutBatchAnswers.instances !== undefined}), ${countSurvivors.length} of the { count: 100 } batch (answered: ${cutBatchAnswers.count !== undefined}); the retry created ${retry.created.length}`,
				);
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
			follow(subscribersOf("crash", lifetime));
			if (lifetime === 0) {
				// A batch of the batch workflow, timed: the cut batches' kill comes within this time.
				const sentAt = Date.now();
				const warm = await createBatch(current, "batch", { instances: warmBatch });
				warmBatchMs = Date.now() - sentAt;
				expect(warm, "a batch of 100 new instances").toEqual({
					created: warmBatch.map(({ id }) => id),
					errors: [],
				});
				batchInstances.push(...warm.created);
				log(`a batch of ${warm.created.length} creates took ${warmBatchMs} ms`);
			}

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
			// Rollback instances, which fail soon and roll back for a few seconds: the stop below
			// finds some of them with a handler in flight.
			const rollbacks = rollbackPlans[lifetime] ?? [];
			await create(current, rollbacks, "rollback");
			rollbacksCreated.push(...rollbacks.map(({ id }) => id));
			follow(subscribersOf("rollback", lifetime));
			log(`created ${rollbacks.length} rollback instances`);
			// The last kill comes soon after the last late events, so it finds work left to do.
			const killAt =
				Date.now() + between(random, 200, lifetime === STOPS.length - 1 ? 1_500 : 6_000);
			await pumpLateEvents(current, () => Date.now() >= killAt);
			// Cut at least one long step off, and a rollback handler if any instance is still rolling
			// back: wait (bounded) until they are in flight.
			const seen =
				how === "SIGKILL"
					? await waitFor(
							() => summary(current),
							(s) =>
								inFlightLong(s) > 0 &&
								(inFlightHandlers(s) > 0 ||
									rollbacksCreated.every((id) => s.rolledBack.includes(id))),
							{ timeoutMs: 8_000, intervalMs: 50, what: "a long step and a handler in flight" },
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
			if (limited) {
				// Just before the stop, more limited instances than the limit can run: most are queued.
				await create(current, limited.late, "limited");
				log(`created ${limited.late.length} limited instances just before the stop`);
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
				// And two batches of creates, in createBatch's object forms.
				const countBatch = createBatch(current, "batch", {
					count: 100,
					params: { form: "count" },
				}).then(
					(answer) => {
						cutBatchAnswers.count = answer;
					},
					() => {},
				);
				const instancesBatch = createBatch(current, "batch", { instances: cutBatch }).then(
					(answer) => {
						cutBatchAnswers.instances = answer;
					},
					() => {},
				);
				// The kill comes at a random moment between half and one and a half times what one
				// batch took in the first lifetime (two take longer, and the listing's intents go
				// first): in the middle of the batches, most likely.
				cutBatchKilledAfter = between(
					random,
					Math.round(warmBatchMs * 0.5),
					Math.round(warmBatchMs * 1.5),
				);
				await delay(cutBatchKilledAfter);
				await current.crash();
				const batches = Promise.all([countBatch, instancesBatch]);
				cutCreateAnswered = await request;
				await batches;
			} else if (how === "SIGKILL") await current.crash();
			else await current.stop();
			stops.push(Date.now());
			server = undefined;
			// The subscribers' connections broke with the runtime: their loops end.
			await Promise.all(following);
			stopsDone.push({
				how,
				inFlight: inFlightTotal(seen),
				readyForLate: seen.readyForLate.length,
				finished: seen.finished.length,
			});
			log(
				`runtime ${lifetime} ${how === "SIGKILL" ? "killed (SIGKILL)" : "stopped gracefully"} with ${inFlightTotal(seen)} attempts in flight (${inFlightLong(seen)} long, ${inFlightHandlers(seen)} rollback handlers), ${seen.finished.length} instances finished; subscribers have ${followers.map(({ events }) => events.length).join(", ")} events (connections broken: ${followers.map(({ breaks }) => breaks.length).join(", ")}; last: ${followers.map(({ breaks }) => breaks.at(-1)).join(" | ")})`,
			);
		}

		// The final lifetime: from here on, only the counter routes are requested.
		ups.push(Date.now());
		const last = await DevServer.start({ port, persistTo: persistDir, config: CONFIG });
		server = last;
		const readyAt = Date.now();
		/** The last minute before the last runtime came up. */
		const lastTickDue = Math.floor((ups.at(-1) ?? 0) / MINUTE) * MINUTE;
		boots.push(await bootOf(last));
		log("final runtime up; polling the counters only");
		const settled = await waitFor(
			() => summary(last),
			(s) =>
				s.finished.length === plan.length &&
				rollbackIds.every((id) => s.rolledBack.includes(id)) &&
				batchInstances.every((id) => s.batchRan.includes(id)) &&
				limitedIds.every((id) => s.limitedDone.includes(id)) &&
				// Every tick begun has ended, and a tick at or after the last minute before this runtime
				// came up has run (fired before the last stop, or by the scheduler's alarm since), and
				// after the scheduler's second minute at least, so that two ticks in a row are checked.
				s.ticksStarted.every((id) => s.ticksDone.includes(id)) &&
				s.ticksDone.some(
					(id) => tickTime(id) >= Math.max(lastTickDue, firstTick(scheduledFrom) + MINUTE),
				) &&
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
			const limitedLeft = limitedIds.filter((id) => !seen.limitedDone.includes(id));
			throw new Error(
				`${error.message}\nnot finished: ${missing.join(", ")}\nlimited not finished: ${limitedLeft.join(", ")}\nticks: started ${seen.ticksStarted.join(", ")}; done ${seen.ticksDone.join(", ")}; last due ${lastTickDue}`,
			);
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

		// The rollback instances: statuses and the rollback steps of their histories.
		const rollbackAnswers = await statuses(last, rollbackIds, "rollback");
		const histories = new Map<string, RollbackStepHistory[]>();
		for (const ids of chunks(rollbackIds, 10)) {
			await Promise.all(
				ids.map(async (id) => histories.set(id, await rollbackHistory(last, "rollback", id))),
			);
		}
		// The batch instances, and their listing.
		const batchAnswers: InstanceStatusAnswer[] = [];
		for (const ids of chunks(batchInstances)) {
			batchAnswers.push(...(await statuses(last, ids, "batch")));
		}
		const batchListing = await listed(last, "batch");
		// The limited instances, and the ticks' instances whose step had ended when the counters
		// settled (a tick that fired since may be running).
		const limitedAnswers: InstanceStatusAnswer[] = [];
		for (const ids of chunks(limitedIds)) {
			limitedAnswers.push(...(await statuses(last, ids, "limited")));
		}
		const limitedListing = await listed(last, "limited");
		const tickIds = [...settled.ticksDone].sort();
		const tickAnswers = await statuses(last, tickIds, "scheduled");
		const tickListing = await listed(last, "scheduled");
		// The subscribers resume once more, from their cursors, to their instances' ends; then one
		// full read of each instance's events, to compare with.
		const readBy = Date.now() + 60_000;
		await Promise.all(followers.map((s) => s.keepFollowing(last, () => Date.now() < readBy)));
		const fullReads = followers.map(({ workflow, id }) => new Subscriber(workflow, id));
		for (const full of fullReads) await full.follow(last);
		await last.stop();
		server = undefined;

		const { problems, counts } = analyse(plan, all.filter(isCrashRecord), answers, boots);
		// How many starts of cut-off attempts (see cutOffAttemptStarts) the subscribers read: each
		// is compared, timestamp included, with what the full read gives below.
		let cutOffRead = 0;
		for (const [i, subscriber] of followers.entries()) {
			const cutOff = cutOffAttemptStarts(fullReads[i]?.events ?? []);
			cutOffRead += subscriber.events.filter((event) => cutOff.has(event.eventId)).length;
		}
		const rollback = analyseRollbacks(
			rollbackIds,
			all.filter((record) => rollbackIds.includes(record.instance)),
			rollbackAnswers,
			histories,
			boots,
		);
		const limitedRecords = all.filter((record) => limitedCreatedIn.has(record.instance));
		const limitedAnalysis = analyseLimited(
			limitedCreatedIn,
			limitedRecords,
			limitedAnswers,
			boots,
			LIMIT,
		);
		const ticks = analyseTicks(
			tickIds,
			all.filter((record) => record.step === "tick"),
			tickAnswers,
			boots,
			ups,
			stops,
		);
		const tickTimes = tickIds.map(tickTime).sort((a, b) => a - b);
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
				`${rollbackIds.length} instances rolled back: ${rollback.counts.handlerRuns} handler runs, ${rollback.counts.handlersCutOff} cut off (${rollback.counts.interruptedInHistory} interrupted attempts in the histories), ${rollback.counts.completedNotJournaled} completed runs whose completion a kill kept from the journal`,
				`${followers.length} subscribers read ${followers.map(({ events }) => events.length).join(", ")} events, resuming from their cursors ${followers.map(({ resumed }) => resumed).join(", ")} times; ${cutOffRead} starts of cut-off attempts among them`,
				`${batchInstances.length} instances of the cut batches (${batchInstances.length - 100} of the { count } batch)`,
				`${limitedIds.length} instances under a limit of ${LIMIT}: at most ${limitedAnalysis.counts.maxInside} inside a step at once, ${limitedAnalysis.counts.attemptsStarted} attempts (${limitedAnalysis.counts.cutOff} cut off); not started at each stop: ${limitedAnalysis.counts.notStartedAtStop.join(", ")}`,
				`${ticks.counts.ticks} ticks of "${SCHEDULE}" (${tickTimes.map((t) => new Date(t).toISOString().slice(11, 16)).join(", ")}), ${ticks.counts.cutOff} tick steps cut off; ticks from before each runtime came up: ${ticks.counts.late.join(", ")}; ${ticks.counts.skipped} skipped in a downtime`,
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

		// Rollback in progress across the stops.
		expect(show(rollback.problems.finalState), "every rollback instance errored, rolled back").toBe(
			"",
		);
		expect(show(rollback.problems.forwardResults), "handlers get journaled outputs").toBe("");
		expect(
			show(rollback.problems.exactlyOnceHandlers),
			"each handler runs to completion exactly once as journaled",
		).toBe("");
		expect(show(rollback.problems.reverseOrder), "handlers run in reverse order").toBe("");
		expect(rollback.counts.handlersCutOff, "some handler was cut off by a stop").toBeGreaterThan(0);

		// Subscribers across the stops: every event once, in order, as one full read sees them.
		for (const [i, subscriber] of followers.entries()) {
			const full = fullReads[i];
			const ids = full?.events.map(({ eventId }) => eventId) ?? [];
			expect(full?.done, `a full read of ${subscriber.id} ends`).toBe(true);
			expect(
				ids.every((id, n) => n === 0 || id > (ids[n - 1] ?? Number.POSITIVE_INFINITY)),
				`${subscriber.id}'s eventIds grow`,
			).toBe(true);
			expect(
				subscriber.events,
				`${subscriber.id}: what the subscriber saw across the stops`,
			).toEqual(full?.events ?? []);
		}
		const rolledBackTypes = fullReads.find(({ workflow }) => workflow === "rollback")?.events;
		expect(rolledBackTypes?.map(({ type }) => type)).toEqual(
			expect.arrayContaining(["rollback_started", "rollback_completed", "workflow_errored"]),
		);
		expect(
			followers.reduce((sum, { resumed }) => sum + resumed, 0),
			"subscribers resumed from their cursors",
		).toBeGreaterThan(0);

		// The cut batches: every instance that exists ran once and completed, and is listed.
		const batchRecords = all.filter((record) => record.step === "batch-ran");
		expect(
			batchAnswers
				.filter(({ status, output }) => {
					const params = output as unknown as BatchParams | undefined;
					return (
						status !== "complete" || (params?.form !== "instances" && params?.form !== "count")
					);
				})
				.map(({ id, status }) => `${id}: ${status}`),
			"every instance of the cut batches complete",
		).toEqual([]);
		expect(
			[...new Set(batchRecords.map(({ instance }) => instance))].sort(),
			"the batch instances that ran are those that exist",
		).toEqual([...batchInstances].sort());
		expect(
			batchListing.map(({ id, status }) => `${id} ${status}`).sort(),
			"the batch workflow's listing",
		).toEqual(batchInstances.map((id) => `${id} complete`).sort());

		// The limited workflow: complete, exactly once, never over its limit, queued across the stops.
		expect(show(limitedAnalysis.problems.finalState), "every limited instance complete").toBe("");
		expect(
			show(limitedAnalysis.problems.exactlyOnce),
			"each limited instance's steps ran to completion exactly once as journaled",
		).toBe("");
		expect(
			show(limitedAnalysis.problems.overLimit),
			`never more than ${LIMIT} limited instances inside a step`,
		).toBe("");
		expect(
			limitedListing.map(({ id, status }) => `${id} ${status}`).sort(),
			"the limited workflow's listing",
		).toEqual(limitedIds.map((id) => `${id} complete`).sort());
		expect(
			limitedAnalysis.counts.notStartedAtStop.at(-1),
			"limited instances queued at the last stop started after it, with no request",
		).toBeGreaterThan(0);
		expect(
			limitedAnalysis.counts.maxInside,
			"limited instances were inside their steps together",
		).toBeGreaterThan(1);

		// The schedule: one instance per tick, run once; missed ticks only in a downtime.
		expect(show(ticks.problems.finalState), "every tick's instance complete, as its tick").toBe("");
		expect(show(ticks.problems.exactlyOnce), "each tick's step ran once as journaled").toBe("");
		expect(show(ticks.problems.ticks), "every minute has its instance, or its catch-up").toBe("");
		expect(tickTimes[0], "the first tick after the scheduler started").toBeLessThanOrEqual(
			firstTick(scheduledFrom),
		);
		expect(tickTimes.length, "ticks in two minutes at least").toBeGreaterThan(1);
		expect(
			tickListing
				.map(({ id }) => id)
				.filter((id) => tickTime(id) <= (tickTimes.at(-1) ?? 0))
				.sort(),
			"the scheduled workflow's listing has one instance per tick",
		).toEqual(tickIds);
		passed = true;
	});
});
