/**
 * The zod schemas that check input against the product's limits (limits.ts) at the call that
 * received it, `parse`, which turns their failures into WorkflowValidationErrors naming the limit,
 * and the check of whether a value can be stored.
 */
// zod/mini, imported as a namespace: esbuild then keeps only the functions used (about 70 KiB of
// zod in the example Worker). `import { z } from "zod"` kept all of zod (760 KiB), and so would
// `import { z } from "zod/mini"`: a namespace object imported by name is bundled whole.
import { en } from "zod/locales";
import * as z from "zod/mini";
import { EVENT_TYPES } from "./engine/events.js";
import { PUBLIC_STATUSES } from "./engine/status.js";
import { WorkflowValidationError } from "./errors.js";
import {
	DEFAULT_EVENT_TIMEOUT_MS,
	DEFAULT_HISTORY_LIMIT,
	DEFAULT_HISTORY_VALUE_BYTES,
	DEFAULT_LIST_LIMIT,
	HISTORY_PAGE_BYTES,
	ID_PATTERN,
	MAX_CONCURRENCY_LIMIT,
	MAX_EVENT_TYPE_LENGTH,
	MAX_HISTORY_LIMIT,
	MAX_INSTANCE_ID_LENGTH,
	MAX_LIST_LIMIT,
	MAX_SLEEP_MS,
	MAX_STEP_NAME_LENGTH,
	MAX_STEP_OUTPUT_BYTES_OPTION,
	MAX_STREAM_OUTPUT_BYTES,
	MAX_VALUE_BYTES,
	MAX_VALUE_DEPTH,
	MAX_WORKFLOW_NAME_LENGTH,
} from "./limits.js";
import { isScheduledInstanceId } from "./schedules/cron.js";

import { measureValue } from "./serialized-size.js";

const UNIT_MS = {
	second: 1000,
	minute: 60_000,
	hour: 3_600_000,
	day: 86_400_000,
	week: 7 * 86_400_000,
	month: 30 * 86_400_000,
	year: 365 * 86_400_000,
} as const;

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week|month|year)s?\s*$/;

/**
 * A duration as the product accepts it: milliseconds, or "<n> second|minute|hour|day|week|month|year[s]".
 * Parsed to milliseconds. A month counts as 30 days, a year as 365.
 */
export const durationSchema = z.pipe(
	z.unknown(),
	z.transform((input, ctx) => {
		if (typeof input === "number") {
			if (Number.isFinite(input) && input >= 0) return input;
			ctx.issues.push({
				code: "custom",
				input,
				message: `must not be negative or infinite, got ${input}`,
			});
			return z.NEVER;
		}
		const match = typeof input === "string" ? DURATION_PATTERN.exec(input) : null;
		if (!match) {
			ctx.issues.push({
				code: "custom",
				input,
				message: `must be a number of milliseconds or "<n> second|minute|hour|day|week|month|year[s]", got ${JSON.stringify(input)}`,
			});
			return z.NEVER;
		}
		const [, amount, unit] = match;
		return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
	}),
);

const namePattern = (what: string, max: number) =>
	z
		.string(`${what} must be a string`)
		.check(
			z.minLength(1, { message: `${what} must not be empty`, abort: true }),
			z.maxLength(max, { message: `${what} must be at most ${max} characters`, abort: true }),
			z.regex(ID_PATTERN, `${what} must match ${ID_PATTERN.source}`),
		);

export const instanceIdSchema = namePattern("instance id", MAX_INSTANCE_ID_LENGTH);
/** A schedule's cron expression, as the schedule operations take it to name one. */
export const cronArgumentSchema = z
	.string("cron expression must be a string")
	.check(z.minLength(1, "cron expression must not be empty"));

/**
 * The id of an existing instance, as get(), the operations and the admin API take it: one
 * create() accepts, or the id a schedule's tick gave its instance (`<cron>-<time>`, which has
 * spaces, as in the product).
 */
