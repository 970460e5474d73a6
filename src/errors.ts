/**
 * Errors raised by do-workflows, and predicates that recognise them.
 *
 * Errors cross realms (a workflow's isolate, an RPC hop from the binding to the engine object,
 * storage), where `instanceof` stops working. Every error here carries a `Symbol.for` brand and a
 * stable `code`, and the `is*()` predicates check those, never the message text.
 */

const BRAND = Symbol.for("do-workflows.error");
const NON_RETRYABLE_BRAND = Symbol.for("do-workflows.non-retryable");

/** Stable, machine-readable codes of {@link WorkflowError}s. */
export type WorkflowErrorCode =
	| "invalid_input"
	| "instance_exists"
	| "instance_not_found"
	| "invalid_state"
	| "timeout"
	| "step_limit_exceeded"
	| "step_interrupted"
	| "unserializable_value"
	| "value_too_large"
	| "not_supported"
	| "storage_unavailable";

/** The JSON shape of an error as it is stored and sent over RPC. */
export interface SerializedError {
	name: string;
	message: string;
	code?: WorkflowErrorCode;
}

/**
 * Thrown from a `step.do` callback, fails the step at once: no further attempts are made and the
 * error propagates to `run()`. If `run()` does not catch it, the instance ends `errored`.
 *
 * @example
 * ```ts
 * await step.do("charge card", async () => {
 *   const res = await fetch(url);
 *   if (res.status === 402) throw new NonRetryableError("card declined");
 * });
 * ```
 */
export class NonRetryableError extends Error {
	readonly [NON_RETRYABLE_BRAND] = true;

	/** @param name The error's `name` as `status().error.name` reports it. Default: "NonRetryableError". */
	constructor(message: string, name = "NonRetryableError") {
		super(message);
		this.name = name;
	}
}

/**
 * Base class of the errors do-workflows itself raises. `code` says what went wrong;
 * `message` names the limit or state involved.
 */
export class WorkflowError extends Error {
	readonly [BRAND] = true;
	readonly code: WorkflowErrorCode;

	constructor(code: WorkflowErrorCode, message: string) {
		super(message);
		this.code = code;
		this.name = "WorkflowError";
	}

	toJSON(): SerializedError {
		return { name: this.name, message: this.message, code: this.code };
	}
}

/** Input broke a documented limit or shape: an id, a name, a duration, a step config, a size. */
export class WorkflowValidationError extends WorkflowError {
	constructor(message: string) {
		super("invalid_input", message);
		this.name = "WorkflowValidationError";
	}
}

/** `create()` or `createBatch()` named an id that is already in use. */
export class InstanceExistsError extends WorkflowError {
	constructor(message: string) {
		super("instance_exists", message);
		this.name = "InstanceExistsError";
	}
}

/** `get()` (or a call on a handle) named an instance that does not exist. */
export class InstanceNotFoundError extends WorkflowError {
	constructor(message: string) {
		super("instance_not_found", message);
		this.name = "InstanceNotFoundError";
	}
}

/** An operation is not allowed in the instance's current status. */
export class InvalidStateError extends WorkflowError {
	constructor(message: string) {
		super("invalid_state", message);
		this.name = "InvalidStateError";
	}
}

/**
 * A step attempt ran longer than its `timeout` (thrown into `run()` once retries are exhausted),
 * or `step.waitForEvent` received no event in time. Named as the product names it.
 */
export class WorkflowTimeoutError extends WorkflowError {
	constructor(message: string) {
		super("timeout", message);
		this.name = "WorkflowTimeoutError";
	}
}

/** The instance tried to start more steps than its step limit allows. */
export class StepLimitError extends WorkflowError {
	constructor(message: string) {
		super("step_limit_exceeded", message);
		this.name = "StepLimitError";
	}
}

/** A step's attempts were cut off (by crashes or evictions) more times than the engine allows. */
export class StepInterruptedError extends WorkflowError {
	constructor(message: string) {
		super("step_interrupted", message);
		this.name = "StepInterruptedError";
	}
}

/** A value to be stored (step output, workflow output, params) is not structured-clone serialisable. */
export class UnserializableValueError extends WorkflowError {
	constructor(message: string) {
		super("unserializable_value", message);
		this.name = "UnserializableValueError";
	}
}

/** A value to be stored is larger than its documented limit. */
export class ValueTooLargeError extends WorkflowError {
	constructor(message: string) {
		super("value_too_large", message);
		this.name = "ValueTooLargeError";
	}
}

