/// <reference types="node" />
/**
 * The crash test's analysis (harness.ts `analyse`) checked on hand-made histories: a clean one
 * passes, and each kind of violation the crash test looks for is reported under its guarantee.
 * This keeps the crash test from passing vacuously if a check stops looking.
 */
import { describe, expect, it } from "vitest";
import {
	analyse,
	analyseLimited,
	analyseRollbacks,
	analyseTicks,
	type InstanceStatusAnswer,
	type Planned,
	type RollbackStepHistory,
} from "./harness";
import {
	type CrashOutput,
	DO_STEPS,
	type DoStep,
	type ExecutionRecord,
	LIMITED_STEPS,
	type LimitedOutput,
	PREVIOUS,
	ROLLBACK_ERROR,
	SCHEDULE,
	type TickOutput,
} from "./protocol";

const BOOTS = ["boot-0", "boot-1"];
const params = { nap1Ms: 1_000, nap2Ms: 1_000, failures: 1, retryDelayMs: 300, longMs: 2_000 };

/** One instance's history: every step runs once (the flaky one fails once first), in runtime 0. */
function cleanHistory(id = "i0") {
	const records: ExecutionRecord[] = [];
	const tokens = {} as Record<DoStep, string>;
	let at = 1_000_000;
	let seq = 0;
	const push = (record: Omit<ExecutionRecord, "seq" | "instance" | "data">) =>
		records.push({ ...record, seq: ++seq, instance: id, data: null });
	for (const step of DO_STEPS) {
		const previous = PREVIOUS[step];
		const prev = previous === null ? "" : tokens[previous];
		if (step === "flaky" || step === "quick-3") at += 1_000; // after nap-1, nap-2
		let attempt = 1;
		if (step === "flaky") {
			push({ step, kind: "started", token: "f1", attempt, prev, boot: "boot-0", at: at++ });
			push({ step, kind: "failed", token: "f1", attempt, prev, boot: "boot-0", at: at++ });
			at += params.retryDelayMs;
			attempt = 2;
		}
		const token = `${step}-token`;
		push({ step, kind: "started", token, attempt, prev, boot: "boot-0", at: at++ });
		push({ step, kind: "completed", token, attempt, prev, boot: "boot-0", at: at++ });
		tokens[step] = token;
	}
	const output: CrashOutput = {
		tokens: {
			"quick-1": tokens["quick-1"],
			"quick-2": tokens["quick-2"],
			flaky: tokens.flaky,
			"long-1": tokens["long-1"],
			"ready-for-late": tokens["ready-for-late"],
			"long-2": tokens["long-2"],
			"quick-3": tokens["quick-3"],
		},
		events: { early1: `${id}/early/1`, late1: `${id}/late/1`, early2: `${id}/early/2` },
	};
	const finish = records.findLast((r) => r.step === "finish" && r.kind === "completed");
	if (finish) finish.data = JSON.stringify(output);
	const plan: Planned[] = [
		{ id, params, sent: { early: [`${id}/early/1`, `${id}/early/2`], late: [`${id}/late/1`] } },
	];
	const answers: InstanceStatusAnswer[] = [{ id, status: "complete", output }];
	return { records, output, plan, answers };
}

const find = (records: ExecutionRecord[], step: DoStep, kind: ExecutionRecord["kind"]) => {
	const record = records.find((r) => r.step === step && r.kind === kind);
	if (!record) throw new Error(`no ${kind} record of ${step}`);
	return record;
};

function problemsOf(history: ReturnType<typeof cleanHistory>) {
	const { problems } = analyse(history.plan, history.records, history.answers, BOOTS);
	return Object.fromEntries(Object.entries(problems).filter(([, list]) => list.length > 0));
}