export const instanceRefSchema = z.string("instance id must be a string").check(
	z.superRefine((id, ctx) => {
		if (isScheduledInstanceId(id)) return;
		const result = z.safeParse(instanceIdSchema, id);
		if (result.success) return;
		for (const issue of result.error.issues)
			ctx.issues.push({ code: "custom", input: id, message: issue.message });
	}),
);
export const workflowNameSchema = namePattern("workflow name", MAX_WORKFLOW_NAME_LENGTH);
export const stepNameSchema = z
	.string("step name must be a string")
	.check(
		z.minLength(1, "step name must not be empty"),
		z.maxLength(
			MAX_STEP_NAME_LENGTH,
			`step name must be at most ${MAX_STEP_NAME_LENGTH} characters`,
		),
	);

export const eventTypeSchema = z
	.string("event type must be a string")
	.check(
		z.minLength(1, { message: "event type must not be empty", abort: true }),
		z.maxLength(
			MAX_EVENT_TYPE_LENGTH,
			`event type must be at most ${MAX_EVENT_TYPE_LENGTH} characters`,
		),
	);

/** `step.waitForEvent` options, with the default timeout filled in. */
export const waitOptionsSchema = z.strictObject({
	type: eventTypeSchema,
	timeout: z._default(
		durationSchema.check(z.refine((ms) => ms <= MAX_SLEEP_MS, "must be at most 365 days")),
		DEFAULT_EVENT_TIMEOUT_MS,
	),
});

/** `instance.subscribe` options (workers-types 5's WorkflowInstanceSubscribeOptions). */
export const subscribeOptionsSchema = z.strictObject({
	cursor: z.optional(z.number().check(z.int(), z.gte(0))),
	filter: z.optional(
		z.array(z.enum(EVENT_TYPES as [WorkflowInstanceEventType, ...WorkflowInstanceEventType[]])),
	),
});

/** `instance.sendEvent` arguments; the payload's size and serialisability are checked separately. */
export const sendEventSchema = z.strictObject({ type: eventTypeSchema, payload: z.unknown() });

export const backoffSchema = z.enum(["constant", "linear", "exponential"]);

/** `WorkflowStepConfig`, with the documented defaults filled in and durations in milliseconds. */
export const stepConfigSchema = z.strictObject({
	retries: z.optional(
		z.strictObject({
			// The product accepts Infinity: retry until the step succeeds.
			limit: z.number().check(
				z.nonnegative(),
				z.refine(
					(n) => Number.isInteger(n) || n === Number.POSITIVE_INFINITY,
					"must be an integer or Infinity",
				),
			),
			// A duration, or a function of the failed attempt that returns one (resolved per retry).
			delay: z.union([
				z.custom<DelayFunction>((value) => typeof value === "function"),
				durationSchema,
			]),
			backoff: z.optional(backoffSchema),
		}),
	),
	timeout: z.optional(durationSchema.check(z.refine((ms) => ms > 0, "must be more than 0"))),
	sensitive: z.optional(z.literal("output")),
});

/** `retries.delay` as a function: the delay before the next attempt, from the failed one. */
export type DelayFunction = (input: {
	ctx: WorkflowStepContext;
	error: Error;
}) => WorkflowDelayDuration | Promise<WorkflowDelayDuration>;

type WorkflowStepContext = import("cloudflare:workers").WorkflowStepContext;
type WorkflowDelayDuration = import("cloudflare:workers").WorkflowSleepDuration;

export type ResolvedStepConfig = {
	retries: {
		limit: number;
		/** The delay that backoff starts from; a delay function's result replaces it per retry. */
		delayMs: number;
		delayFunction?: DelayFunction;
		backoff: z.infer<typeof backoffSchema>;
	};
	timeoutMs: number;
	/** `sensitive: "output"`: operators see the step's output redacted; run() gets it as it is. */
	sensitive: boolean;
};

const retentionSchema = z.strictObject({
	successRetention: z.optional(durationSchema),
	errorRetention: z.optional(durationSchema),
});

/** `WorkflowInstanceCreateOptions`; params are checked separately (size and serialisability). */
export const createOptionsSchema = z.strictObject({
	id: z.optional(instanceIdSchema),
	params: z.optional(z.unknown()),
	retention: z.optional(retentionSchema),
	// Newer product option: where the instance should run. Passed on to the engine object.
	locationHint: z.optional(
		z.enum([
			"wnam",
			"enam",
			"sam",
			"weur",
			"eeur",
			"apac",
			"apac-ne",
			"apac-se",
			"oc",
			"afr",
			"me",
		]),
	),
});

