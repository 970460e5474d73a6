import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkflowTimeoutError } from "../src";
import { AttemptDeadlines } from "../src/step/deadlines";

const never = new Promise<never>(() => {});
const message = (name: string) => () => `${name} timed out`;

describe("AttemptDeadlines (one timer for a run's step timeouts)", () => {
	afterEach(() => vi.restoreAllMocks());

	it("fails each attempt at its own deadline, whatever order they started in", async () => {
		const deadlines = new AttemptDeadlines();
		const ended: string[] = [];
		const note = (name: string) => (error: Error) => {
			expect(error).toBeInstanceOf(WorkflowTimeoutError);
			ended.push(error.message);
			return name;
		};
		const late = deadlines.within(never, 80, message("late")).catch(note("late"));
		const early = deadlines.within(never, 20, message("early")).catch(note("early"));
		const done = deadlines.within(Promise.resolve("done"), 10, message("done"));
		expect(await done).toBe("done");
		expect(await early).toBe("early");
		expect(ended).toEqual(["early timed out"]);
		expect(await late).toBe("late");
		expect(ended).toEqual(["early timed out", "late timed out"]);
	});

	it("sets one timer for attempts whose deadlines come later, and drops it once idle", async () => {
		const set = vi.spyOn(globalThis, "setTimeout");
		const cleared = vi.spyOn(globalThis, "clearTimeout");
		const deadlines = new AttemptDeadlines();
		for (let i = 0; i < 5; i++) {
			expect(await deadlines.within(Promise.resolve(i), 60_000, message("step"))).toBe(i);
		}
		expect(set).toHaveBeenCalledTimes(1);
		const pending = deadlines.within(never, 60_000, message("pending"));
		deadlines.idle();
		// An attempt is still pending: the timer stays.
		expect(cleared).not.toHaveBeenCalled();
		deadlines.clear();
		expect(cleared).toHaveBeenCalledTimes(1);
		deadlines.idle();
		expect(cleared).toHaveBeenCalledTimes(1);
		void pending;
	});
});
