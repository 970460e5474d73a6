/**
 * Operations beyond the product's binding, as helpers beside it (the `Workflow` interface stays
 * exactly the product's): list a workflow's instances, read an instance's step history, and wait
 * for an instance to finish.
 *
 * Each takes the workflow's binding as `withWorkflows` or `workflowBinding` made it (or the
 * engine's Durable Object namespace itself).
 */
import { engineClient } from "./binding/client.js";
import { engineNamespace } from "./binding/namespace.js";
import { type ConcurrencySummary, GATE_NAME } from "./concurrency/gate.js";
import type { InstanceHistory, StepHistory } from "./engine/history.js";
import type { EngineNamespace } from "./engine/protocol.js";
import { isFinalStatus } from "./engine/status.js";
import { isWorkflowError, WorkflowTimeoutError, WorkflowValidationError } from "./errors.js";
import { ListingClient } from "./listing/client.js";
import type { ListingEntry } from "./listing/shard.js";
import { scheduleClient } from "./schedules/client.js";
import type { ScheduleEntry } from "./schedules/schedules.js";
import {
	cronArgumentSchema,
	historyOptionsSchema,
	instanceRefSchema,
	instanceStatusSchema,
	listOptionsSchema,
	parse,
	stepReferenceSchema,
	waitOptionsForResultSchema,
} from "./schemas.js";

/** A workflow binding as these helpers take it. */
export type WorkflowLike = Workflow<never> | Workflow | DurableObjectNamespace;

/** Filters and paging of {@link listInstances}. */
export interface ListInstancesOptions {
	/** Only instances in this status (or any of these); an empty list is no filter. */
	status?: InstanceStatus["status"] | InstanceStatus["status"][];
	/** Only instances created at or after this time: a Date, ms since the epoch, or an ISO string. */
	createdAfter?: Date | number | string;
	/** Only instances created before this time. */
	createdBefore?: Date | number | string;
	/** Instances per page: 1 to 100, 25 by default. */
	limit?: number;
	/** The `cursor` of the previous page, to get the next one. */
	cursor?: string;
}

/** An instance as a listing shows it. */
export interface InstanceSummary {
	id: string;
	status: InstanceStatus["status"];
	createdAt: Date;
	/** When its status last changed. */
	updatedAt: Date;
	endedAt: Date | null;
	error?: { name: string; message: string };
	/** A queued instance's place in its workflow's queue (docs/limits.md), 1 first. */
	queuePosition?: number;
}

/** One page of a listing, newest instances first. */
export interface InstancePage {
	instances: InstanceSummary[];
	/** Pass it back as `cursor` for the next page; absent on the last page. */
	cursor?: string;
}

function encodeCursor(after: { createdAt: number; id: string }): string {
	return btoa(JSON.stringify([after.createdAt, after.id]))
		.replaceAll("+", "-")
		.replaceAll("/", "_")
		.replaceAll("=", "");
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
	try {
		const [createdAt, id] = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
		if (typeof createdAt === "number" && typeof id === "string") return { createdAt, id };
	} catch {
		// Falls through to the error below.
	}
	throw new WorkflowValidationError("cursor is not one that listInstances returned");
}

/** A listing row with no instance behind it is dropped this long after it was last written. */
const ABANDONED_MS = 60_000;

/** Most rounds of shard queries one page may take (rows checked with their instance can drop out). */
const MAX_ROUNDS = 5;

/** Statuses a row is not final in; `queued` and `running` are the ones engines do not publish. */
const UNPUBLISHED: InstanceStatus["status"][] = ["queued", "running"];
const NOT_FINAL = instanceStatusSchema.options.filter((status) => !isFinalStatus(status));

/**
 * Lists a workflow's instances, newest first, with optional filters, a page at a time.
 *
 * The listing is kept by {@link LISTING_SHARDS} shards. The binding lists an instance as it
 * creates it, and the instance's engine reports the statuses it settles in (waiting, paused,
 * final); a row that is not final is checked with the instance itself (one request each, in
 * parallel), so what this returns is the instances' current status, and a final status lost to
 * a stopped runtime is repaired here. A filter for final statuses only checks the rows last seen
 * queued or running (and rows of ids being created), not every waiting instance. Each instance
 * appears once per listing.
 *
 * @throws WorkflowValidationError for an unknown status, a malformed date, a limit outside 1–100,
 *   or a cursor this function did not return.
 */
