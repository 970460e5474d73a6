import {
	DEFAULT_BACKOFF,
	DEFAULT_RETRY_DELAY_MS,
	DEFAULT_RETRY_LIMIT,
	DEFAULT_STEP_TIMEOUT_MS,
	MAX_SLEEP_MS,
} from "../limits.js";
import { parse, type ResolvedStepConfig, stepConfigSchema } from "../schemas.js";

/** The config of a step.do given none: resolved once, not validated on every step. */
const DEFAULTS: ResolvedStepConfig = Object.freeze({
	retries: Object.freeze({
		limit: DEFAULT_RETRY_LIMIT,
		delayMs: DEFAULT_RETRY_DELAY_MS,
		backoff: DEFAULT_BACKOFF,
	}),
	timeoutMs: DEFAULT_STEP_TIMEOUT_MS,
});

/**
 * Validates a `WorkflowStepConfig` and fills in the documented defaults: 5 retries, 10 s apart,
 * exponential backoff, a 10 minute timeout per attempt.
 */
export function resolveStepConfig(config: unknown): ResolvedStepConfig {
	if (config === undefined) return DEFAULTS;
	const parsed = parse(stepConfigSchema, config ?? {}, "step config");
	return {
		retries: {
			limit: parsed.retries?.limit ?? DEFAULT_RETRY_LIMIT,
			delayMs: parsed.retries?.delay ?? DEFAULT_RETRY_DELAY_MS,
			backoff: parsed.retries?.backoff ?? DEFAULT_BACKOFF,
		},
		timeoutMs: parsed.timeout ?? DEFAULT_STEP_TIMEOUT_MS,
	};
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