/**
 * A part of the product's API that do-workflows does not implement yet (docs/differences.md
 * lists them). Raised by the call itself, so ported code fails where it uses the feature.
 */
export class NotSupportedError extends WorkflowError {
	constructor(message: string) {
		super("not_supported", message);
		this.name = "NotSupportedError";
	}
}

/**
 * The engine object's storage refused a write it needed (it ran out of memory, its disk is full):
 * the call stored nothing and may be retried later. Inside a run this never reaches `run()`: the
 * run stops and is replayed by its lease alarm (docs/guarantees.md).
 */
export class StorageUnavailableError extends WorkflowError {
	constructor(message: string) {
		super("storage_unavailable", message);
		this.name = "StorageUnavailableError";
	}
}

/**
 * The messages of storage refusing a call rather than the call being wrong: SQLite out of memory
 * or disk (SQLITE_NOMEM, SQLITE_FULL), an I/O error, a busy or locked database, or the runtime's
 * opaque internal error.
 */
const STORAGE_REFUSED =
	/SQLITE_(NOMEM|FULL|IOERR|BUSY|LOCKED)\b|out of memory|disk is full|internal error; reference/i;

/** True for an error that says storage refused the call (see StorageUnavailableError). */
export function isStorageRefusal(error: unknown): boolean {
	return error instanceof Error && STORAGE_REFUSED.test(error.message);
}

function branded(error: unknown, brand: symbol): boolean {
	return typeof error === "object" && error !== null && brand in error;
}

/** True for any error raised by do-workflows itself, from any realm. */
export function isWorkflowError(error: unknown): error is WorkflowError {
	return branded(error, BRAND);
}

/**
 * True for a {@link NonRetryableError}, from any realm; also recognises the product's own
 * `NonRetryableError` (from `cloudflare:workflows`) by its name, so ported code keeps working.
 */
export function isNonRetryableError(error: unknown): error is NonRetryableError {
	return (
		branded(error, NON_RETRYABLE_BRAND) ||
		(error instanceof Error && error.constructor?.name === "NonRetryableError")
	);
}

const BY_CODE: Record<WorkflowErrorCode, new (message: string) => WorkflowError> = {
	invalid_input: WorkflowValidationError,
	instance_exists: InstanceExistsError,
	instance_not_found: InstanceNotFoundError,
	invalid_state: InvalidStateError,
	timeout: WorkflowTimeoutError,
	step_limit_exceeded: StepLimitError,
	step_interrupted: StepInterruptedError,
	unserializable_value: UnserializableValueError,
	value_too_large: ValueTooLargeError,
	not_supported: NotSupportedError,
	storage_unavailable: StorageUnavailableError,
};

/**
 * The longest error message kept (in UTF-16 code units): a longer one is cut to this length,
 * ending with a note of its own length. A storage row holds at most 2 MB, and a step error stored
 * whole could exceed it.
 */
export const MAX_ERROR_MESSAGE_LENGTH = 64 * 1024;

/** The longest error name kept; a longer one is cut. */
const MAX_ERROR_NAME_LENGTH = 256;

function capped(message: string): string {
	if (message.length <= MAX_ERROR_MESSAGE_LENGTH) return message;
	const note = `… (cut from ${message.length} characters)`;
	return message.slice(0, MAX_ERROR_MESSAGE_LENGTH - note.length) + note;
}

/**
 * The stored form of any thrown value, as it is stored and sent: its name, its message (at most
 * {@link MAX_ERROR_MESSAGE_LENGTH}) and its code if it is ours.
 */
export function serializeError(error: unknown): SerializedError {
	if (isWorkflowError(error))
		return { name: error.name, message: capped(error.message), code: error.code };
	if (error instanceof Error) {
		return {
			name: String(error.name).slice(0, MAX_ERROR_NAME_LENGTH),
			message: capped(String(error.message)),
		};
	}
	return { name: "Error", message: capped(String(error)) };
}

/**
 * Rebuilds an error from its stored form: our own typed error where it has a code, a
 * {@link NonRetryableError} where it was one, else a plain `Error` with the same name and message.
 */
export function deserializeError(stored: SerializedError, nonRetryable = false): Error {
	if (stored.code) return new BY_CODE[stored.code](stored.message);
	if (nonRetryable) return new NonRetryableError(stored.message, stored.name);
	const error = new Error(stored.message);
	error.name = stored.name;
	return error;
}
