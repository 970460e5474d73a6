import { describe, expect, it } from "vitest";
import { calls, start, waitForStatus } from "./helpers";

describe("step.do", () => {
	it("runs steps in order, returns their results and completes with run()'s output", async () => {
		const instance = await start("basic");
		const status = await waitForStatus(instance, "complete");
		expect(status.output).toEqual({ a: 1, b: 2 });
		expect(await calls(instance.id)).toEqual({ first: 1, second: 1 });
	});
});