describe("the crash test's analysis", () => {
	it("finds nothing wrong with a clean history", () => {
		const history = cleanHistory();
		expect(problemsOf(history)).toEqual({});
		const { counts } = analyse(history.plan, history.records, history.answers, BOOTS);
		expect(counts).toMatchObject({ plannedFailures: 1, cutOffAttempts: 0, eventsDelivered: 3 });
	});

	it("accepts an attempt cut off in an earlier runtime, and one whose result the kill kept from the journal", () => {
		const history = cleanHistory();
		const journaled = find(history.records, "long-1", "started");
		const prev = journaled.prev;
		// Both before the journaled attempt, in runtime 0, which was killed.
		history.records.push(
			{ ...journaled, seq: journaled.seq - 0.5, token: "cut", boot: "boot-0" },
			{ ...journaled, seq: journaled.seq - 0.4, token: "lost", boot: "boot-0", prev },
			{ ...journaled, seq: journaled.seq - 0.3, token: "lost", kind: "completed", boot: "boot-0" },
		);
		for (const r of history.records)
			if (r.step === "long-1" && r.seq >= journaled.seq) r.boot = "boot-1";
		history.records.sort((a, b) => a.seq - b.seq);
		// Attempt numbers go up: cut (1), lost (2), journaled (3).
		const [cut, lost, lostEnd] = history.records.filter(
			(r) => r.token === "cut" || r.token === "lost",
		);
		if (!cut || !lost || !lostEnd) throw new Error("setup");
		cut.attempt = 1;
		lost.attempt = 2;
		lostEnd.attempt = 2;
		journaled.attempt = 3;
		expect(problemsOf(history)).toEqual({});
		const { counts } = analyse(history.plan, history.records, history.answers, BOOTS);
		expect(counts).toMatchObject({ cutOffAttempts: 1, rerunSteps: 1, completedNotJournaled: 1 });
	});

	it("reports a step that ran again after its result was journaled", () => {
		const history = cleanHistory();
		const journaled = find(history.records, "quick-2", "started");
		history.records.push({ ...journaled, seq: 999, token: "again", attempt: 2 });
		expect(problemsOf(history)).toHaveProperty("exactlyOnceResults");
	});

	it("reports a step that completed twice in one runtime", () => {
		const history = cleanHistory();
		const journaled = find(history.records, "quick-2", "started");
		history.records.unshift(
			{ ...journaled, seq: 0.1, token: "twice", attempt: 0 },
			{ ...journaled, seq: 0.2, token: "twice", attempt: 0, kind: "completed" },
		);
		expect(problemsOf(history)).toHaveProperty("exactlyOnceResults");
	});

	it("reports an attempt left unfinished in the runtime that was never stopped", () => {
		const history = cleanHistory();
		const journaled = find(history.records, "long-2", "started");
		history.records.unshift({ ...journaled, seq: 0.1, token: "hung", attempt: 0, boot: "boot-1" });
		expect(problemsOf(history)).toHaveProperty("atLeastOnce");
	});

	it("reports an attempt that got another result from the step before it", () => {
		const history = cleanHistory();
		find(history.records, "quick-3", "started").prev = "not-the-journaled-token";
		expect(problemsOf(history)).toHaveProperty("replayConsistency");
	});

	it("reports attempt numbers that go back", () => {
		const history = cleanHistory();
		find(history.records, "flaky", "started").attempt = 2;
		expect(problemsOf(history)).toHaveProperty("durableAttempts");
	});

	it("reports a sleep or a retry delay cut short", () => {
		const short = cleanHistory();
		const flaky = short.records.filter((r) => r.step === "flaky");
		for (const r of flaky) r.at -= 900;
		expect(problemsOf(short)).toHaveProperty("durableTimers");
		const retry = cleanHistory();
		const second = retry.records.filter((r) => r.step === "flaky" && r.attempt === 2);
		for (const r of second) r.at -= params.retryDelayMs;
		expect(problemsOf(retry)).toHaveProperty("durableTimers");
	});

	it("reports events lost, delivered twice or out of order", () => {
		const swapped = cleanHistory();
		swapped.answers[0]?.output &&
			Object.assign((swapped.answers[0].output as CrashOutput).events, {
				early1: "i0/early/2",
				early2: "i0/early/1",
			});
		expect(problemsOf(swapped)).toHaveProperty("events");
		const twice = cleanHistory();
		twice.answers[0]?.output &&
			Object.assign((twice.answers[0].output as CrashOutput).events, { early2: "i0/early/1" });
		expect(problemsOf(twice).events).toEqual(
			expect.arrayContaining([
				"event i0/early/1 was delivered 2 times",
				"event i0/early/2 was sent (and acknowledged) but never delivered",
			]),
		);
	});

	it("reports an instance that did not complete", () => {
		const history = cleanHistory();
		history.answers[0] = { id: "i0", status: "running" };
		expect(problemsOf(history)).toHaveProperty("finalState");
	});
});

/**
 * One rollback instance's history, in runtime 0: "reserve" and "charge" complete, "ship" fails,
 * then the handlers of "ship", "charge" and "reserve" run once each.
 */
