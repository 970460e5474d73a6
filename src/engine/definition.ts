/**
 * What createWorkflowEngine records of a workflow: its class, its name and its options, checked
 * once, with every default filled in.
 */
import { WorkflowValidationError } from "../errors.js";
import {
	DEFAULT_RETENTION_MS,
	DEFAULT_STEP_LIMIT,
	MAX_SCHEDULES,
	MAX_STREAM_OUTPUT_BYTES,
	MAX_VALUE_BYTES,
} from "../limits.js";
import { CronExpression } from "../schedules/cron.js";
import { engineOptionsSchema, parse } from "../schemas.js";
import type { OutputLimits } from "../step/host.js";
import type { WorkflowClass } from "./run.js";
import type { Retention } from "./scheduler.js";

/** Options of createWorkflowEngine (engine.ts). */
export interface WorkflowEngineOptions {
	/** The workflow's name, as `event.workflowName` reports it: at most 64 characters, `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`. */
	name: string;
	/** Steps an instance may start before it fails. Default: 10,000. */
	stepLimit?: number;
	/**
	 * How long a finished instance is kept before it is deleted, when its create options do not
	 * say: as wrangler's `default_retention` of a product workflow. Each side defaults to 7 days,
	 * the product's default. `false` keeps finished instances until they are deleted.
	 */
	defaultRetention?:
		| { successRetention?: WorkflowSleepDuration; errorRetention?: WorkflowSleepDuration }
		| false;
	/**
	 * Ours, beyond the product: lets a step return a structured (non-stream) output larger than the
	 * product's 1 MiB, up to this many bytes (of its structured-clone encoding), at most 64 MiB.
	 * Outputs over 1 MiB must then be plain JSON data; they are stored as JSON text in chunks.
	 * Default: 1 MiB, the product's limit, so code that works here works on the product too.
	 */
	maxStepOutputBytes?: number;
	/**
	 * How many bytes a step's `ReadableStream` output may hold. Default and maximum: 1 GiB, the
	 * product's limit on what an instance stores, which streamed outputs count against.
	 */
	maxStreamOutputBytes?: number;
	/**
	 * The workflow's concurrency limit, as wrangler's `concurrency` of a product workflow: at most
	 * `limit` instances run at once (docs/limits.md); the others wait, `queued`, and start first in
	 * first out as slots free. Waiting, paused and queued instances hold no slot. Default: no limit.
	 */
	concurrency?: { limit: number };
	/**
	 * Cron schedules, as wrangler's `schedules` of a product workflow: one expression or a list of
	 * them (at most 100). Each tick creates an instance, with `event.schedule` set. Expressions are
	 * Cloudflare's cron triggers': five fields, UTC, weekdays 1-7 with 1 = Sunday (docs/api.md).
	 */
	schedules?: string | string[];
}

type WorkflowSleepDuration = import("cloudflare:workers").WorkflowSleepDuration;

/** What createWorkflowEngine recorded: the workflow class, its name and its options. */
export interface Definition {
	workflow: WorkflowClass;
	name: string;
	stepLimit: number;
	/** The bounds on step outputs (maxStepOutputBytes, maxStreamOutputBytes). */
	outputLimits: OutputLimits;
	/** How long finished instances are kept (ms) when their create options do not say; null: kept. */
	retention: Retention;
	/** The concurrency limit, or null for none. */
	concurrencyLimit: number | null;
	/** The workflow's cron schedules, checked. */
	schedules: CronExpression[];
}

/**
 * Checks `options` and records them with `workflow`.
 *
 * @throws WorkflowValidationError if an option is out of its range.
 */
export function define(workflow: WorkflowClass, options: WorkflowEngineOptions): Definition {
	const {
		name,
		stepLimit,
		defaultRetention,
		maxStepOutputBytes,
		maxStreamOutputBytes,
		concurrency,
		schedules,
	} = parse(engineOptionsSchema, options, "createWorkflowEngine options");
	return {
		workflow,
		name,
		stepLimit: stepLimit ?? DEFAULT_STEP_LIMIT,
		outputLimits: {
			stepOutputBytes: maxStepOutputBytes ?? MAX_VALUE_BYTES,
			streamOutputBytes: maxStreamOutputBytes ?? MAX_STREAM_OUTPUT_BYTES,
		},
		retention:
			defaultRetention === false
				? { success: null, error: null }
				: {
						success: defaultRetention?.successRetention ?? DEFAULT_RETENTION_MS,
						error: defaultRetention?.errorRetention ?? DEFAULT_RETENTION_MS,
					},
		concurrencyLimit: concurrency?.limit ?? null,
		schedules: checkSchedules(schedules),
	};
}

/**
 * The schedules option as wrangler checks `schedules` (a non-empty string, or a non-empty list of
 * them), each a valid expression, at most {@link MAX_SCHEDULES}, none twice.
 */
function checkSchedules(schedules: string | string[] | undefined): CronExpression[] {
	if (schedules === undefined) return [];
	const list = typeof schedules === "string" ? [schedules] : schedules;
	const what = "createWorkflowEngine options.schedules";
	if (list.length === 0) throw new WorkflowValidationError(`${what} must not be an empty list`);
	if (list.length > MAX_SCHEDULES)
		throw new WorkflowValidationError(
			`${what} has ${list.length} cron expressions; a workflow may have at most ${MAX_SCHEDULES}`,
		);
	const seen = new Set<string>();
	return list.map((cron) => {
		if (seen.has(cron))
			throw new WorkflowValidationError(`${what} lists ${JSON.stringify(cron)} twice`);
		seen.add(cron);
		return CronExpression.parse(cron);
	});
}
