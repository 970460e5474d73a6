/**
 * The step state machine (src/engine/steps.ts): the journal moves a step only from the states its
 * transition allows, in the same statement, and refuses any other move without writing anything.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { WorkflowEngine } from "../src";
import { STEP_MOVES, StepMoveError, StepState } from "../src/engine/steps";
import { engineStub, scenarioWorkflow, uniqueId, waitForStatus } from "./helpers";

describe("step moves", () => {
	it("refuses every move out of a finished step, and leaves the step as it was", async () => {
		const instance = await scenarioWorkflow.create({
			id: uniqueId("moves"),
			params: { scenario: "basic" },
		});
		await waitForStatus(instance, "complete");
		await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) => {
			const journal = engine.journal;
			const done = journal.steps().find((step) => step.state === StepState.Done);
			if (!done) throw new Error("the basic scenario has no finished step");
			const before = JSON.stringify(journal.steps());
			const moves: [string, () => unknown][] = [
				["startAttempt", () => journal.startAttempt(done.seq, Date.now())],
				["succeed", () => journal.succeed(done.seq, 1, Date.now())],
				["scheduleRetry", () => journal.scheduleRetry(done.seq, Date.now(), 0)],
				["readyForRetry", () => journal.readyForRetry(done.seq)],
				["complete", () => journal.complete(done.seq, Date.now())],
				["fail", () => journal.fail(done.seq, { name: "E", message: "m" }, false, Date.now())],
			];
			for (const [move, attempt] of moves) {
				expect(attempt, move).toThrow(StepMoveError);
			}
			expect(JSON.stringify(journal.steps())).toBe(before);
		});
	});

	it("writes no value for a refused move, also one kept in the KV store", async () => {
		const instance = await scenarioWorkflow.create({
			id: uniqueId("moves-kv"),
			params: { scenario: "structured" },
		});
		// It sleeps an hour after its "rich" step.
		await waitForStatus(instance, "waiting");
		await runInDurableObject(engineStub(instance.id), (engine: WorkflowEngine) => {
			const journal = engine.journal;
			// Its output (a Date, a Map, a BigInt...) is kept in the KV store, not in its row.
			const done = journal.steps().find((step) => step.name === "rich");
			if (done?.state !== StepState.Done)
				throw new Error('the structured scenario has no "rich" step');
			const output = journal.stepOutput(done.seq);
			expect(() => journal.succeed(done.seq, new Date(0), Date.now())).toThrow(StepMoveError);
			const event = { payload: new Map([["a", 1]]), timestamp: new Date(0), type: "t" };
			expect(() => journal.deliver(done.seq, event, Date.now())).toThrow(StepMoveError);
			expect(journal.stepOutput(done.seq)).toEqual(output);
		});
	});

	it("lets no move leave Done or Failed", () => {
		for (const [move, { from }] of Object.entries(STEP_MOVES)) {
			expect(from, move).not.toContain(StepState.Done);
			expect(from, move).not.toContain(StepState.Failed);
		}
	});
});