function rollbackHistory(id = "r0") {
	const records: ExecutionRecord[] = [];
	let seq = 0;
	const push = (record: Partial<ExecutionRecord> & Pick<ExecutionRecord, "step" | "kind">) =>
		records.push({
			seq: ++seq,
			instance: id,
			token: "",
			attempt: 0,
			prev: "",
			boot: "boot-0",
			at: 1_000_000 + seq,
			data: null,
			...record,
		});
	for (const name of ["reserve", "charge", "ship"] as const) {
		const token = `${name}-token`;
		push({ step: `fwd:${name}`, kind: "started", token, attempt: 1 });
		push({
			step: `fwd:${name}`,
			kind: name === "ship" ? "failed" : "completed",
			token,
			attempt: 1,
		});
	}
	for (const name of ["ship", "charge", "reserve"] as const) {
		const undo = {
			token: `undo-${name}`,
			prev: name === "ship" ? "" : `${name}-token`,
			data: ROLLBACK_ERROR,
		};
		push({ step: `undo:${name}`, kind: "started", ...undo });
		push({ step: `undo:${name}`, kind: "completed", ...undo });
	}
	const answers: InstanceStatusAnswer[] = [
		{ id, status: "errored", error: { name: "NonRetryableError", message: ROLLBACK_ERROR } },
	];
	const histories = new Map<string, RollbackStepHistory[]>([
		[
			id,
			["ship", "charge", "reserve"].map((name) => ({
				name,
				state: "complete",
				attempts: 1,
				interruptedAttempts: 0,
			})),
		],
	]);
	return { id, records, answers, histories };
}

function rollbackProblems(history: ReturnType<typeof rollbackHistory>) {
	const { problems } = analyseRollbacks(
		[history.id],
		history.records,
		history.answers,
		history.histories,
		BOOTS,
	);
	return Object.fromEntries(Object.entries(problems).filter(([, list]) => list.length > 0));
}

const undoRecord = (records: ExecutionRecord[], name: string, kind: ExecutionRecord["kind"]) => {
	const record = records.find((r) => r.step === `undo:${name}` && r.kind === kind);
	if (!record) throw new Error(`no ${kind} record of undo:${name}`);
	return record;
};

describe("the crash test's analysis of rollbacks", () => {
	it("finds nothing wrong with a clean rollback", () => {
		expect(rollbackProblems(rollbackHistory())).toEqual({});
	});

	it("accepts a handler cut off, or completed but not journaled, in a runtime that was killed, then run again", () => {
		const history = rollbackHistory();
		const started = undoRecord(history.records, "charge", "started");
		history.records.push(
			{ ...started, seq: started.seq - 0.5, token: "cut" },
			{ ...started, seq: started.seq - 0.4, token: "lost" },
			{ ...started, seq: started.seq - 0.3, token: "lost", kind: "completed" },
		);
		for (const r of history.records) if (r.seq >= started.seq) r.boot = "boot-1";
		history.records.sort((a, b) => a.seq - b.seq);
		expect(rollbackProblems(history)).toEqual({});
		const { counts } = analyseRollbacks(
			[history.id],
			history.records,
			history.answers,
			history.histories,
			BOOTS,
		);
		expect(counts).toMatchObject({ handlerRuns: 5, handlersCutOff: 1, completedNotJournaled: 1 });
	});

	it("reports a handler that ran again after its completion was journaled", () => {
		const history = rollbackHistory();
		const done = undoRecord(history.records, "ship", "completed");
		// Completed twice in the same runtime: the first completion was journaled, yet it ran again.
		history.records.push({ ...done, seq: done.seq + 0.1, kind: "started", token: "again" });
		history.records.push({ ...done, seq: done.seq + 0.2, token: "again" });
		history.records.sort((a, b) => a.seq - b.seq);
		expect(rollbackProblems(history)).toHaveProperty("exactlyOnceHandlers");
	});

	it("reports a handler run left unfinished in the runtime that was never stopped", () => {
		const history = rollbackHistory();
		const started = undoRecord(history.records, "reserve", "started");
		history.records.push({ ...started, seq: started.seq - 0.5, token: "hung", boot: "boot-1" });
		history.records.sort((a, b) => a.seq - b.seq);
		expect(rollbackProblems(history)).toHaveProperty("exactlyOnceHandlers");
	});

	it("reports handlers out of reverse step-start order", () => {
		const history = rollbackHistory();
		for (const r of history.records) {
			if (r.step === "undo:reserve") r.seq -= 4; // before charge's handler
		}
		history.records.sort((a, b) => a.seq - b.seq);
		expect(rollbackProblems(history)).toHaveProperty("reverseOrder");
	});

	it("reports a handler given another output or error than its step's journaled one", () => {
		const output = rollbackHistory();
		undoRecord(output.records, "charge", "started").prev = "recomputed-token";
		expect(rollbackProblems(output)).toHaveProperty("forwardResults");
		const error = rollbackHistory();
		undoRecord(error.records, "ship", "completed").data = "another error";
		expect(rollbackProblems(error)).toHaveProperty("forwardResults");
	});

	it("reports an instance that did not end errored, or whose history misses a rollback step", () => {
		const status = rollbackHistory();
		status.answers[0] = { id: "r0", status: "rollingBack" };
		expect(rollbackProblems(status)).toHaveProperty("finalState");
		const history = rollbackHistory();
		history.histories.set("r0", []);
		expect(rollbackProblems(history)).toHaveProperty("finalState");
	});
});

