/**
 * The introspectors: `introspectWorkflowInstance` (one instance, by id) and `introspectWorkflow`
 * (every instance of a workflow created after it), in the shape of the product's `cloudflare:test`.
 */
import { type EngineClient, engineClient } from "../binding/client.js";
import type { InstanceHistory, StepHistory } from "../engine/history.js";
import type { EngineNamespace } from "../engine/protocol.js";
import { isFinalStatus, type PublicStatus } from "../engine/status.js";
import { InstanceNotFoundError, InvalidStateError, isWorkflowError } from "../errors.js";
import { HISTORY_PAGE_BYTES, MAX_HISTORY_LIMIT, MAX_STREAM_OUTPUT_BYTES } from "../limits.js";
import { parse } from "../schemas.js";
import {
	MockedStream,
	Modifications,
	type StepSelector,
	validEvent,
	type WorkflowInstanceModifier,
} from "./controls.js";
import { registry, type Session } from "./registry.js";
import { instanceStatusSchema, stepSelectorSchema } from "./schemas.js";

/** The product's `WorkflowInstanceIntrospector`, plus `getHistory()`. */
export interface WorkflowInstanceIntrospector {
	/** Applies modifications (mocks, disabled sleeps and delays) to the instance. */
	modify(fn: (m: WorkflowInstanceModifier) => Promise<void>): Promise<WorkflowInstanceIntrospector>;
	/**
	 * Resolves with the step's result once it has completed (at once if it has); rejects with its
	 * error if it fails for good.
	 */
	waitForStepResult(step: StepSelector): Promise<unknown>;
	/**
	 * Resolves once the instance reaches `status` (at once if it is there); rejects if it reaches
	 * a final status (complete, errored, terminated) other than `status`.
	 */
	waitForStatus(status: PublicStatus): Promise<void>;
	/** The output of a complete instance; throws if it is not complete. */
	getOutput(): Promise<unknown>;
	/** The error of an errored instance; throws if it is not errored. */
	getError(): Promise<{ name: string; message: string }>;
	/** Beyond the product: every step the instance met, with its attempts, timings, output or error. */
	getHistory(): Promise<InstanceHistory>;
	/** Removes the modifications and terminates the instance if it is still live. */
	dispose(): Promise<void>;
	[Symbol.asyncDispose](): Promise<void>;
}

/**
 * Every step of the instance, every value included, read a page at a time (one answer of the
 * engine holds at most 32 MiB; 40 steps of 1 MB each are more). The instance's own fields are the
 * last page's; a value a page left out (larger than a page's budget) is read on its own.
 */
async function wholeHistory(engine: EngineClient): Promise<InstanceHistory> {
	const steps: StepHistory[] = [];
	let after: number | undefined;
	for (;;) {
		const page = await engine.historyPage({
			after,
			limit: MAX_HISTORY_LIMIT,
			maxValueBytes: HISTORY_PAGE_BYTES,
		});
		for (const step of page.history.steps) {
			const omitted =
				(step.type === "do" && step.outputOmitted) ||
				(step.type === "waitForEvent" && step.eventOmitted);
			const whole = omitted
				? (await engine.historyStep({ type: step.type, name: step.name, index: step.index })).step
				: step;
			steps.push(whole ?? step);
		}
		if (page.after === undefined) return { ...page.history, steps };
		after = page.after;
	}
}

/** The product's `WorkflowIntrospector`. */
export interface WorkflowIntrospector {
	/** Modifications applied to every instance created after `introspectWorkflow()`. */
	modifyAll(fn: (m: WorkflowInstanceModifier) => Promise<void>): Promise<void>;
	/** Introspectors of the instances created since `introspectWorkflow()`, oldest first. */
	get(): Promise<WorkflowInstanceIntrospector[]>;
	/** Stops introspecting and disposes every instance introspector. */
	dispose(): Promise<void>;
	[Symbol.asyncDispose](): Promise<void>;
}

/**
 * An engine's refusal as the kit reports it: an InvalidStateError, the kit's error for a call made
 * at the wrong time (`prefix` before its message). Errors of the call itself pass through.
 */
function asInvalidState(error: unknown, prefix = ""): unknown {
	return isWorkflowError(error) ? new InvalidStateError(prefix + error.message) : error;
}

/** An engine's answer, or undefined if there is no instance (see {@link asInvalidState}). */
async function orMissing<T>(answer: Promise<T>): Promise<T | undefined> {
	try {
		return await answer;
	} catch (error) {
		if (isWorkflowError(error) && error.code === "instance_not_found") return undefined;
		throw asInvalidState(error);
	}
}