export const engineOptionsSchema = z.strictObject({
	name: workflowNameSchema,
	stepLimit: z.optional(z.number().check(z.int(), z.positive())),
	// The workflow's own default, as wrangler's `default_retention`; false keeps instances.
	defaultRetention: z.optional(z.union([z.literal(false), retentionSchema])),
	// Ours: structured step outputs over the product's 1 MiB, for engines that opt in.
	maxStepOutputBytes: z.optional(
		z
			.number()
			.check(
				z.int("maxStepOutputBytes must be an integer number of bytes"),
				z.gte(
					MAX_VALUE_BYTES,
					`maxStepOutputBytes must be at least ${MAX_VALUE_BYTES} (1 MiB, the product's limit, which applies without it)`,
				),
				z.lte(
					MAX_STEP_OUTPUT_BYTES_OPTION,
					`maxStepOutputBytes must be at most ${MAX_STEP_OUTPUT_BYTES_OPTION} (64 MiB); return a ReadableStream for larger outputs`,
				),
			),
	),
	// As wrangler's `workflows[].concurrency`: a positive integer (the product's account limit at most).
	concurrency: z.optional(
		z.strictObject({
			limit: z
				.number("concurrency.limit must be a number")
				.check(
					z.int("concurrency.limit must be an integer"),
					z.gte(1, "concurrency.limit must be at least 1"),
					z.lte(
						MAX_CONCURRENCY_LIMIT,
						`concurrency.limit must be at most ${MAX_CONCURRENCY_LIMIT} (the product's concurrent instances per account)`,
					),
				),
		}),
	),
	maxStreamOutputBytes: z.optional(
		z
			.number()
			.check(
				z.int("maxStreamOutputBytes must be an integer number of bytes"),
				z.gte(1, "maxStreamOutputBytes must be at least 1"),
				z.lte(
					MAX_STREAM_OUTPUT_BYTES,
					`maxStreamOutputBytes must be at most ${MAX_STREAM_OUTPUT_BYTES} (1 GiB, the product's limit on an instance's storage)`,
				),
			),
	),
	// As wrangler's `schedules`: one cron expression or a list; each checked by definition.ts.
	schedules: z.optional(
		z.union(
			[
				z.string("must be a cron expression").check(z.minLength(1, "must not be empty")),
				z.array(
					z
						.string("must be a list of cron expressions")
						.check(z.minLength(1, "must not contain an empty expression")),
				),
			],
			"must be a cron expression or a list of them",
		),
	),
});

/** Formats a zod error as one line: "<where>: <what>; ...". */
function describe(error: z.core.$ZodError, what: string): string {
	return error.issues
		.map((issue) => {
			const where = [what, ...issue.path].join(".");
			// Our own messages already name the value ("instance id must be ...").
			return issue.message.startsWith(where) ? issue.message : `${where}: ${issue.message}`;
		})
		.join("; ");
}

/**
 * zod's English messages, for the issues our schemas leave to zod ("Too small: expected number to
 * be >0"). zod/mini loads no locale by itself; passing this to each parse keeps the messages the
 * same without changing the global zod configuration of the Worker that imports us.
 */
const englishMessages = en().localeError;

/** Parses `input` with `schema`, or throws a {@link WorkflowValidationError} naming the limit. */
export function parse<S extends z.ZodMiniType>(
	schema: S,
	input: unknown,
	what: string,
): z.output<S> {
	const result = z.safeParse(schema, input, { error: englishMessages });
	if (!result.success) throw new WorkflowValidationError(describe(result.error, what));
	return result.data;
}

/**
 * Why a value cannot be stored: its size, if over the limit, or why cloning it failed. For a value
 * sent over RPC that holds an object RPC refuses (see {@link unsendable}), `unclonable` says what
 * the object is and `path` where it is (`""` for the value itself).
 */
export type Unstorable = { size: number } | { unclonable: string; path?: string };