// ---- the limited workflow ----

/**
 * Limited instances l0..l<n-1>, created in runtime 0; each runs its two steps in `boot` (by
 * instance), `width` instances at a time: the records of one group's steps overlap, the next
 * group's come after them.
 */
function limitedHistory(n: number, width: number, bootOf: (i: number) => string = () => "boot-0") {
	const records: ExecutionRecord[] = [];
	const answers: InstanceStatusAnswer[] = [];
	let seq = 0;
	const push = (instance: string, step: string, kind: ExecutionRecord["kind"], i: number) =>
		records.push({
			seq: ++seq,
			instance,
			step: step as ExecutionRecord["step"],
			kind,
			token: `${instance}/${step}`,
			attempt: 1,
			prev: "",
			boot: bootOf(i),
			at: seq,
			data: null,
		});
	for (let group = 0; group < n; group += width) {
		const members = Array.from({ length: Math.min(width, n - group) }, (_, k) => group + k);
		for (const step of LIMITED_STEPS) {
			for (const i of members) push(`l${i}`, step, "started", i);
			for (const i of members) push(`l${i}`, step, "completed", i);
		}
	}
	for (let i = 0; i < n; i++) {
		const output: LimitedOutput = {
			tokens: { "slot-1": `l${i}/slot-1`, "slot-2": `l${i}/slot-2` },
		};
		answers.push({ id: `l${i}`, status: "complete", output });
	}
	const createdIn = new Map(answers.map(({ id }) => [id, 0]));
	return { records, answers, createdIn };
}

function limitedProblems(history: ReturnType<typeof limitedHistory>, limit = 2) {
	const { problems } = analyseLimited(
		history.createdIn,
		history.records,
		history.answers,
		BOOTS,
		limit,
	);
	return Object.fromEntries(Object.entries(problems).filter(([, list]) => list.length > 0));
}

describe("the crash test's analysis of a concurrency limit", () => {
	it("finds nothing wrong with instances inside their steps at most `limit` at a time", () => {
		const history = limitedHistory(6, 2);
		expect(limitedProblems(history)).toEqual({});
		const { counts } = analyseLimited(
			history.createdIn,
			history.records,
			history.answers,
			BOOTS,
			2,
		);
		expect(counts.maxInside).toBe(2);
	});

	it("reports more instances inside a step at once than the limit", () => {
		expect(limitedProblems(limitedHistory(6, 3))).toHaveProperty("overLimit");
	});

	it("counts an attempt cut off by a stop as inside its step until its runtime ends, not after", () => {
		const history = limitedHistory(4, 2, (i) => (i < 2 ? "boot-0" : "boot-1"));
		// l0's first attempt of slot-2 was cut off in runtime 0 (its journaled one ran in runtime 1).
		const journaled = history.records.find((r) => r.instance === "l0" && r.step === "slot-2");
		if (!journaled) throw new Error("setup");
		history.records.push({ ...journaled, seq: 0.5, token: "cut" });
		history.records.sort((a, b) => a.seq - b.seq);
		// In runtime 0, the cut attempt makes a third instance inside a step beside l0 and l1? No: it
		// is l0's own. A third instance's cut attempt does.
		expect(limitedProblems(history)).toEqual({});
		const third = limitedHistory(4, 2, (i) => (i < 2 ? "boot-0" : "boot-1"));
		third.records.push({ ...journaled, instance: "l2", step: "slot-1", seq: 0.5, token: "cut" });
		third.records.sort((a, b) => a.seq - b.seq);
		expect(limitedProblems(third)).toHaveProperty("overLimit");
		// Cut off in runtime 0 and followed by runtime 1's records: it does not count there.
		const ended = limitedHistory(4, 2, (i) => (i < 2 ? "boot-0" : "boot-1"));
		const last0 = Math.max(...ended.records.filter((r) => r.boot === "boot-0").map((r) => r.seq));
		ended.records.push({
			...journaled,
			instance: "l2",
			step: "slot-1",
			seq: last0 + 0.5,
			token: "cut",
		});
		ended.records.sort((a, b) => a.seq - b.seq);
		expect(limitedProblems(ended)).toEqual({});
		const counts = analyseLimited(ended.createdIn, ended.records, ended.answers, BOOTS, 2).counts;
		expect(counts.notStartedAtStop).toEqual([1]); // l3 started in runtime 1 only
	});

	it("reports an instance not complete, and a step run again after its journaled result", () => {
		const status = limitedHistory(2, 2);
		status.answers[1] = { id: "l1", status: "queued" };
		expect(limitedProblems(status)).toHaveProperty("finalState");
		const again = limitedHistory(2, 1);
		const done = again.records.find((r) => r.instance === "l0" && r.kind === "completed");
		if (!done) throw new Error("setup");
		again.records.push({ ...done, kind: "started", token: "again", seq: done.seq + 0.5 });
		again.records.sort((a, b) => a.seq - b.seq);
		expect(limitedProblems(again)).toHaveProperty("exactlyOnce");
	});
});