export class InstanceIntrospector implements WorkflowInstanceIntrospector {
	readonly id: string;
	readonly #engine: EngineClient;
	readonly #objectId: string;
	readonly #modifications: Modifications;
	#disposed = false;

	constructor(namespace: EngineNamespace, id: string, modifications: Modifications) {
		this.id = id;
		this.#engine = engineClient(namespace, id);
		this.#objectId = namespace.idFromName(id).toString();
		this.#modifications = modifications;
	}

	#live(method: string): void {
		if (this.#disposed) {
			throw new InvalidStateError(
				`${method}: the introspector of instance "${this.id}" was disposed`,
			);
		}
	}

	async modify(
		fn: (m: WorkflowInstanceModifier) => Promise<void>,
	): Promise<WorkflowInstanceIntrospector> {
		this.#live("modify");
		await fn(instanceModifier(this.#modifications, this.#engine));
		return this;
	}

	async #status(): Promise<InstanceStatus | undefined> {
		return orMissing(this.#engine.status());
	}

	async waitForStatus(status: PublicStatus): Promise<void> {
		this.#live("waitForStatus");
		const target = parse(instanceStatusSchema, status, "waitForStatus status");
		// As in the product: every instance has been queued, so there is nothing to wait for.
		if (target === "queued") return;
		const watch = registry.watch(this.#objectId);
		try {
			let seen = 0;
			for (;;) {
				// Statuses written since the last look, then the current one: a status held only
				// for a moment between two looks still counts as reached.
				const written = watch.statuses.slice(seen);
				seen = watch.statuses.length;
				const next = watch.next();
				const current = (await this.#status())?.status;
				const reached = current === undefined ? written : [...written, current];
				if (reached.includes(target)) return;
				const final = reached.find(isFinalStatus);
				if (final) {
					throw new InvalidStateError(
						`waitForStatus("${target}"): instance "${this.id}" reached "${final}", a final status, so it will never be "${target}"`,
					);
				}
				await next;
			}
		} finally {
			watch.stop();
		}
	}

	async waitForStepResult(step: StepSelector): Promise<unknown> {
		this.#live("waitForStepResult");
		const { name, index } = parse(stepSelectorSchema, step, "waitForStepResult step");
		const watch = registry.watch(this.#objectId);
		try {
			for (;;) {
				const next = watch.next();
				// The one step, not the whole history: that can be larger than an RPC answer.
				const lookup = await orMissing(this.#engine.historyStep({ type: "do", name, index }));
				const found = lookup?.step;
				if (found?.type === "do" && found.state === "complete") {
					// A streamed output (a ReadableStream the step returned, or a mocked one): as in the
					// product, a new stream of its stored bytes.
					if (found.outputOmitted?.stream) {
						return orMissing(this.#engine.stepStream({ type: "do", name, index }));
					}
					return found.output;
				}
				if (found?.type === "do" && found.state === "errored" && found.error) {
					throw Object.assign(new Error(found.error.message), { name: found.error.name });
				}
				if (lookup && isFinalStatus(lookup.status)) {
					throw new InvalidStateError(
						found
							? `waitForStepResult: instance "${this.id}" is ${lookup.status}; step "${name}" #${index} never finished`
							: `waitForStepResult: instance "${this.id}" is ${lookup.status} and never ran step "${name}" #${index}`,
					);
				}
				await next;
			}
		} finally {
			watch.stop();
		}
	}

	async getOutput(): Promise<unknown> {
		const status = await this.#status();
		if (status?.status !== "complete") {
			throw new InvalidStateError(
				`getOutput: instance "${this.id}" is ${status?.status ?? "not created"}; only a complete instance has an output (await waitForStatus("complete") first)`,
			);
		}
		return status.output;
	}

	async getError(): Promise<{ name: string; message: string }> {
		const status = await this.#status();
		if (status?.status !== "errored" || !status.error) {
			throw new InvalidStateError(
				`getError: instance "${this.id}" is ${status?.status ?? "not created"}; only an errored instance has an error (await waitForStatus("errored") first)`,
			);
		}
		return { name: status.error.name, message: status.error.message };
	}

	async getHistory(): Promise<InstanceHistory> {
		const history = await orMissing(wholeHistory(this.#engine));
		if (!history) throw new InstanceNotFoundError(`instance "${this.id}" not found`);
		return history;
	}

	/** Bound, so `await using` and `afterEach(introspector.dispose)` both work. */
	dispose = async (): Promise<void> => {
		if (this.#disposed) return;
		this.#disposed = true;
		registry.release(this.#objectId, this.#modifications);
		// As in the product, the instance goes with its introspector: no timer of it fires into
		// the next test, and the next test can create an instance with the same id.
		await orMissing(this.#engine.delete());
	};

	async [Symbol.asyncDispose](): Promise<void> {
		await this.dispose();
	}
}

/** The modifier `modify()` hands out: it writes `modifications`, and sends events to a live instance. */
function instanceModifier(
	modifications: Modifications,
	engine: EngineClient,
): WorkflowInstanceModifier {
	return {
		...recorder(modifications),
		async mockEvent(event) {
			const checked = validEvent(event);
			// Recorded, so that the instance gets it as it is created (and again after a restart);
			// an instance that exists already gets it now, like any sent event.
			modifications.recordEvent(checked);
			if (!(await engine.exists())) return;
			await engine.sendEvent(checked).catch((error: unknown) => {
				throw asInvalidState(error, "mockEvent: ");
			});
		},
	};
}

/** A call of the modifier, kept so that it can be made again on a new instance's modifications. */
type Operation = (modifications: Modifications) => void;

/**
 * A modifier that writes `modifications` (events included, queued for creation) and, if given
 * `log`, records each call in it.
 */
function recorder(modifications: Modifications, log?: Operation[]): WorkflowInstanceModifier {
	const apply = async (operation: Operation) => {
		operation(modifications);
		log?.push(operation);
	};
	return {
		disableSleeps: (steps) => apply((m) => m.disableSleeps(steps)),
		disableRetryDelays: (steps) => apply((m) => m.disableRetryDelays(steps)),
		mockStepResult: async (step, value) => {
			// A stream is read now, once: each instance and attempt gets a new stream of its bytes.
			const mocked =
				value instanceof ReadableStream
					? await MockedStream.read(value, MAX_STREAM_OUTPUT_BYTES)
					: value;
			await apply((m) => m.mockStepResult(step, mocked));
		},
		mockStepError: (step, error, times) => apply((m) => m.mockStepError(step, error, times)),
		forceStepTimeout: (step, times) => apply((m) => m.forceStepTimeout(step, times)),
		mockEvent: (event) => apply((m) => m.recordEvent(event)),
		forceEventTimeout: (step) => apply((m) => m.forceEventTimeout(step)),
	};
}

export class WorkflowSession implements WorkflowIntrospector, Session {
	readonly #namespace: EngineNamespace;
	/** Every modifier call of `modifyAll`, made again on each new instance's modifications. */
	readonly #operations: Operation[] = [];
	readonly #instances: InstanceIntrospector[] = [];
	#disposed = false;

	constructor(namespace: EngineNamespace) {
		this.#namespace = namespace;
		registry.addSession(
			this,
			(other) => other instanceof WorkflowSession && other.#sameNamespace(namespace),
		);
	}

	#sameNamespace(namespace: EngineNamespace): boolean {
		const probe = "listing:0";
		return this.#namespace.idFromName(probe).equals(namespace.idFromName(probe));
	}

	owns(objectId: string, instanceId: string): boolean {
		return !this.#disposed && this.#namespace.idFromName(instanceId).toString() === objectId;
	}

	adopt(_objectId: string, instanceId: string): Modifications {
		const modifications = new Modifications();
		for (const operation of this.#operations) operation(modifications);
		this.#instances.push(new InstanceIntrospector(this.#namespace, instanceId, modifications));
		return modifications;
	}

	async modifyAll(fn: (m: WorkflowInstanceModifier) => Promise<void>): Promise<void> {
		if (this.#disposed) throw new InvalidStateError("modifyAll: the introspector was disposed");
		// The calls are checked on a scratch copy of what earlier calls wrote, so a mistake (a step
		// mocked twice) throws here, and only calls that succeeded are recorded.
		const scratch = new Modifications();
		for (const operation of this.#operations) operation(scratch);
		await fn(recorder(scratch, this.#operations));
	}

	async get(): Promise<WorkflowInstanceIntrospector[]> {
		return [...this.#instances];
	}

	dispose = async (): Promise<void> => {
		if (this.#disposed) return;
		this.#disposed = true;
		registry.removeSession(this);
		await Promise.all(this.#instances.map((instance) => instance.dispose()));
	};

	async [Symbol.asyncDispose](): Promise<void> {
		await this.dispose();
	}
}
