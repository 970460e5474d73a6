/**
 * do-workflows: Cloudflare Workflows code, unchanged, on Durable Objects.
 *
 * - {@link WorkflowEntrypoint}: the base class of a workflow, as in `cloudflare:workers`.
 * - {@link createWorkflowEngine}: the Durable Object class that hosts a workflow's instances.
 * - {@link withWorkflows}: wraps a Worker's handlers so `env.X` is a `Workflow`.
 * - {@link workflowBinding}: the same `Workflow` shim, for code outside a wrapped handler.
 * - {@link env}: `cloudflare:workers`' `env`, with those bindings as `Workflow`s.
 * - Beyond the product: listing, history, waiting for a result and the admin API live in
 *   `do-workflows/ops`; the test kit in `do-workflows/testing`.
 */

export type {
	WorkflowBackoff,
	WorkflowDurationLabel,
	WorkflowEvent,
	WorkflowSleepDuration,
	WorkflowStep,
	WorkflowStepConfig,
	WorkflowStepContext,
	WorkflowStepEvent,
} from "cloudflare:workers";
export { env } from "./binding/runtime-env.js";
export { workflowBinding } from "./binding/workflow.js";
export {
	createWorkflowEngine,
	type WorkflowClass,
	WorkflowEngine,
	type WorkflowEngineClass,
	type WorkflowEngineOptions,
} from "./engine/engine.js";
export { WorkflowEntrypoint } from "./entrypoint.js";
export {
	InstanceExistsError,
	InstanceNotFoundError,
	InvalidStateError,
	isNonRetryableError,
	isWorkflowError,
	NonRetryableError,
	NotSupportedError,
	type SerializedError,
	StepInterruptedError,
	StepLimitError,
	StorageUnavailableError,
	UnserializableValueError,
	ValueTooLargeError,
	WorkflowError,
	type WorkflowErrorCode,
	WorkflowTimeoutError,
	WorkflowValidationError,
} from "./errors.js";
export {
	DEFAULT_BACKOFF,
	DEFAULT_EVENT_TIMEOUT_MS,
	DEFAULT_LIST_LIMIT,
	DEFAULT_RETENTION_MS,
	DEFAULT_RETRY_DELAY_MS,
	DEFAULT_RETRY_LIMIT,
	DEFAULT_STEP_LIMIT,
	DEFAULT_STEP_TIMEOUT_MS,
	ID_PATTERN,
	MAX_BATCH_SIZE,
	MAX_CRON_LENGTH,
	MAX_ERROR_MESSAGE_LENGTH,
	MAX_EVENT_TYPE_LENGTH,
	MAX_INSTANCE_ID_LENGTH,
	MAX_INTERRUPTED_ATTEMPTS,
	MAX_LIST_LIMIT,
	MAX_PARAMS_BYTES,
	MAX_SCHEDULES,
	MAX_SLEEP_MS,
	MAX_STEP_NAME_LENGTH,
	MAX_STEP_OUTPUT_BYTES_OPTION,
	MAX_STREAM_OUTPUT_BYTES,
	MAX_VALUE_BYTES,
	MAX_VALUE_DEPTH,
	MAX_WORKFLOW_NAME_LENGTH,
	OUTPUT_CHUNK_BYTES,
} from "./limits.js";
export {
	type RemoteWorkflow,
	remoteWorkflow,
	type WithWorkflowsOptions,
	type WorkflowEnv,
	type WorkflowSource,
	withWorkflows,
} from "./with-workflows.js";
