/**
 * The product's documented limits and defaults, as do-workflows enforces them (the schemas that
 * check input against them are in schemas.ts). Every message that names a limit takes it from here.
 */
export { MAX_ERROR_MESSAGE_LENGTH } from "./errors.js";

/** Instance ids: at most 100 characters. */
export const MAX_INSTANCE_ID_LENGTH = 100;
/** Workflow names: at most 64 characters. */
export const MAX_WORKFLOW_NAME_LENGTH = 64;
/** Step names (`step.do`, `step.sleep`, `step.sleepUntil`, `step.waitForEvent`): at most 256 characters. */
export const MAX_STEP_NAME_LENGTH = 256;
/** Ids and workflow names must match this pattern. */
export const ID_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9-_]*$/;
/** `createBatch` accepts at most 100 instances per call. */
export const MAX_BATCH_SIZE = 100;
/** A step's output, a workflow's output and an event payload: at most 1 MiB each. */
export const MAX_VALUE_BYTES = 1024 * 1024;
/**
 * How deeply the objects of a stored value (params, step output, event payload, the output) may
 * nest. Ours, not the product's: the runtime writes values nested some 2,400 levels deep and
 * then cannot read them back (its deserialiser runs out of stack), so a deep value is refused
 * as it is stored, with a margin for the stack its readers use.
 */
export const MAX_VALUE_DEPTH = 1000;
/**
 * A step output returned as a `ReadableStream` (the product's streamed step outputs): at most
 * 1 GiB by default, the product's limit on what one instance may store (Workers Paid), which a
 * streamed output counts against; `createWorkflowEngine(W, { maxStreamOutputBytes })` lowers it.
 */
export const MAX_STREAM_OUTPUT_BYTES = 1024 * 1024 * 1024;
/**
 * The largest structured (non-stream) step output `createWorkflowEngine(W, { maxStepOutputBytes })`
 * may allow (ours, beyond the product's 1 MiB; off by default): 64 MiB, a bound that keeps a
 * replay's copy of the value, and its JSON text, well within an isolate's 128 MB of memory.
 */
export const MAX_STEP_OUTPUT_BYTES_OPTION = 64 * 1024 * 1024;
/**
 * Streamed outputs, and structured outputs over 1 MiB, are stored in chunks of this many bytes,
 * one SQL row each (a row holds at most 2 MB).
 */
export const OUTPUT_CHUNK_BYTES = 256 * 1024;
/** Instance params (the event payload `run()` receives): at most 1 MiB. */
export const MAX_PARAMS_BYTES = 1024 * 1024;
/** Steps an instance may start before it fails. Default: 10,000; `createWorkflowEngine({ stepLimit })` changes it. */
export const DEFAULT_STEP_LIMIT = 10_000;
/**
 * Attempts of one step that may be cut off by a crash or eviction before the step fails with
 * StepInterruptedError. They do not count against `retries.limit` (a step cut off mid-run runs
 * again), but a step that brings the runtime down every time must not loop for ever.
 */
export const MAX_INTERRUPTED_ATTEMPTS = 5;
/** The longest sleep (and `sleepUntil` distance): 365 days. */
export const MAX_SLEEP_MS = 365 * 24 * 60 * 60 * 1000;

/** Documented step defaults: 5 retries, 10 s apart, exponential backoff, 10 minutes per attempt. */
export const DEFAULT_RETRY_LIMIT = 5;
export const DEFAULT_RETRY_DELAY_MS = 10_000;
export const DEFAULT_BACKOFF = "exponential";
export const DEFAULT_STEP_TIMEOUT_MS = 10 * 60 * 1000;

/** Event types: 1 to 100 characters. */
export const MAX_EVENT_TYPE_LENGTH = 100;
/** `step.waitForEvent` waits 24 hours by default. */
export const DEFAULT_EVENT_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * How long a finished instance is kept before it is deleted, unless its workflow or its create
 * options say otherwise: 7 days, the product's default (and its paid plan's limit) since
 * 2026-09-10, for complete and errored instances alike.
 */
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** A page of a listing: 1 to 100 instances, 25 by default. */
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 25;

/** A page of an instance's step history: 1 to 1,000 steps, 100 by default. */
export const MAX_HISTORY_LIMIT = 1000;
export const DEFAULT_HISTORY_LIMIT = 100;
/**
 * A page of step history shows step outputs and events received of up to 64 KiB by default, and
 * puts a marker with its size in place of a larger one (which `getStepHistory` reads).
 */
export const DEFAULT_HISTORY_VALUE_BYTES = 64 * 1024;
/**
 * The values and errors of one page of step history: at most 8 MiB (a page ends early rather
 * than exceed it, and holds at least one step), so that any page fits in one RPC answer (32 MiB)
 * beside the instance's params and output. Also the largest `maxValueBytes` a page takes.
 */
export const HISTORY_PAGE_BYTES = 8 * 1024 * 1024;

/**
 * The highest concurrency limit a workflow may set: the product's concurrent instances per
 * account (Workers Paid, 2026), which a per-workflow limit cannot exceed.
 */
export const MAX_CONCURRENCY_LIMIT = 50_000;
/** Cron schedules of one workflow: at most 100 (the product's limit is 100 cron expressions per account). */
export const MAX_SCHEDULES = 100;
/**
 * A schedule's cron expression: at most 86 characters, so that the id of the instance a tick
 * creates (`<cron>-<13-digit time>`, as the product makes it) fits the 100-character id limit.
 */
export const MAX_CRON_LENGTH = 86;