export async function listInstances(
	workflow: WorkflowLike,
	options: ListInstancesOptions = {},
): Promise<InstancePage> {
	const namespace = engineNamespace(workflow, "listInstances");
	const parsed = parse(listOptionsSchema, options, "listInstances options");
	// No status, or an empty list of them, is no filter: every instance.
	const statuses =
		parsed.status === undefined
			? []
			: Array.isArray(parsed.status)
				? parsed.status
				: [parsed.status];
	const wanted = statuses.length === 0 ? undefined : new Set(statuses);
	// Rows not yet final may turn out to be in any status. A waiting or paused instance publishes
	// when it ends, so a filter for final statuses leaves those rows out (see the doc above).
	const finalOnly = wanted && [...wanted].every((s) => isFinalStatus(s));
	const status = wanted && [...new Set([...wanted, ...(finalOnly ? UNPUBLISHED : NOT_FINAL)])];
	let after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
	const instances: InstanceSummary[] = [];
	let more = true;
	for (let round = 0; round < MAX_ROUNDS && more && instances.length < parsed.limit; round++) {
		const need = parsed.limit - instances.length;
		// One more than needed, to know whether more follow.
		const query = {
			status,
			createdAfter: parsed.createdAfter,
			createdBefore: parsed.createdBefore,
			after,
			limit: need + 1,
		};
		const merged = (await new ListingClient(namespace).query(query)).sort(
			(a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
		);
		const rows = merged.slice(0, need);
		more = merged.length > need;
		const last = rows.at(-1);
		if (last) after = { createdAt: last.createdAt, id: last.id };
		for (const entry of await Promise.all(rows.map((row) => checkedEntry(namespace, row)))) {
			if (entry && (!wanted || (wanted as Set<string>).has(entry.status)))
				instances.push(summary(entry));
		}
	}
	await addQueuePositions(namespace, instances);
	return { instances, ...(more && after ? { cursor: encodeCursor(after) } : {}) };
}

/** The workflow's concurrency gate (concurrency/gate.ts). */
function gateOf(namespace: EngineNamespace) {
	return namespace.get(namespace.idFromName(GATE_NAME));
}

/** Gives each queued instance of `instances` its queue position: one request to the gate. */
async function addQueuePositions(
	namespace: EngineNamespace,
	instances: { id: string; status: string; queuePosition?: number }[],
): Promise<void> {
	const queued = instances.filter(({ status }) => status === "queued");
	if (queued.length === 0) return;
	const positions = await gateOf(namespace).gatePositions(queued.map(({ id }) => id));
	for (const instance of queued) {
		const position = positions[instance.id];
		if (position !== undefined) instance.queuePosition = position;
	}
}

/**
 * A workflow's concurrency limit and its use now: `{ limit, running, queued }` (running: the
 * instances holding a slot), or null if the workflow has no limit (docs/limits.md).
 */
export async function getConcurrency(workflow: WorkflowLike): Promise<ConcurrencySummary | null> {
	const namespace = engineNamespace(workflow, "getConcurrency");
	return gateOf(namespace).gateSummary();
}

/**
 * A listing row as it is now: a final row as it stands; any other row as its instance reports
 * it (its final status written back to the shard if the shard missed it). Null if there is no
 * instance behind the row.
 */
async function checkedEntry(
	namespace: EngineNamespace,
	row: ListingEntry,
): Promise<ListingEntry | null> {
	if (isFinalStatus(row.status) && !row.pending) return row;
	const listing = new ListingClient(namespace);
	let entry: ListingEntry | null;
	try {
		entry = await engineClient(namespace, row.id).listingEntry();
	} catch {
		// The instance's object did not answer (it is being reset): show the row as it stands.
		return row;
	}
	try {
		if (!entry) {
			// Listed by a create that failed or has not happened yet (give it time), or a deleted
			// instance's row whose removal was lost.
			if (row.updatedAt < Date.now() - ABANDONED_MS)
				await listing.remove(row.id, row.version, { updatedAt: row.updatedAt });
		} else if (
			row.pending ||
			entry.createdAt !== row.createdAt ||
			(isFinalStatus(entry.status) && entry.status !== row.status)
		) {
			// Settles the row: its final status (lost to a stopped runtime), its creation time.
			await listing.put(entry, true);
		}
	} catch {
		// The repair is tried again by the next listing.
	}
	return entry;
}

function summary(entry: ListingEntry): InstanceSummary {
	const result: InstanceSummary = {
		id: entry.id,
		status: entry.status,
		createdAt: new Date(entry.createdAt),
		updatedAt: new Date(entry.updatedAt),
		endedAt: entry.endedAt === null ? null : new Date(entry.endedAt),
	};
	if (entry.error) result.error = entry.error;
	return result;
}

/** Paging of {@link getInstanceHistory}. */
export interface HistoryOptions {
	/** Steps per page: 1 to 1,000, 100 by default. A page may hold fewer (see `maxValueBytes`). */
	limit?: number;
	/** The `cursor` of the previous page, to get the next one. */
	cursor?: string;
	/**
	 * Step outputs and events received larger than this (bytes, as the 1 MiB limits measure them)
	 * are left out of the page, an `outputOmitted` / `eventOmitted` marker with their size in their
	 * place: read such a step with {@link getStepHistory}. 0 to 8 MiB, 64 KiB by default.
	 */
	maxValueBytes?: number;
}

/** The step {@link getStepHistory} reads. */
export interface StepReference {
	name: string;
	/** Which call of this name and type: 1 (the default) for the first. */
	index?: number;
	/** Default: "do". */
	type?: "do" | "sleep" | "waitForEvent";
}

function encodeHistoryCursor(after: number): string {
	return btoa(JSON.stringify({ after }))
		.replaceAll("+", "-")
		.replaceAll("/", "_")
		.replaceAll("=", "");
}

function decodeHistoryCursor(cursor: string): number {
	try {
		const { after } = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
		if (Number.isSafeInteger(after) && after > 0) return after;
	} catch {
		// Falls through to the error below.
	}
	throw new WorkflowValidationError("cursor is not one that getInstanceHistory returned");
}

/**
 * An instance's step history, a page at a time: the instance (status, params, output or error)
 * and its steps in the order the run met them, with their attempts (start, end, outcome, error),
 * sleeps and event waits. A page holds up to `limit` steps (100 by default); when more follow it
 * has a `cursor`, to pass back for the next page. Outputs and events received larger than
 * `maxValueBytes` (64 KiB by default) are replaced by a marker with their size
 * (`outputOmitted`, `eventOmitted`); {@link getStepHistory} reads such a step whole. So every
 * page fits in one answer of the instance's engine object, however large the instance.
 * @throws InstanceNotFoundError if there is no such instance.
 * @throws WorkflowValidationError for a limit outside 1–1,000, a `maxValueBytes` outside 0–8 MiB,
 *   or a cursor this function did not return.
 */
export async function getInstanceHistory(
	workflow: WorkflowLike,
	instanceId: string,
	options: HistoryOptions = {},
): Promise<InstanceHistory> {
	const namespace = engineNamespace(workflow, "getInstanceHistory");
	const id = parse(instanceRefSchema, instanceId, "instance id");
	const { limit, cursor, maxValueBytes } = parse(
		historyOptionsSchema,
		options,
		"getInstanceHistory options",
	);
	const after = cursor === undefined ? undefined : decodeHistoryCursor(cursor);
	const page = await engineClient(namespace, id).historyPage({ after, limit, maxValueBytes });
	if (page.after !== undefined) page.history.cursor = encodeHistoryCursor(page.after);
	await addQueuePositions(namespace, [page.history]);
	return page.history;
}

/**
 * One step of an instance's history, its output (or the event it received) included whatever its
 * size: `{ name, index?, type? }` (index 1 and type "do" by default). Undefined if the instance
 * has no such step (yet).
 * @throws InstanceNotFoundError if there is no such instance.
 */
export async function getStepHistory(
	workflow: WorkflowLike,
	instanceId: string,
	step: StepReference,
): Promise<StepHistory | undefined> {
	const namespace = engineNamespace(workflow, "getStepHistory");
	const id = parse(instanceRefSchema, instanceId, "instance id");
	const ref = parse(stepReferenceSchema, step, "getStepHistory step");
	return (await engineClient(namespace, id).historyStep(ref)).step ?? undefined;
}

/** How long one waitForEnd call to the engine may last; the wait goes on with another. */
const WAIT_SLICE_MS = 30_000;

/**
 * Waits until the instance is finished (complete, errored or terminated) and returns its final
 * status: `output` if it completed, `error` if it failed. No polling: the engine answers as the
 * instance ends. A wait cut off by a restart of the engine object carries on by itself.
 *
 * @param options.timeout How long to wait at most (ms, or a duration such as "5 minutes"); by
 *   default, until the instance finishes.
 * @throws WorkflowTimeoutError if the timeout passes first.
 * @throws InstanceNotFoundError if there is no such instance (or it is deleted meanwhile).
 */
export async function waitForResult(
	workflow: WorkflowLike,
	instanceId: string,
	options: { timeout?: number | string } = {},
): Promise<InstanceStatus> {
	const namespace = engineNamespace(workflow, "waitForResult");
	const id = parse(instanceRefSchema, instanceId, "instance id");
	const { timeout } = parse(waitOptionsForResultSchema, options, "waitForResult options");
	const deadline = timeout === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeout;
	const engine = engineClient(namespace, id);
	let failures = 0;
	for (;;) {
		const slice = Math.max(0, Math.min(WAIT_SLICE_MS, deadline - Date.now()));
		let answer: InstanceStatus;
		try {
			answer = await engine.waitForEnd(slice);
			failures = 0;
		} catch (error) {
			// A refusal (no such instance) is the answer. Any other error is the call's: the engine
			// object was reset (a deploy, a crash), so ask its next incarnation, a few times.
			if (isWorkflowError(error) || ++failures > 5) throw error;
			continue;
		}
		const status = answer.status;
		if (isFinalStatus(status)) return answer;
		if (Date.now() >= deadline) {
			throw new WorkflowTimeoutError(
				`instance "${id}" did not finish within ${timeout} ms; it is ${status}`,
			);
		}
	}
}

/** A workflow's cron schedule, as {@link listSchedules} shows it. */
export interface ScheduleSummary {
	/** The cron expression, as createWorkflowEngine's `schedules` gave it. */
	cron: string;
	paused: boolean;
	/** When its next tick creates an instance; null while it is paused. */
	nextRunAt: Date | null;
	/** The tick of the last instance it created (its `event.schedule.scheduledTime`), or null. */
	lastRunAt: Date | null;
	/** The id of that instance (`<cron>-<time>`), or null. */
	lastInstanceId: string | null;
}

function scheduleSummary(entry: ScheduleEntry): ScheduleSummary {
	const date = (ms: number | null) => (ms === null ? null : new Date(ms));
	return {
		cron: entry.cron,
		paused: entry.paused,
		nextRunAt: date(entry.nextRunAt),
		lastRunAt: date(entry.lastRunAt),
		lastInstanceId: entry.lastInstanceId,
	};
}

/**
 * The workflow's cron schedules (createWorkflowEngine's `schedules`), with their next and last
 * ticks; none for a workflow without schedules. Starts the workflow's scheduler if nothing has yet.
 */
export async function listSchedules(workflow: WorkflowLike): Promise<ScheduleSummary[]> {
	const namespace = engineNamespace(workflow, "listSchedules");
	return (await scheduleClient(namespace).list()).map(scheduleSummary);
}

/**
 * Pauses a schedule: its ticks create no instance until it is resumed, and are not caught up
 * then. Instances it created already are not touched. Pausing a paused schedule does nothing.
 * @throws WorkflowValidationError if the workflow has no schedule `cron`.
 */
export async function pauseSchedule(
	workflow: WorkflowLike,
	cron: string,
): Promise<ScheduleSummary> {
	return setSchedulePaused(workflow, cron, true, "pauseSchedule");
}

/**
 * Resumes a paused schedule from its next tick after now. Resuming a running schedule does nothing.
 * @throws WorkflowValidationError if the workflow has no schedule `cron`.
 */
export async function resumeSchedule(
	workflow: WorkflowLike,
	cron: string,
): Promise<ScheduleSummary> {
	return setSchedulePaused(workflow, cron, false, "resumeSchedule");
}

async function setSchedulePaused(
	workflow: WorkflowLike,
	cron: string,
	paused: boolean,
	caller: string,
): Promise<ScheduleSummary> {
	const namespace = engineNamespace(workflow, caller);
	const expression = parse(cronArgumentSchema, cron, "cron expression");
	return scheduleSummary(await scheduleClient(namespace).setPaused(expression, paused));
}
