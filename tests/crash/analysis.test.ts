/// <reference types="node" />
/**
 * The crash test's analysis (harness.ts `analyse`) checked on hand-made histories: a clean one
 * passes, and each kind of violation the crash test looks for is reported under its guarantee.
 * This keeps the crash test from passing vacuously if a check stops looking.
 */
import { describe, expect, it } from "vitest";
import { analyse, type InstanceStatusAnswer, type Planned } from "./harness";
import {
	type CrashOutput,
	DO_STEPS,
	type DoStep,
	type ExecutionRecord,
	PREVIOUS,
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
			Object.assign(swapped.answers[0].output.events, {
				early1: "i0/early/2",
				early2: "i0/early/1",
			});
		expect(problemsOf(swapped)).toHaveProperty("events");
		const twice = cleanHistory();
		twice.answers[0]?.output &&
			Object.assign(twice.answers[0].output.events, { early2: "i0/early/1" });
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
