import type { EngineNamespace } from "../engine/protocol.js";
import {
	assertStorable,
	parse,
	restartOptionsSchema,
	sendEventSchema,
	subscribeOptionsSchema,
} from "../schemas.js";
import { type EngineClient, engineClient } from "./client.js";
import { InstanceSubscription } from "./subscription.js";

/**
 * The run of an instance, as the handles its own code makes see it: `guard` passes a promise on
 * unless the run has been stopped meanwhile, then never settles (Execution.guard).
 */
export interface OwnRun {
	id: string;
	guard<T>(promise: Promise<T>): Promise<T>;
}

/**
 * A handle on one instance, as `create()`, `createBatch()` and `get()` return it: the product's
 * `WorkflowInstance`, backed by the instance's engine object.
 */
export class InstanceHandle implements WorkflowInstance {
	readonly id: string;
	readonly #engine: EngineClient;
	readonly #own: OwnRun["guard"] | undefined;

	/** `own`: the handle's instance is the run holding the handle (see OwnRun). */
	constructor(id: string, namespace: EngineNamespace, own?: OwnRun) {
		this.id = id;
		this.#engine = engineClient(namespace, id);
		this.#own = own?.id === id ? own.guard : undefined;
	}

	/**
	 * A lifecycle call's answer; when the run calls it on its own instance and the call stops the
	 * run (terminate, delete, restart, pause), one that never comes: nothing after it runs.
	 */
	#settled<T>(call: Promise<T>): Promise<T> {
		return this.#own ? this.#own(call) : call;
	}

	/** The instance's status, its error if it failed, and its output if it completed. */
	async status(): Promise<InstanceStatus> {
		return this.#engine.status();
	}

	/**
	 * Pauses at the next step boundary: `waitingForPause` while a step attempt finishes, then
	 * `paused`. Sleeps and event waits stay pending; nothing runs until `resume()`.
	 * @throws InvalidStateError if the instance is complete, errored or terminated.
	 */
	async pause(): Promise<void> {
		await this.#settled(this.#engine.pause());
	}

	/**
	 * Continues a paused instance where it stopped.
	 * @throws InvalidStateError if the instance is not paused (or waiting for a pause).
	 */
	async resume(): Promise<void> {
		await this.#engine.resume();
	}

	/**
	 * Ends the instance as `terminated` at once: its timers are cancelled, no step of it runs again.
	 * With `{ rollback: true }`, the rollback handlers of its steps run first (status `rollingBack`),
	 * in reverse step-start order; the call returns as the rollback starts.
	 * @throws InvalidStateError if it is already complete, errored or terminated.
	 */
	async terminate(options?: WorkflowInstanceTerminateOptions): Promise<void> {
		await this.#settled(this.#engine.terminate(options));
	}

	/** The older name of {@link terminate}. */
	async abort(): Promise<void> {
		return this.terminate();
	}

	/**
	 * Runs the instance again, with the same id and params, from any status. With `from`, the
	 * steps before that one keep their results; without it, everything is erased.
	 * @throws WorkflowValidationError for malformed options.
	 * @throws InvalidStateError if `from` names a step that is not in the instance's history.
	 */
	async restart(options?: WorkflowInstanceRestartOptions): Promise<void> {
		const { from } = parse(restartOptionsSchema, options ?? {}, "restart options");
		await this.#settled(this.#engine.restart(from));
	}

	/**
	 * Sends an event to the instance: the oldest `step.waitForEvent` for its type receives it, or,
	 * if none is waiting, the next one will (first in, first out per type). Delivered once.
	 * @throws WorkflowValidationError for a type that is empty or over 100 characters, or a payload
	 *   that is over 1 MiB or not structured-clone serialisable.
	 * @throws InvalidStateError if the instance is complete, errored or terminated.
	 */
	async sendEvent(event: { type: string; payload: unknown }): Promise<void> {
		const parsed = parse(sendEventSchema, event, "event");
		assertStorable(parsed.payload, "event.payload", { sent: true });
		await this.#engine.sendEvent({ type: parsed.type, payload: parsed.payload });
	}

	/** Deletes the instance and everything it stored; its id can be used again. */
	async delete(): Promise<void> {
		await this.#settled(this.#engine.delete());
	}

	/**
	 * The instance's events (workers-types 5's `WorkflowInstanceEvent`s), from its first (or
	 * after `cursor`, the `eventId` of the last event seen) on, of the types in `filter` only if
	 * given; `next()` waits for the instance to record more, and is done after its final event
	 * (`workflow_completed`, `workflow_errored` or `workflow_terminated`) was read. Events come
	 * from the instance's journal, so a cursor stays valid across restarts: see docs/api.md.
	 * @throws WorkflowValidationError for malformed options.
	 * @throws InstanceNotFoundError if there is no such instance.
	 */
	async subscribe(
		options?: WorkflowInstanceSubscribeOptions,
	): Promise<WorkflowInstanceSubscription> {
		const parsed = parse(subscribeOptionsSchema, options ?? {}, "subscribe options");
		return InstanceSubscription.open(this.#engine, parsed);
	}
}