/**
 * The one check of whether `value` can be stored: at most `maxBytes` in the structured-clone
 * format (default: 1 MiB), nested at most MAX_VALUE_DEPTH levels, and clonable at all. Undefined if it can be. A caller whose own write
 * clones the value passes `clone: false`, and learns of an unclonable value from the write. A
 * value that reaches the engine over RPC (params, event payloads) passes `sent: true`.
 */
export function unstorable(
	value: unknown,
	{ maxBytes = MAX_VALUE_BYTES, clone = true, sent = false } = {},
): Unstorable | undefined {
	const { bytes: size, depth } = measureValue(value);
	if (size > maxBytes) return { size };
	if (depth > MAX_VALUE_DEPTH) {
		return {
			unclonable: `it nests ${depth} levels deep; a stored value may nest at most ${MAX_VALUE_DEPTH} levels (deeper ones cannot be read back)`,
		};
	}
	if (!clone) return undefined;
	let copy: unknown;
	try {
		copy = structuredClone(value);
	} catch (error) {
		return { unclonable: (error as Error).message };
	}
	const found = sent ? unsendable(value, copy) : undefined;
	return found && { unclonable: found.what, path: found.path };
}

/**
 * The first object in `value` that RPC refuses though structured clone takes it: a class instance
 * (with private fields or getters or not), or an object whose prototype is null or another object.
 * structuredClone and storage copy such an object's own properties into a plain object; workerd's
 * RPC serialiser treats every object whose prototype is not Object.prototype as a host object and
 * fails with DataCloneError ("Could not serialize object of type ..."). `copy` is
 * structuredClone(value): the walk follows it, so it visits what serialisation visits, and it
 * finds exactly the objects the clone flattened (built-in types, Request or Date, keep their type).
 */
function unsendable(value: unknown, copy: unknown): { path: string; what: string } | undefined {
	type Node = { value: unknown; copy: unknown; path: string };
	const seen = new Set<object>();
	const stack: Node[] = [{ value, copy, path: "" }];
	try {
		while (stack.length > 0) {
			const { value: v, copy: c, path } = stack.pop() as Node;
			if (typeof c !== "object" || c === null || typeof v !== "object" || v === null) continue;
			if (seen.has(v)) continue;
			seen.add(v);
			const children: Node[] = [];
			const fields = (keys: string[]) => {
				for (const key of keys) {
					const at = Array.isArray(c)
						? `[${key}]`
						: /^[A-Za-z_$][\w$]*$/.test(key)
							? `.${key}`
							: `[${JSON.stringify(key)}]`;
					children.push({ value: Reflect.get(v, key), copy: Reflect.get(c, key), path: path + at });
				}
			};
			if (Array.isArray(c)) {
				fields(Object.keys(c));
			} else if (Object.getPrototypeOf(c) === Object.prototype) {
				const proto: unknown = Object.getPrototypeOf(v);
				if (proto !== Object.prototype) return { path, what: describeObject(proto) };
				fields(Object.keys(c));
			} else if (c instanceof Map) {
				const entries = [...Map.prototype.entries.call(v)];
				for (const [i, [key, entry]] of [...c].entries()) {
					children.push({ value: entries[i]?.[0], copy: key, path: `${path}<map key ${i}>` });
					children.push({ value: entries[i]?.[1], copy: entry, path: `${path}<map value ${i}>` });
				}
			} else if (c instanceof Set) {
				const entries = [...Set.prototype.values.call(v)];
				for (const [i, entry] of [...c].entries())
					children.push({ value: entries[i], copy: entry, path: `${path}<set value ${i}>` });
			} else if (c instanceof Error) {
				fields(Object.getOwnPropertyNames(c));
			}
			// Depth first, in the order serialisation meets them: the first one found is named.
			for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Node);
		}
	} catch {
		// A getter or an iterator that throws now: RPC's own serialisation has the last word.
	}
	return undefined;
}

function describeObject(proto: unknown): string {
	if (proto === null) return "an object with a null prototype";
	const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
	return typeof name === "string" && name !== "" && name !== "Object"
		? `an instance of class ${name}`
		: "an object whose prototype is not Object.prototype";
}

