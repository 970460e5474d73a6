/**
 * What crosses between the binding and an engine object: the arguments of the engine's RPC
 * methods, and their answers. Errors travel as data (`{ ok: false, error }`), because a thrown
 * error loses its class on the way; the binding rethrows them typed (binding/client.ts).
 */

import type { GateRpc } from "../concurrency/gate.js";
import { isWorkflowError, type SerializedError, type WorkflowError } from "../errors.js";
import type { ListingEntry, ListingRpc } from "../listing/shard.js";
import type { WorkflowCronSchedule } from "../schedules/cron.js";
import type { ScheduleRpc } from "../schedules/schedules.js";
import type { EventPage, EventPageRequest } from "./events.js";
import type {
	HistoryPage,
	HistoryPageRequest,
	InstanceHistory,
	StepKey,
	StepLookup,
} from "./history.js";

/**
 * The engine object's RPC methods: the whole contract between an engine and its callers (the
 * binding, the listing, the operations and the test kit), which import it instead of the engine
 * class. `WorkflowEngine` implements it, and has no other RPC-callable method.
 */
export interface EngineRpc extends ListingRpc, GateRpc, ScheduleRpc {
	/** The workflow's gate admitted the instance: true if it takes the slot (see admission.ts). */
	admit(): Promise<boolean>;
	/** Creates the instance and starts its run (see {@link CreateRequest}). */
	create(request: CreateRequest): Promise<RpcResult<ListingEntry | null>>;
	exists(): Promise<boolean>;
	/** Answers once the instance is finished, or after `maxWaitMs`, with its status then. */
	waitForEnd(maxWaitMs: number): Promise<RpcResult<InstanceStatus>>;
	/** A page of the instance's events after a cursor (events.ts); waits up to `waitMs` for one. */
	events(request: EventPageRequest): Promise<RpcResult<EventPage>>;
	/** The whole history in one answer; callers now read pages (historyPage), which always fit one. */
	history(): Promise<RpcResult<InstanceHistory>>;
	/** A page of the history: at most `limit` steps, values over `maxValueBytes` left out (history.ts). */
	historyPage(request: HistoryPageRequest): Promise<RpcResult<HistoryPage>>;
	/** One step of the history with its value, and the instance's status; step null if there is none. */
	historyStep(ref: StepKey): Promise<RpcResult<StepLookup>>;
	/** A new stream of a step's streamed output (for the test kit); null if it has none. */
	stepStream(ref: StepKey): Promise<RpcResult<ReadableStream<Uint8Array> | null>>;
	status(): Promise<RpcResult<InstanceStatus>>;
	pause(): Promise<RpcResult<null>>;
	resume(): Promise<RpcResult<null>>;
	terminate(options?: { rollback?: boolean }): Promise<RpcResult<null>>;
	restart(from?: RestartFrom): Promise<RpcResult<null>>;
	sendEvent(event: { type: string; payload: unknown }): Promise<RpcResult<null>>;
	delete(): Promise<RpcResult<null>>;
}

/** A workflow's engine namespace, as its callers see it. */
export type EngineNamespace = DurableObjectNamespace<EngineRpc & Rpc.DurableObjectBranded>;

/** A stub of one engine object. */
export type EngineStub = DurableObjectStub<EngineRpc & Rpc.DurableObjectBranded>;

/** What the engine's RPC methods answer: errors travel as data, so the binding can rethrow them typed. */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export function ok<T>(value: T): RpcResult<T> {
	return { ok: true, value };
}

export function fail(error: WorkflowError): RpcResult<never> {
	return { ok: false, error: error.toJSON() };
}

/** The arguments of {@link EngineRpc.create}, already validated by the binding. */
export interface CreateRequest {
	id: string;
	params: unknown;
	/** How long a finished instance is kept, in ms, by how it ended; null: until deleted. */
	retention?: { success: number | null; error: number | null };
	/** Where the engine object should be created (used by the binding, not the engine). */
	locationHint?: DurableObjectLocationHint;
	/** When the caller created it: the time its listing row has (ms). By default, when the engine does. */
	createdAt?: number;
	/**
	 * The caller writes the listing row of an instance that settles (ends, or waits) within the
	 * create call: `create` then answers once the call's writes are committed, with the instance's
	 * listing entry if it settled by then (the engine does not publish it), else null. createBatch
	 * sets it, to write the rows of a batch's quick instances with one request per shard.
	 */
	callerLists?: boolean;
	/** Set by a schedule's tick (schedules/create.ts): the instance's `event.schedule`. */
	schedule?: WorkflowCronSchedule;
}

/** The arguments of {@link EngineRpc.restart}: the step to restart from. */
export interface RestartFrom {
	name: string;
	count?: number;
	type?: "do" | "sleep" | "waitForEvent";
}

/** Runs an RPC method's body, turning the typed errors it throws into an error answer. */
export function rpc<T>(body: () => T): RpcResult<T> {
	try {
		return ok(body());
	} catch (error) {
		if (isWorkflowError(error)) return fail(error);
		throw error;
	}
}
