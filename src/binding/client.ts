import type { GateRpc } from "../concurrency/gate.js";
import type { EventPage, EventPageRequest } from "../engine/events.js";
import type {
	HistoryPage,
	HistoryPageRequest,
	InstanceHistory,
	StepKey,
	StepLookup,
} from "../engine/history.js";
import type {
	CreateRequest,
	EngineNamespace,
	EngineRpc,
	EngineStub,
	RestartFrom,
	RpcResult,
} from "../engine/protocol.js";
import {
	deserializeError,
	InstanceNotFoundError,
	isStorageRefusal,
	StorageUnavailableError,
} from "../errors.js";
import type { ListingEntry, ListingRpc } from "../listing/shard.js";
import type { ScheduleRpc } from "../schedules/schedules.js";

/**
 * The engine's methods for one instance: EngineRpc without the listing shard's (bar
 * `listingEntry`), the gate's, the gate's `admit` call and the scheduler's.
 */
type InstanceRpc = Omit<
	EngineRpc,
	Exclude<keyof ListingRpc, "listingEntry"> | keyof GateRpc | "admit" | keyof ScheduleRpc
>;

/** An engine method as the client offers it: its answer unwrapped, its error thrown typed. */
type Unwrapped<M> = M extends (...args: infer A) => Promise<RpcResult<infer T>>
	? (...args: A) => Promise<T>
	: M;

/** One instance's engine object, as the binding, the operations and the test kit call it. */
export type EngineClient = { [K in keyof InstanceRpc]: Unwrapped<InstanceRpc[K]> };

/**
 * The engine object of instance `id` in `namespace`. Every call gets a fresh stub, so the client
 * stays usable for as long as its holder keeps it (a stub breaks for good when its object is
 * reset by a crash or a deploy; getting one makes no request). Answers come back unwrapped, and
 * refusals as the typed error they were: this is the one place that knows how they travel.
 * Errors of the call itself (the object was reset meanwhile) are thrown as RPC threw them, so a
 * caller tells them apart from a refusal with `isWorkflowError`; but storage refusing (the object
 * could not open its database) is a StorageUnavailableError, as when the engine answers so.
 */
export function engineClient(namespace: EngineNamespace, id: string): EngineClient {
	return new Client(namespace, id);
}

class Client implements EngineClient {
	readonly #namespace: EngineNamespace;
	readonly #id: string;

	constructor(namespace: EngineNamespace, id: string) {
		this.#namespace = namespace;
		this.#id = id;
	}

	#stub(locationHint?: DurableObjectLocationHint): EngineStub {
		return this.#namespace.get(
			this.#namespace.idFromName(this.#id),
			locationHint && { locationHint },
		);
	}

	/**
	 * The answer's value, or its error rethrown typed. An engine object with no instance does not
	 * know the id it was asked for; the client does, and names it. RPC's typing of a stub widens
	 * the answers' `unknown` fields (an output, a payload); the values are what EngineRpc says.
	 */
	async #answer<T>(pending: Promise<unknown>): Promise<T> {
		let result: RpcResult<T>;
		try {
			result = (await pending) as RpcResult<T>;
		} catch (error) {
			// The object could not answer because its storage refused (it could not even open its
			// database: SQLITE_NOMEM): as retryable as the refusals the engine answers with.
			if (!isStorageRefusal(error)) throw error;
			throw new StorageUnavailableError(
				`instance "${this.#id}": its storage is unavailable (${(error as Error).message}); nothing was stored, retry later`,
			);
		}
		if (result.ok) return result.value;
		if (result.error.code === "instance_not_found") {
			throw new InstanceNotFoundError(`instance "${this.#id}" not found`);
		}
		throw deserializeError(result.error);
	}

	exists(): Promise<boolean> {
		return this.#stub().exists();
	}

	listingEntry(): Promise<ListingEntry | null> {
		return this.#stub().listingEntry();
	}

	/** Creates the instance, in the object's `request.locationHint` if it has one. */
	create(request: CreateRequest): Promise<ListingEntry | null> {
		const { locationHint, ...rest } = request;
		return this.#answer(this.#stub(locationHint).create(rest));
	}

	waitForEnd(maxWaitMs: number): Promise<InstanceStatus> {
		return this.#answer(this.#stub().waitForEnd(maxWaitMs));
	}

	events(request: EventPageRequest): Promise<EventPage> {
		return this.#answer(this.#stub().events(request));
	}

	history(): Promise<InstanceHistory> {
		return this.#answer(this.#stub().history());
	}

	historyPage(request: HistoryPageRequest): Promise<HistoryPage> {
		return this.#answer(this.#stub().historyPage(request));
	}

	historyStep(ref: StepKey): Promise<StepLookup> {
		return this.#answer(this.#stub().historyStep(ref));
	}

	stepStream(ref: StepKey): Promise<ReadableStream<Uint8Array> | null> {
		return this.#answer(this.#stub().stepStream(ref));
	}

	status(): Promise<InstanceStatus> {
		return this.#answer(this.#stub().status());
	}

	pause(): Promise<null> {
		return this.#answer(this.#stub().pause());
	}

	resume(): Promise<null> {
		return this.#answer(this.#stub().resume());
	}

	terminate(options?: { rollback?: boolean }): Promise<null> {
		// Sent only when set, so that the common call stays as it was.
		return this.#answer(
			options?.rollback === true
				? this.#stub().terminate({ rollback: true })
				: this.#stub().terminate(),
		);
	}

	restart(from?: RestartFrom): Promise<null> {
		return this.#answer(this.#stub().restart(from));
	}

	sendEvent(event: { type: string; payload: unknown }): Promise<null> {
		return this.#answer(this.#stub().sendEvent(event));
	}

	delete(): Promise<null> {
		return this.#answer(this.#stub().delete());
	}
}
