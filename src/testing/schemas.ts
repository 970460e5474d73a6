/** Validation of the test kit's arguments: a bad call fails at once, naming what is wrong. */
import { z } from "zod";
import { stepNameSchema } from "../limits.js";

export { instanceStatusSchema } from "../limits.js";

/** `{ name, index? }`: a step by name and which call of that name it is (1-based, default 1). */
export const stepSelectorSchema = z
	.object({
		name: stepNameSchema,
		index: z
			.number()
			.int()
			.min(1, "index is 1-based: the first step of a name is index 1")
			.default(1),
	})
	.strict();

/** An optional list of steps: without one, a modification applies to every step of its kind. */
export const stepsSchema = z.array(stepSelectorSchema).optional();

/** How many attempts a mocked failure applies to: omitted means every attempt. */
export const timesSchema = z.number().int().min(1, "times must be at least 1").optional();
