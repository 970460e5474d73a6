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
				["scheduleRetry", () => journal.scheduleRetry(done.seq, Date.now())],
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

	it("lets no move leave Done or Failed", () => {
		for (const [move, { from }] of Object.entries(STEP_MOVES)) {
			expect(from, move).not.toContain(StepState.Done);
			expect(from, move).not.toContain(StepState.Failed);
		}
	});
});