/**
 * Checks, at the call that received it, that `value` can be stored (see {@link unstorable}; RPC
 * would clone it anyway, and cloning it here makes an unserialisable value fail at this call,
 * with a message that names it). `sent`: the value goes to the engine over RPC, which takes plain
 * data only.
 */
export function assertStorable(
	value: unknown,
	what: string,
	{ maxBytes = MAX_VALUE_BYTES, sent = false } = {},
): void {
	const problem = unstorable(value, { maxBytes, sent });
	if (!problem) return;
	if ("size" in problem) {
		throw new WorkflowValidationError(
			`${what} is ${problem.size} bytes; it must be at most ${maxBytes} bytes (1 MiB)`,
		);
	}
	if (problem.path === undefined) {
		throw new WorkflowValidationError(
			`${what} must be structured-clone serialisable: ${problem.unclonable}`,
		);
	}
	throw new WorkflowValidationError(
		`${what}${problem.path} is ${problem.unclonable}, which cannot be sent to the instance: ${what} must be plain, ` +
			"structured-clone serialisable data (objects whose prototype is Object.prototype, arrays, " +
			"primitives, and built-in types such as Date, Map, Set, RegExp, Error, ArrayBuffer and typed " +
			"arrays), not class instances or objects with a null or custom prototype",
	);
}

export const restartOptionsSchema = z.strictObject({
	from: z.optional(
		z.strictObject({
			name: stepNameSchema,
			count: z.optional(z.number().check(z.int(), z.positive())),
			type: z.optional(z.enum(["do", "sleep", "waitForEvent"])),
		}),
	),
});

/**
 * The statuses of the product's `InstanceStatus`, as listing filters and test kits take them: an
 * instance's, and the product's "unknown".
 */
export const instanceStatusSchema = z.enum([...PUBLIC_STATUSES, "unknown"]);

/** A point in time: a Date, milliseconds since the epoch, or an ISO 8601 string. */
const instantSchema = z
	.pipe(
		z.union([z.date(), z.number(), z.iso.datetime({ offset: true }), z.iso.date()]),
		z.transform((value) => (value instanceof Date ? value.getTime() : new Date(value).getTime())),
	)
	.check(z.refine((ms) => Number.isFinite(ms), "must be a valid date"));

export const listOptionsSchema = z.strictObject({
	status: z.optional(z.union([instanceStatusSchema, z.array(instanceStatusSchema)])),
	createdAfter: z.optional(instantSchema),
	createdBefore: z.optional(instantSchema),
	limit: z._default(
		z
			.number()
			.check(z.int(), z.gte(1), z.lte(MAX_LIST_LIMIT, `limit must be at most ${MAX_LIST_LIMIT}`)),
		DEFAULT_LIST_LIMIT,
	),
	cursor: z.optional(z.string().check(z.maxLength(1000))),
});

export const waitOptionsForResultSchema = z.strictObject({ timeout: z.optional(durationSchema) });

export const historyOptionsSchema = z.strictObject({
	limit: z._default(
		z
			.number()
			.check(
				z.int(),
				z.gte(1),
				z.lte(MAX_HISTORY_LIMIT, `limit must be at most ${MAX_HISTORY_LIMIT}`),
			),
		DEFAULT_HISTORY_LIMIT,
	),
	cursor: z.optional(z.string().check(z.maxLength(1000))),
	maxValueBytes: z._default(
		z
			.number()
			.check(
				z.int(),
				z.gte(0),
				z.lte(HISTORY_PAGE_BYTES, `maxValueBytes must be at most ${HISTORY_PAGE_BYTES}`),
			),
		DEFAULT_HISTORY_VALUE_BYTES,
	),
});

/** A step of the history, as getStepHistory takes it: by name, index (1) and type ("do"). */
export const stepReferenceSchema = z.strictObject({
	name: stepNameSchema,
	index: z._default(
		z.number().check(z.int(), z.gte(1, "index is 1-based: the first step of a name is index 1")),
		1,
	),
	type: z._default(z.enum(["do", "sleep", "waitForEvent", "rollback"]), "do"),
});
