import * as z from "zod/mini";
import { isNonRetryableError, NonRetryableError } from "../errors.js";
import {
	DEFAULT_BACKOFF,
	DEFAULT_RETRY_DELAY_MS,
	DEFAULT_RETRY_LIMIT,
	DEFAULT_STEP_TIMEOUT_MS,
	MAX_SLEEP_MS,
} from "../limits.js";
import {
	type DelayFunction,
	durationSchema,
	parse,
	type ResolvedStepConfig,
	stepConfigSchema,
} from "../schemas.js";

/** The config of a step.do given none: resolved once, not validated on every step. */
const DEFAULTS: ResolvedStepConfig = Object.freeze({
	retries: Object.freeze({
		limit: DEFAULT_RETRY_LIMIT,
		delayMs: DEFAULT_RETRY_DELAY_MS,
		backoff: DEFAULT_BACKOFF,
	}),
	timeoutMs: DEFAULT_STEP_TIMEOUT_MS,
	sensitive: false,
});

/**
 * Validates a `WorkflowStepConfig` and fills in the documented defaults: 5 retries, 10 s apart,
 * exponential backoff, a 10 minute timeout per attempt. A `retries.delay` function is kept, to be
 * called per retry (see resolveDelay).
 */
export function resolveStepConfig(config: unknown): ResolvedStepConfig {
	if (config === undefined) return DEFAULTS;
	const parsed = parse(stepConfigSchema, config ?? {}, "step config");
	const delay = parsed.retries?.delay;
	return {
		retries: {
			limit: parsed.retries?.limit ?? DEFAULT_RETRY_LIMIT,
			...(typeof delay === "function"
				? { delayMs: DEFAULT_RETRY_DELAY_MS, delayFunction: delay }
				: { delayMs: delay ?? DEFAULT_RETRY_DELAY_MS }),
			backoff: parsed.retries?.backoff ?? DEFAULT_BACKOFF,
		},
		timeoutMs: parsed.timeout ?? DEFAULT_STEP_TIMEOUT_MS,
		sensitive: parsed.sensitive === "output",
	};
}

/** A step's config as `step_started` reports it (workers-types 5), durations in ms. */
type EventStepConfig = NonNullable<
	Extract<WorkflowInstanceEvent, { type: "step_started" }>["config"]
>;

/** `config` as `step_started` reports it: `delay: "[dynamic]"` for a delay function. */
function eventConfig(config: ResolvedStepConfig): EventStepConfig {
	const { retries } = config;
	return {
		retries: {
			limit: retries.limit,
			delay: retries.delayFunction ? "[dynamic]" : retries.delayMs,
			backoff: retries.backoff,
		},
		timeout: config.timeoutMs,
		...(config.sensitive ? { sensitive: "output" as const } : {}),
	};
}

/**
 * The JSON text of `config` as `step_started` reports it, which the journal keeps with the step;
 * null for the default config (no config given), which is not stored. `retries.limit` Infinity
 * is kept as null (JSON has no Infinity); events.ts reads it back.
 */
export function stepConfigJson(config: ResolvedStepConfig): string | null {
	return config === DEFAULTS ? null : JSON.stringify(eventConfig(config));
}

/**
 * The delay before retry number `retry` (1 for the first retry): constant d, linear d·n,
 * exponential d·2^(n-1); never more than the longest sleep (365 days), which also keeps a long
 * exponential series from overflowing the alarm's date.
 */
export function retryDelay(retries: ResolvedStepConfig["retries"], retry: number): number {
	return Math.min(MAX_SLEEP_MS, uncapped(retries, retry));
}

function uncapped(retries: ResolvedStepConfig["retries"], retry: number): number {
	switch (retries.backoff) {
		case "constant":
			return retries.delayMs;
		case "linear":
			return retries.delayMs * retry;
		case "exponential":
			return retries.delayMs * 2 ** (retry - 1);
	}
}

/** How long a delay function may take to answer, as in the product. */
export const DELAY_FUNCTION_TIMEOUT_MS = 5_000;

/**
 * The base delay (before backoff) of the retry after a failed attempt, in ms: the configured
 * duration, or what the step's delay function returns for `ctx` and the attempt's `error`. A delay
 * function that throws, does not answer within 5 seconds or returns no valid duration fails the
 * step without further retries, as in the product: a NonRetryableError named
 * NonRetryableDelayError, saying which.
 */
export async function resolveDelay(
	retries: ResolvedStepConfig["retries"],
	step: string,
	input: Parameters<DelayFunction>[0],
): Promise<number> {
	const delay = retries.delayFunction;
	if (!delay) return retries.delayMs;
	const fail = (why: string) =>
		new NonRetryableError(`The delay function for step "${step}" ${why}`, "NonRetryableDelayError");
	const timeout = Promise.withResolvers<never>();
	const timer = setTimeout(
		() => timeout.reject(fail(`did not return within ${DELAY_FUNCTION_TIMEOUT_MS / 1000} seconds`)),
		DELAY_FUNCTION_TIMEOUT_MS,
	);
	let value: unknown;
	try {
		value = await Promise.race([(async () => delay(input))(), timeout.promise]);
	} catch (error) {
		if (isNonRetryableError(error) && error.name === "NonRetryableDelayError") throw error;
		throw fail(`threw an error: ${error instanceof Error ? error.message : String(error)}`);
	} finally {
		clearTimeout(timer);
	}
	const parsed = z.safeParse(durationSchema, value);
	if (!parsed.success) {
		throw fail(
			'returned an invalid delay value (expected a number of ms or a duration string like "30 seconds")',
		);
	}
	return parsed.data;
}
