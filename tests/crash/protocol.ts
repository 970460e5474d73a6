/**
 * What the crash-test Worker (worker.ts) and the Node test (crash.test.ts) say to each other:
 * the workflow's parameters and output, the step names in run order, and the shape of the
 * execution records kept by the Worker's counter Durable Object. Types and constants only, no
 * platform types, so both sides (workerd and Node) compile it.
 */

/** The parameters of one crash-test instance (chosen by the test from its seeded PRNG). */
export interface CrashParams {
	/** The first sleep, in ms (1–3 s). */
	nap1Ms: number;
	/** The second sleep, in ms (1–3 s). */
	nap2Ms: number;
	/** How many attempts of the "flaky" step fail before one succeeds (0–2). */
	failures: number;
	/** The "flaky" step's constant retry delay, in ms. */
	retryDelayMs: number;
	/** How long each long step runs (awaited timers), in ms. */
	longMs: number;
}

/** The `step.do` steps, in the order `run()` reaches them; each returns a fresh token. */
export const DO_STEPS = [
	"quick-1",
	"quick-2",
	"flaky",
	"long-1",
	"ready-for-late",
	"long-2",
	"quick-3",
	"finish",
] as const;
export type DoStep = (typeof DO_STEPS)[number];

/** The step each step receives the token of (its input); checks that replays return journaled values. */
export const PREVIOUS: Record<DoStep, DoStep | null> = {
	"quick-1": null,
	"quick-2": "quick-1",
	flaky: "quick-2",
	"long-1": "flaky",
	"ready-for-late": "long-1",
	"long-2": "ready-for-late",
	"quick-3": "long-2",
	finish: "quick-3",
};

/**
 * The header that names a POST of the test. The Worker records each name before it acts on the
 * request, so the test can tell a POST that wrangler dev's "restarted mid-request" 503 cut off
 * before it began (not recorded: sent again) from one the Worker had begun.
 */
export const REQUEST_ID_HEADER = "x-request-id";

/** Event types: "early" events are sent right after create (buffered), "late" ones once the wait is near. */
export const EARLY = "early";
export const LATE = "late";

/** The payload of every event the test sends: a unique id. */
export interface EventPayload {
	pid: string;
}

/** What `run()` returns, and what the "finish" step records with its completion. */
export interface CrashOutput {
	/** The token each `step.do` returned to `run()` (the journaled result). */
	tokens: Record<Exclude<DoStep, "finish">, string>;
	/** The payload id each event wait received. */
	events: { early1: string; late1: string; early2: string };
}

/**
 * The rollback workflow (RollbackWorkflow in worker.ts): forward steps "reserve" and "charge",
 * a sleep, then "ship", which fails for good, so run() throws and the handlers of the three run,
 * "ship"'s first. Each handler takes `handlerMs`, so that kills find handlers in flight.
 */
export interface RollbackParams {
	/** The sleep between "charge" and "ship", in ms. */
	napMs: number;
	/** How long each rollback handler runs (awaited timers), in ms. */
	handlerMs: number;
}

/** The rollback workflow's forward steps, in the order run() starts them; each has a handler. */
export const ROLLBACK_STEPS = ["reserve", "charge", "ship"] as const;
export type RollbackStep = (typeof ROLLBACK_STEPS)[number];

/** The message of the NonRetryableError "ship" throws: the run's error, and the instance's. */
export const ROLLBACK_ERROR = "out of stock";

/**
 * The steps the records name: the crash workflow's steps; `fwd:<step>` for an attempt of a
 * rollback workflow's forward step and `undo:<step>` for a run of its handler; `batch-ran` for
 * the one step of the batch workflow (BatchWorkflow in worker.ts).
 */
export type RecordedStep =
	| DoStep
	| `fwd:${RollbackStep}`
	| `undo:${RollbackStep}`
	| "batch-ran"
	| LimitedStep
	| "tick";