// ---- the scheduled workflow ----

const MINUTE = 60_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE);

/** Ticks at these minutes after T0, each run once in the runtime `bootOf` says. */
function tickHistory(minutes: number[], bootOf: (minute: number) => string = () => "boot-0") {
	const records: ExecutionRecord[] = [];
	const answers: InstanceStatusAnswer[] = [];
	let seq = 0;
	for (const minute of minutes) {
		const scheduledTime = T0 + minute * MINUTE;
		const id = `${SCHEDULE}-${scheduledTime}`;
		const schedule = { cron: SCHEDULE, scheduledTime };
		const data = JSON.stringify(schedule);
		for (const kind of ["started", "completed"] as const) {
			records.push({
				seq: ++seq,
				instance: id,
				step: "tick",
				kind,
				token: `${id}/tick`,
				attempt: 1,
				prev: "",
				boot: bootOf(minute),
				at: scheduledTime,
				data,
			});
		}
		const output: TickOutput = { schedule, token: `${id}/tick` };
		answers.push({ id, status: "complete", output });
	}
	return { records, answers, ids: answers.map(({ id }) => id) };
}

/** Runtime 0 up from T0 - 30 s to minute `stop` + 10 s; runtime 1 up from `up` on. */
function tickProblems(history: ReturnType<typeof tickHistory>, stop = 10, up = 10.5) {
	const ups = [T0 - 30_000, T0 + up * MINUTE];
	const stops = [T0 + stop * MINUTE + 10_000];
	const { problems } = analyseTicks(
		history.ids,
		history.records,
		history.answers,
		BOOTS,
		ups,
		stops,
	);
	return Object.fromEntries(Object.entries(problems).filter(([, list]) => list.length > 0));
}

describe("the crash test's analysis of a schedule", () => {
	it("finds nothing wrong with one instance a minute, and a catch-up run after a downtime", () => {
		expect(tickProblems(tickHistory([0, 1, 2, 3]))).toEqual({});
		// Runtime 0 stopped after minute 2; minutes 3 and 4 passed in the downtime; 4 was caught up.
		const bootOf = (minute: number) => (minute <= 2 ? "boot-0" : "boot-1");
		expect(tickProblems(tickHistory([0, 1, 2, 4, 5], bootOf), 2, 4.5)).toEqual({});
	});

	it("reports a minute without its instance while a runtime was up", () => {
		expect(tickProblems(tickHistory([0, 1, 3]))).toHaveProperty("ticks");
	});

	it("reports more than one catch-up run after a downtime", () => {
		const bootOf = (minute: number) => (minute <= 2 ? "boot-0" : "boot-1");
		expect(tickProblems(tickHistory([0, 1, 2, 3, 4, 5], bootOf), 2, 4.5)).toHaveProperty("ticks");
	});

	it("reports a wrong event.schedule, an unfinished instance, and a tick's step run twice", () => {
		const schedule = tickHistory([0, 1]);
		const output = schedule.answers[1]?.output as TickOutput;
		output.schedule = { cron: SCHEDULE, scheduledTime: T0 };
		expect(tickProblems(schedule)).toHaveProperty("finalState");
		const status = tickHistory([0, 1]);
		status.answers[0] = { id: status.ids[0] as string, status: "running" };
		expect(tickProblems(status)).toHaveProperty("finalState");
		const twice = tickHistory([0, 1]);
		const first = twice.records[1] as ExecutionRecord;
		twice.records.push({ ...first, seq: 2.5, kind: "started", token: "again" });
		twice.records.push({ ...first, seq: 2.6, kind: "completed", token: "again" });
		twice.records.sort((a, b) => a.seq - b.seq);
		expect(tickProblems(twice)).toHaveProperty("exactlyOnce");
	});
});
