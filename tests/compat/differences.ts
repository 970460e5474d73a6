/**
 * Where the built-in engine and ours may differ, scenario by scenario and field by field. Each
 * reason is a row of the table in docs/compatibility.md (the suite checks that it is there):
 * either a product fact the built-in local engine gets wrong, or a deliberate extension of ours.
 */
import { rich, STRUCTURED_EVENT, STRUCTURED_PARAMS } from "./scenarios";

/** The row ids of docs/compatibility.md's table. */
export type Reason =
	| "waiting-status"
	| "default-retry-delay"
	| "non-retryable-custom-name"
	| "batch-error-messages"
	| "structured-output"
	| "output-not-complete"
	| "config-in-ms"
	| "error-name"
	| "non-retryable-message"
	| "typed-errors"
	| "invalid-state-refusals"
	| "sleep-until-past"
	| "step-input-validation"
	| "input-limits"
	| "subscribe-from-journal";

export interface Difference {
	reason: Reason;
	native: unknown;
	ours: unknown;
}

function d(reason: Reason, native: unknown, ours: unknown): Difference {
	return { reason, native, ours };
}

/** What a subscriber of the waitEvent scenario sees on the built-in engine. */
const WAIT_SHAPES = [
	"workflow_queued",
	"workflow_started",
	"workflow_running",
	"step_started:before-1",
	"attempt_started:before-1:1",
	"attempt_completed:before-1:1",
	"step_completed:before-1",
	"wait_started:approval-1",
	"wait_completed:approval-1",
	"step_started:after-1",
	"attempt_started:after-1:1",
	"attempt_completed:after-1:1",
	"step_completed:after-1",
	"workflow_completed",
];

/** How the built-in engine's status().output shows rich(): a JSON-like flattening. */
const RICH_FLAT = {
	date: "2026-01-02T03:04:05.000Z",
	map: {},
	set: {},
	bytes: "[Uint8Array(3 bytes)]",
	big: "[BigInt(1180591620717411303424)]",
	regex: {},
	nested: { deep: [{ x: 1 }, null, "s"] },
};
const flattened = (value: typeof RICH_FLAT) => value;

/**
 * Expected differences, by scenario and observed field. Every field not listed here must be
 * identical on both engines, and a listed field must show exactly these values on each.
 */
