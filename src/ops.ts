/**
 * do-workflows/ops: operating workflows, beyond the product. Listing a workflow's instances, an
 * instance's step history, waiting for a result, and the admin HTTP API and dashboard that
 * `withWorkflows(bindings, handler, { admin: adminApi() })` mounts (docs/operations.md). Its own
 * entry point, so that a Worker that uses none of it does not bundle it.
 */

export { type AdminApi, type AdminOptions, adminApi } from "./admin/api.js";
export type { ConcurrencySummary } from "./concurrency/gate.js";
export type {
	AttemptHistory,
	DoStepHistory,
	HistoryError,
	InstanceHistory,
	SleepStepHistory,
	StepHistory,
	ValueOmitted,
	WaitStepHistory,
} from "./engine/history.js";
export {
	DEFAULT_HISTORY_LIMIT,
	DEFAULT_HISTORY_VALUE_BYTES,
	HISTORY_PAGE_BYTES,
	MAX_HISTORY_LIMIT,
} from "./limits.js";
export { LISTING_SHARDS } from "./listing/shard.js";
export {
	getConcurrency,
	getInstanceHistory,
	getStepHistory,
	type HistoryOptions,
	type InstancePage,
	type InstanceSummary,
	type ListInstancesOptions,
	listInstances,
	listSchedules,
	pauseSchedule,
	resumeSchedule,
	type ScheduleSummary,
	type StepReference,
	type WorkflowLike,
	waitForResult,
} from "./operations.js";