/**
 * The limited workflow (LimitedWorkflow in worker.ts), whose concurrency limit is {@link LIMIT}:
 * a step, a sleep (which frees its slot: it queues for one again when it wakes), a second step.
 * Each step's callback records "started" as it begins and "completed" as it ends, so the records
 * say how many instances were inside a step at any moment.
 */
export const LIMIT = 5;
export const LIMITED_STEPS = ["slot-1", "slot-2"] as const;
export type LimitedStep = (typeof LIMITED_STEPS)[number];

export interface LimitedParams {
	/** How long each step's callback runs (awaited timers), in ms. */
	workMs: number;
	/** The sleep between the steps, in ms. */
	napMs: number;
}

/** What a limited-workflow instance returns: the token each step returned to run(). */
export interface LimitedOutput {
	tokens: Record<LimitedStep, string>;
}

/**
 * The scheduled workflow's (ScheduledWorkflow in worker.ts) one schedule: a tick every minute.
 * Each tick's instance runs one step, "tick", which records its `event.schedule` (JSON) in the
 * data of its "started" and "completed" records, and returns a token.
 */
export const SCHEDULE = "* * * * *";

/** What a scheduled-workflow instance returns. */
export interface TickOutput {
	schedule: { cron: string; scheduledTime: number } | null;
	token: string;
}

/** The params of a batch-workflow instance: which createBatch form created it. */
export interface BatchParams {
	form: "instances" | "count";
	n?: number;
}

/** An event of `instance.subscribe()` as the subscribe route writes it (one JSON object a line). */
export interface SubscribedEvent {
	eventId: number;
	type: string;
	instanceId: string;
	timestamp: string;
	[field: string]: unknown;
}

/** The event types that end a subscription. */
export const FINAL_EVENTS = ["workflow_completed", "workflow_errored", "workflow_terminated"];

/**
 * One execution record. A step callback records "started" when it begins and "completed" just
 * before it returns its token (or "failed" before it throws, for the flaky step's planned failures).
 */
export interface ExecutionRecord {
	/** Order of arrival at the counter object (SQLite rowid). */
	seq: number;
	instance: string;
	step: RecordedStep;
	kind: "started" | "completed" | "failed";
	/** Fresh per attempt: what the attempt returns, if it completes. */
	token: string;
	/** The engine's attempt number (ctx.attempt); 0 for a rollback handler, which is not told its own. */
	attempt: number;
	/**
	 * The token this attempt received from the previous step ("" for the first); for a rollback
	 * handler, the output it was given (its step's token, "" for none).
	 */
	prev: string;
	/** Which runtime process recorded it (a random id per Worker isolate). */
	boot: string;
	/** Date.now() in the Worker when recorded. */
	at: number;
	/**
	 * The "finish" step's completion carries the output it is about to return (JSON); a rollback
	 * handler's records, the message of the error it was given.
	 */
	data: string | null;
}

/** What `GET /counters/summary` answers: counters only, never an instance. */
export interface CounterSummary {
	records: number;
	/** Instances whose "ready-for-late" step has completed at least once. */
	readyForLate: string[];
	/** Instances whose "finish" step has completed at least once. */
	finished: string[];
	/** Attempts started by this runtime (the answering one) and not (yet) completed or failed, by step. */
	inFlight: Partial<Record<RecordedStep, number>>;
	/** Instances with an attempt of a long step started by this runtime and not (yet) finished. */
	longInFlight: string[];
	/** Rollback-workflow instances whose last handler ("reserve"'s) has completed at least once. */
	rolledBack: string[];
	/** Batch-workflow instances whose step has completed at least once. */
	batchRan: string[];
	/** Limited-workflow instances whose last step has completed at least once. */
	limitedDone: string[];
	/** Scheduled-workflow instances whose step has started at least once. */
	ticksStarted: string[];
	/** Scheduled-workflow instances whose step has completed at least once. */
	ticksDone: string[];
	/** Date.now() of the newest record, or null. */
	lastAt: number | null;
	/** Date.now() in the Worker as it answered. */
	now: number;
}