export const DIFFERENCES: Record<string, Record<string, Difference>> = {
	subscribeSteps: {
		// A step given no config: the defaults, durations in ms here (and a 10 s default delay).
		config: d(
			"subscribe-from-journal",
			{ retries: { limit: 5, delay: 1000, backoff: "exponential" }, timeout: "10 minutes" },
			{ retries: { limit: 5, delay: 10_000, backoff: "exponential" }, timeout: 600_000 },
		),
	},
	subscribeRetry: {
		config: d(
			"subscribe-from-journal",
			[{ retries: { limit: 3, delay: 10, backoff: "constant" }, timeout: "10 minutes" }],
			[{ retries: { limit: 3, delay: 10, backoff: "constant" }, timeout: 600_000 }],
		),
	},
	subscribeWait: {
		// The built-in engine sends no status event around an event wait; ours does.
		shapes: d("subscribe-from-journal", WAIT_SHAPES, [
			...WAIT_SHAPES.slice(0, 8),
			"workflow_waiting",
			"wait_completed:approval-1",
			"workflow_running",
			...WAIT_SHAPES.slice(9),
		]),
	},
	subscribeUnknown: {
		subscribe: d(
			"typed-errors",
			{ name: "Error", message: "instance.not_found" },
			{ name: "InstanceNotFoundError", message: 'instance "twoSteps--subscribeUnknown" not found' },
		),
	},
	paramsTooLarge: {
		create: d("input-limits", "ok", {
			name: "WorkflowValidationError",
			message: "create options.params is 1048617 bytes; it must be at most 1048576 bytes (1 MiB)",
		}),
	},
	paramsUnserializable: {
		create: d("input-limits", "ok", {
			name: "WorkflowValidationError",
			message:
				"create options.params must be structured-clone serialisable: () => 1 could not be cloned.",
		}),
	},
	sendEventInvalidType: {
		empty: d("input-limits", "ok", {
			name: "WorkflowValidationError",
			message: "event.type: event type must not be empty",
		}),
		long: d("input-limits", "ok", {
			name: "WorkflowValidationError",
			message: "event.type: event type must be at most 100 characters",
		}),
	},
	badStepInput: {
		"empty name": d("step-input-validation", "ok", {
			name: "WorkflowValidationError",
			message: "step name must not be empty",
		}),
		"negative sleep": d("step-input-validation", "ok", {
			name: "WorkflowValidationError",
			message: "sleep duration: must not be negative or infinite, got -5",
		}),
		"bad duration": d(
			"step-input-validation",
			{
				name: "Error",
				message:
					"NOT NULL constraint failed: priority_queue.target_timestamp: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_NOTNULL)",
			},
			{
				name: "WorkflowValidationError",
				message:
					'sleep duration: must be a number of milliseconds or "<n> second|minute|hour|day|week|month|year[s]", got "forever"',
			},
		),
		"257-char name": d(
			"typed-errors",
			{
				name: "Error",
				message: `WorkflowFatalError: Step name "${"n".repeat(257)}" exceeds max length (256 chars) or invalid characters found`,
			},
			{ name: "WorkflowValidationError", message: "step name must be at most 256 characters" },
		),
	},
	unserializableOutput: {
		error: d(
			"typed-errors",
			{ name: "DataCloneError", message: "RpcStub cannot be serialized in this context." },
			{
				name: "UnserializableValueError",
				message:
					"run() returned a value that cannot be stored: () => 1 could not be cloned. The output must be structured-clone serialisable.",
			},
		),
	},
	restartWhileWaiting: {
		afterRestart: d("waiting-status", "running", "waiting"),
	},
	outputWhenErrored: {
		keys: d(
			"output-not-complete",
			["__LOCAL_DEV_STEP_OUTPUTS", "error", "output", "status"],
			["error", "status"],
		),
		output: d("output-not-complete", null, undefined),
	},
	stepContext: {
		defaultRetries: d(
			"default-retry-delay",
			{ limit: 5, backoff: "exponential", delay: 1000 },
			{ limit: 5, delay: 10000, backoff: "exponential" },
		),
		defaultTimeout: d("config-in-ms", "10 minutes", 600000),
		givenTimeout: d("config-in-ms", "1 minute", 60000),
	},
	undefinedResults: {
		output: d("structured-output", null, undefined),
	},
	structuredOutput: {
		statusOutput: d("structured-output", flattened(RICH_FLAT), rich()),
	},
	unserializableStep: {
		error: d(
			"typed-errors",
			{
				name: "WorkflowFatalError",
				message:
					'The execution of the Workflow instance was terminated, as the step "returns a function" returned a value which is not serialisable',
			},
			{
				name: "UnserializableValueError",
				message:
					'step "returns a function" returned a value that cannot be stored: () => 1 could not be cloned. Step outputs must be structured-clone serialisable (no functions, symbols or platform objects).',
			},
		),
	},
	structuredStep: {
		statusOutput: d("structured-output", flattened(RICH_FLAT), rich()),
	},
	customErrorName: {
		error: d(
			"error-name",
			{ name: "Error", message: "MyDomainError: custom failure" },
			{ name: "MyDomainError", message: "custom failure" },
		),
	},
	delayFunction: {
		output: d(
			"config-in-ms",
			{ attempt: 3, config: { retries: { limit: 3, backoff: "linear" }, timeout: "10 minutes" } },
			{ attempt: 3, config: { retries: { limit: 3, backoff: "linear" }, timeout: 600000 } },
		),
	},
	delayFunctionThrows: {
		error: d(
			"error-name",
			{
				name: "Error",
				message:
					'NonRetryableDelayError: The delay function for step "dynamic-1" threw an error: no delay after attempt 1 failed',
			},
			{
				name: "NonRetryableDelayError",
				message:
					'The delay function for step "dynamic-1" threw an error: no delay after attempt 1 failed',
			},
		),
	},
	delayFunctionInvalid: {
		error: d(
			"error-name",
			{
				name: "Error",
				message:
					'NonRetryableDelayError: The delay function for step "dynamic-1" returned an invalid delay value (expected a number of ms or a duration string like "30 seconds")',
			},
			{
				name: "NonRetryableDelayError",
				message:
					'The delay function for step "dynamic-1" returned an invalid delay value (expected a number of ms or a duration string like "30 seconds")',
			},
		),
	},
	nonRetryable: {
		error: d(
			"non-retryable-message",
			{
				name: "WorkflowFatalError",
				message:
					"The execution of the Workflow instance was terminated, as a step threw an NonRetryableError and it was not handled",
			},
			{ name: "NonRetryableError", message: "card declined" },
		),
	},
	nonRetryableNamed: {
		counts: d("non-retryable-custom-name", { doomed: 3 }, { doomed: 1 }),
		error: d(
			"error-name",
			{ name: "Error", message: "PaymentError: card declined" },
			{ name: "PaymentError", message: "card declined" },
		),
	},
	caughtNonRetryable: {
		output: d(
			"error-name",
			{ name: "Error", message: "NonRetryableError: nope" },
			{ name: "NonRetryableError", message: "nope" },
		),
	},
	stepTimeoutCaught: {
		output: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowTimeoutError: Execution timed out after 50ms" },
			{ name: "WorkflowTimeoutError", message: 'step "slow" attempt 1 timed out after 50 ms' },
		),
	},
	stepTimeout: {
		error: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowTimeoutError: Execution timed out after 50ms" },
			{ name: "WorkflowTimeoutError", message: 'step "slow" attempt 2 timed out after 50 ms' },
		),
	},
	sleepUntilPast: {
		error: d(
			"sleep-until-past",
			{ name: "Error", message: "You can't sleep until a time in the past, time-traveler" },
			undefined,
		),
		output: d("sleep-until-past", undefined, "woke"),
		status: d("sleep-until-past", "errored", "complete"),
	},
	statusWhileSleeping: {
		whileSleeping: d("waiting-status", "running", "waiting"),
	},
	eventDuringWait: {
		whileWaiting: d("waiting-status", "running", "waiting"),
	},
	eventTimeout: {
		error: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowTimeoutError: Execution timed out after 100ms" },
			{
				name: "WorkflowTimeoutError",
				message: 'waitForEvent("approval") received no event of type "approval" within 100 ms',
			},
		),
	},
	eventTimeoutCaught: {
		output: d(
			"typed-errors",
			{
				timedOut: true,
				name: "Error",
				message: "WorkflowTimeoutError: Execution timed out after 100ms",
				after: "continued",
			},
			{
				timedOut: true,
				name: "WorkflowTimeoutError",
				message: 'waitForEvent("approval") received no event of type "approval" within 100 ms',
				after: "continued",
			},
		),
	},
	structuredEvent: {
		statusOutput: d(
			"structured-output",
			{ date: "2026-01-01T00:00:00.000Z", map: {}, n: [1, "x", null] },
			STRUCTURED_EVENT,
		),
	},
	sendEventWhenComplete: {
		send: d("invalid-state-refusals", "ok", {
			name: "InvalidStateError",
			message:
				'cannot send an event to instance "twoSteps--sendEventWhenComplete": it is already complete',
		}),
	},
	structuredParams: {
		statusOutput: d(
			"structured-output",
			{
				date: "2026-01-01T00:00:00.000Z",
				map: {},
				set: {},
				bytes: "[Uint8Array(2 bytes)]",
				big: "[BigInt(100000000000000000000)]",
			},
			STRUCTURED_PARAMS,
		),
	},
	idsInvalid: {
		"101 chars": d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "create options.id: instance id must be at most 100 characters",
			},
		),
		dot: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "create options.id: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
		empty: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "create options.id: instance id must not be empty",
			},
		),
		"leading dash": d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "create options.id: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
		space: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "create options.id: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
	},
	idDuplicate: {
		second: d(
			"typed-errors",
			{
				name: "Error",
				message:
					'WorkflowError: (instance.already_exists) Workflow instance with id "twoSteps--dup" already exists',
			},
			{ name: "InstanceExistsError", message: 'instance "twoSteps--dup" already exists' },
		),
	},
	idUnknown: {
		get: d(
			"typed-errors",
			{ name: "Error", message: "instance.not_found" },
			{ name: "InstanceNotFoundError", message: 'instance "never-created" not found' },
		),
	},
	idInvalidGet: {
		get: d(
			"typed-errors",
			{ name: "Error", message: "instance.not_found" },
			{
				name: "WorkflowValidationError",
				message: "instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
	},
	createBatchEmpty: {
		batch: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: batchCreate should have at least 1 instance" },
			{ name: "WorkflowValidationError", message: "createBatch expects at least 1 instance" },
		),
	},
	createBatchOver100: {
		batch: d(
			"typed-errors",
			{
				name: "Error",
				message: "WorkflowError: batchCreate only supports 100 instances at a time",
			},
			{
				name: "WorkflowValidationError",
				message: "createBatch accepts at most 100 instances per call, got 101",
			},
		),
	},
	createBatchInvalidId: {
		batch: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: Workflow instance has invalid id" },
			{
				name: "WorkflowValidationError",
				message: "createBatch[1].id: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
	},
	createBatchInstances: {
		messages: d(
			"batch-error-messages",
			[
				"workflows.api.error.instance.already_exists",
				"workflows.api.error.instance.duplicate_in_batch",
			],
			[
				'instance "echo--bi-taken" already exists',
				'instance id "echo--bi-a" repeats that of entry 0 of the batch',
			],
		),
	},
	createBatchObjectRefused: {
		invalidId: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: (instance.invalid_id) Instance ID is invalid" },
			{
				name: "WorkflowValidationError",
				message: "createBatch.instances[1].id: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
		countOver100: d(
			"typed-errors",
			{
				name: "Error",
				message: "WorkflowError: (body) batchCreate only supports 100 instances at a time",
			},
			{
				name: "WorkflowValidationError",
				message: "createBatch accepts at most 100 instances per call, got 101",
			},
		),
		countZero: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: (body) count must be a positive integer" },
			{ name: "WorkflowValidationError", message: "createBatch expects at least 1 instance" },
		),
		noInstances: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: (body) Batch size exceeds maximum allowed" },
			{ name: "WorkflowValidationError", message: "createBatch expects at least 1 instance" },
		),
		instancesOver100: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: (body) Batch size exceeds maximum allowed" },
			{
				name: "WorkflowValidationError",
				message: "createBatch accepts at most 100 instances per call, got 101",
			},
		),
	},
	deleteBatchResults: {
		messages: d(
			"batch-error-messages",
			["workflows.api.error.instance.not_found"],
			['instance "echo--del-unknown" not found'],
		),
	},
	deleteBatchRefused: {
		empty: d(
			"typed-errors",
			{
				name: "Error",
				message: "WorkflowError: (body) batchDeleteInstances should have at least 1 instance",
			},
			{ name: "WorkflowValidationError", message: "deleteBatch expects at least 1 id" },
		),
		over100: d(
			"typed-errors",
			{
				name: "Error",
				message: "WorkflowError: (body) batchDeleteInstances only supports 100 instances at a time",
			},
			{
				name: "WorkflowValidationError",
				message: "deleteBatch accepts at most 100 ids per call, got 101",
			},
		),
		invalidId: d(
			"typed-errors",
			{ name: "Error", message: "WorkflowError: (instance.invalid_id) Instance ID is invalid" },
			{
				name: "WorkflowValidationError",
				message: "deleteBatch[1]: instance id must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$",
			},
		),
	},
	resumeNotPaused: {
		resume: d("invalid-state-refusals", "ok", {
			name: "InvalidStateError",
			message: 'cannot resume instance "forever--resumeNotPaused": it is waiting, not paused',
		}),
	},
	pauseComplete: {
		pause: d("invalid-state-refusals", "ok", {
			name: "InvalidStateError",
			message: 'cannot pause instance "twoSteps--pauseComplete": it is already complete',
		}),
	},
	terminateTwice: {
		second: d(
			"typed-errors",
			{
				name: "Error",
				message:
					"WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state",
			},
			{
				name: "InvalidStateError",
				message: 'cannot terminate instance "forever--terminateTwice": it is already terminated',
			},
		),
	},
	terminateErrored: {
		terminate: d(
			"typed-errors",
			{
				name: "Error",
				message:
					"WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state",
			},
			{
				name: "InvalidStateError",
				message: 'cannot terminate instance "uncaught--terminateErrored": it is already errored',
			},
		),
	},
	terminateComplete: {
		terminate: d(
			"typed-errors",
			{
				name: "Error",
				message:
					"WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state",
			},
			{
				name: "InvalidStateError",
				message: 'cannot terminate instance "twoSteps--terminateComplete": it is already complete',
			},
		),
	},
	restartErrored: {
		error: d(
			"non-retryable-message",
			{
				name: "WorkflowFatalError",
				message:
					"The execution of the Workflow instance was terminated, as a step threw an NonRetryableError and it was not handled",
			},
			{ name: "NonRetryableError", message: "card declined" },
		),
	},
};

/**
 * Bugs of ours: fields where the built-in engine is right and we are wrong. The suite checks the
 * field still differs, so it fails once the bug is fixed: remove the entry then (and from
 * docs/compatibility.md).
 */
export const KNOWN_BUGS: Record<string, { fields: string[]; note: string }> = {};
