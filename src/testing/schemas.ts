/** Validation of the test kit's arguments: a bad call fails at once, naming what is wrong. */
import * as z from "zod/mini";
import { stepNameSchema } from "../schemas.js";

export { instanceStatusSchema } from "../schemas.js";

/** `{ name, index? }`: a step by name and which call of that name it is (1-based, default 1). */
export const stepSelectorSchema = z.strictObject({
	name: stepNameSchema,
	index: z._default(
		z.number().check(z.int(), z.gte(1, "index is 1-based: the first step of a name is index 1")),
		1,
	),
});

/** An optional list of steps: without one, a modification applies to every step of its kind. */
export const stepsSchema = z.optional(z.array(stepSelectorSchema));

/** How many attempts a mocked failure applies to: omitted means every attempt. */
export const timesSchema = z.optional(
	z.number().check(z.int(), z.gte(1, "times must be at least 1")),
);
