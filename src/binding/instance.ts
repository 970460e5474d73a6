import type { RpcResult, WorkflowEngine } from "../engine/engine";
import { deserializeError, InvalidStateError } from "../errors";

/** Unwraps an engine answer, rethrowing its error as the typed error it was. */
export function unwrap<T>(result: RpcResult<T>): T {
	if (result.ok) return result.value;
	throw deserializeError(result.error);
}

/**
 * A handle on one instance, as `create()`, `createBatch()` and `get()` return it: the product's
 * `WorkflowInstance`, backed by the instance's engine object.
 */
export class InstanceHandle implements WorkflowInstance {
	readonly id: string;
	readonly #namespace: DurableObjectNamespace<WorkflowEngine>;

	constructor(id: string, namespace: DurableObjectNamespace<WorkflowEngine>) {
		this.id = id;
		this.#namespace = namespace;
	}

	// A stub breaks for good when its object is reset (a crash, a deploy); a fresh one per call
	// keeps a handle usable for as long as the caller holds it. Getting a stub makes no request.
	get #stub(): DurableObjectStub<WorkflowEngine> {
		return this.#namespace.get(this.#namespace.idFromName(this.id));
	}

	/** The instance's status, its error if it failed, and its output if it completed. */
	async status(): Promise<InstanceStatus> {
		// The stub's typing widens `output: unknown` through its RPC mapping; the value is the engine's InstanceStatus.
		const result = unwrap((await this.#stub.status()) as RpcResult<InstanceStatus>);
		if (result.status === "unknown")
			throw new InvalidStateError(`instance "${this.id}" is in an unknown state`);
		return result;
	}

	async pause(): Promise<void> {
		throw notYet("pause");
	}

	async resume(): Promise<void> {
		throw notYet("resume");
	}

	async terminate(): Promise<void> {
		throw notYet("terminate");
	}

	async restart(): Promise<void> {
		throw notYet("restart");
	}

	async sendEvent(_event: { type: string; payload: unknown }): Promise<void> {
		throw notYet("sendEvent");
	}
}

function notYet(method: string): InvalidStateError {
	return new InvalidStateError(
		`instance.${method}() is not supported by this version of do-workflows`,
	);
}
