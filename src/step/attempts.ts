/**
 * A step's attempts: runs its callback (or a test's override), with the step's timeout, retries
 * and delay, and journals each attempt's outcome before the attempt counts as ended. Used for
 * `step.do` and for rollback handlers, each from its journal entry, so a replay carries on where
 * the last run stopped.
 */
import type { WorkflowStepContext } from "cloudflare:workers";
import type { AttemptOverride, InstanceControls } from "../engine/hooks.js";
import type { StepRow } from "../engine/journal.js";
import { StepMoveError, StepState } from "../engine/steps.js";
import { StorageFailure } from "../engine/store.js";
import { toLargeJsonText } from "../engine/values.js";
import {
	deserializeError,
	isNonRetryableError,
	StepInterruptedError,
	serializeError,
	UnserializableValueError,
	ValueTooLargeError,
	WorkflowTimeoutError,
} from "../errors.js";
import { MAX_INTERRUPTED_ATTEMPTS, MAX_VALUE_BYTES, OUTPUT_CHUNK_BYTES } from "../limits.js";
import { type ResolvedStepConfig, unstorable } from "../schemas.js";
import { serializedSize } from "../serialized-size.js";
import type { StepHost } from "./host.js";
import { resolveDelay, retryDelay } from "./retry.js";
import { SpooledStream, spoolStream } from "./streams.js";

export type Callback<T> = (ctx: WorkflowStepContext) => Promise<T>;

/** A step whose attempts {@link runAttempts} runs. */
export interface AttemptsOf<T> {
	type: "do" | "rollback";
	/** Its journal entry, as last read. */
	entry: StepRow;
	/** The entry was just written with its first attempt started. */
	started: boolean;
	name: string;
	config: ResolvedStepConfig;
	callback: Callback<T>;
	/**
	 * A test's overrides (do-workflows/testing); they name forward steps only, but "every retry
	 * delay" disabled reaches rollback handlers too.
	 */
	controls?: InstanceControls;
}

/**
 * Runs a step's attempts from its journal entry until it succeeds or fails for good: its output,
 * or its final error thrown. The entry is read again only when something else may have changed
 * it: after waiting for a retry, and after a failure.
 */
export async function runAttempts<T>(host: StepHost, of: AttemptsOf<T>): Promise<T> {
	const { type, entry, name, config, callback } = of;
	let { started } = of;
	const journal = host.journal;
	const { seq, count } = entry;
	let step: StepRow | undefined = entry;
	const { retries } = config;
	const ctxConfig = contextConfig(config);
	const controls = type === "do" ? of.controls : undefined;
	for (;;) {
		if (!step) {
			// Every pass but the first (whose entry do() has just read) waits at the step boundary.
			await host.atStepBoundary();
			step = journal.step(type, name, count);
			if (!step) throw new Error(`journal entry of step "${name}" #${count} vanished`);
		}
		if (step.state === StepState.Done) return journal.stepOutput(seq) as T;
		if (step.state === StepState.Failed && step.error) {
			throw deserializeError(step.error, step.nonRetryable);
		}
		if (step.state === StepState.Retrying && step.dueAt !== null && step.dueAt > host.now()) {
			await host.timer(seq, step.dueAt, "retry");
			step = undefined;
			continue;
		}

		let attempt: number;
		if (started) {
			attempt = step.attempts;
			started = false;
		} else {
			// A started attempt that neither failed nor succeeded was cut off by a crash or eviction.
			const interrupted = step.attempts - step.failures - host.excusedInterruptions(seq);
			if (interrupted >= MAX_INTERRUPTED_ATTEMPTS) {
				const error = new StepInterruptedError(
					`step "${name}" was cut off ${interrupted} times (the runtime stopped or the instance was evicted mid-attempt); giving up after ${MAX_INTERRUPTED_ATTEMPTS}`,
				);
				journal.fail(seq, error.toJSON(), false, host.now());
				throw error;
			}
			// The cut-off attempt's start is kept before this one's overwrites it (its event's time).
			if (step.attempts > step.failures) journal.keepCutAttempt(seq);
			attempt = journal.startAttempt(seq, host.now());
		}
		host.attemptStarted();
		const timedOut = () =>
			`step "${name}" attempt ${attempt} timed out after ${config.timeoutMs} ms`;
		const override = controls?.attempt(name, count, attempt);
		let outcome: { ok: true; value: T } | { ok: false; error: unknown };
		// A stream the attempt returns is stored as it is read (streams.ts), within the attempt's
		// timeout; once the attempt has ended, or the run is abandoned, its spool writes nothing.
		let ended = false;
		let spooled = false;
		// Not async: a value that is not a stream (nearly every one) passes through as it is.
		const spool = (value: T): T | Promise<T> => {
			if (!(value instanceof ReadableStream) || type !== "do") return value;
			return spoolIt(value);
		};
		const spoolIt = async (value: ReadableStream): Promise<T> => {
			spooled = true;
			const stored = await spoolStream(
				journal,
				seq,
				name,
				value,
				host.outputLimits.streamOutputBytes,
				{ stopped: () => ended || host.abandoned },
			);
			return stored as T;
		};
		try {
			// Guarded: an attempt that outlives a terminate or restart records nothing.
			const value = await host.guard(
				override
					? overridden<T>(override, timedOut).then(spool)
					: host.within(
							// An async wrapper turns a callback that throws synchronously into a rejection.
							(async () =>
								spool(await callback({ step: { name, count }, attempt, config: ctxConfig })))(),
							config.timeoutMs,
							timedOut,
						),
			);
			outcome = { ok: true, value };
		} catch (error) {
			outcome = { ok: false, error };
		}
		ended = true;

		// The outcome is written before the attempt counts as ended, so a pause that waits for
		// the attempts in flight never leaves one unrecorded.
		// run() sees the error as a replay would rebuild it (its name and message, and its class
		// if it is one of ours), so a caught error takes the same path on every run.
		let failed: Error | undefined;
		try {
			if (outcome.ok) {
				const stored = storeOutput(host, seq, name, outcome.value);
				// run() gets what a replay would: the stored copy, read back, unless the value is
				// a primitive, which is its own copy.
				if (stored === undefined)
					return isPrimitive(outcome.value) ? outcome.value : (journal.stepOutput(seq) as T);
				outcome = { ok: false, error: stored };
			}
			// What a failed attempt's stream left is deleted with its failure recorded below.
			if (spooled) journal.chunks.clear(seq);
			let { error } = outcome;
			let stored = serializeError(error);
			const failures = journal.failAttempt(seq, stored, host.now());
			let delayMs = retries.delayMs;
			const final =
				isNonRetryableError(error) ||
				error instanceof UnserializableValueError ||
				error instanceof ValueTooLargeError ||
				failures > retries.limit;
			if (!final && retries.delayFunction) {
				// The step's own code decides the delay; if it cannot, the step fails here.
				const input = {
					ctx: { step: { name, count }, attempt, config: ctxConfig },
					error: error instanceof Error ? error : deserializeError(stored),
				};
				try {
					// Named as the product names a step in its messages: "name-count".
					delayMs = await host.guard(resolveDelay(retries, `${name}-${count}`, input));
				} catch (delayError) {
					error = delayError;
					stored = serializeError(delayError);
				}
			}
			const nonRetryable = isNonRetryableError(error);
			if (final || nonRetryable) {
				journal.fail(seq, stored, nonRetryable, host.now());
				failed = deserializeError(stored, nonRetryable);
			} else {
				// A rollback handler's retries: only "every retry delay" reaches them, as in the product.
				const skip =
					type === "do"
						? controls?.skipRetryDelay(name, count)
						: of.controls?.skipRollbackRetryDelays?.();
				const delay = skip ? 0 : retryDelay({ ...retries, delayMs }, failures);
				journal.scheduleRetry(seq, host.now() + delay, delay);
			}
		} catch (error) {
			// The attempt ran, but its outcome could not be recorded: it runs again on replay.
			if (error instanceof StorageFailure) return host.storageFailed(error, seq);
			throw error;
		} finally {
			host.attemptEnded();
		}
		if (failed) throw failed;
		step = undefined;
	}
}

/** Stores a step's output; returns the error that prevents it, if any. */
function storeOutput(host: StepHost, seq: number, name: string, value: unknown): Error | undefined {
	const journal = host.journal;
	if (value instanceof SpooledStream) {
		// Its bytes are stored: the move that completes the step makes them its output.
		journal.succeedChunked(
			seq,
			{ kind: "stream", chunks: value.chunks, bytes: value.bytes },
			host.now(),
		);
		return undefined;
	}
	const limit = host.outputLimits.stepOutputBytes;
	// A value that cannot be cloned fails the journal's write (below): it is not cloned twice.
	const problem = unstorable(value, { clone: false, maxBytes: limit });
	if (problem && "size" in problem) {
		return new ValueTooLargeError(
			limit === MAX_VALUE_BYTES
				? `step "${name}" returned ${problem.size} bytes; a step's output must be at most ${MAX_VALUE_BYTES} bytes (1 MiB), or a ReadableStream`
				: `step "${name}" returned ${problem.size} bytes; a step's output must be at most ${limit} bytes (the engine's maxStepOutputBytes)`,
		);
	}
	if (problem) {
		return new UnserializableValueError(
			`step "${name}" returned a value that cannot be stored: ${problem.unclonable}`,
		);
	}
	if (limit > MAX_VALUE_BYTES) {
		// Opted in to structured outputs over 1 MiB: one that large is stored as JSON text in
		// chunks, so it must be plain data JSON gives back exactly (values.ts).
		const size = serializedSize(value);
		if (size > MAX_VALUE_BYTES) {
			const text = toLargeJsonText(value);
			if (text === null) {
				return new ValueTooLargeError(
					`step "${name}" returned ${size} bytes that are not plain JSON data; a step's output over ${MAX_VALUE_BYTES} bytes (1 MiB) must be plain data (strings, finite numbers, booleans, null, arrays and plain objects), or a ReadableStream`,
				);
			}
			const bytes = new TextEncoder().encode(text);
			journal.succeedChunked(
				seq,
				{
					kind: "json",
					chunks: Math.ceil(bytes.byteLength / OUTPUT_CHUNK_BYTES),
					bytes: bytes.byteLength,
					size,
				},
				host.now(),
				bytes,
			);
			return undefined;
		}
	}
	try {
		journal.succeed(seq, value, host.now());
		return undefined;
	} catch (error) {
		// An engine invariant or storage itself, not the step's value: neither may pass for the
		// step's own error.
		if (error instanceof StepMoveError || error instanceof StorageFailure) throw error;
		return new UnserializableValueError(
			`step "${name}" returned a value that cannot be stored: ${(error as Error).message} ` +
				"Step outputs must be structured-clone serialisable (no functions, symbols or platform objects).",
		);
	}
}

/** What an attempt returns or throws when a test decided its outcome instead of its callback. */
async function overridden<T>(override: AttemptOverride, timedOut: () => string): Promise<T> {
	if (override.kind === "result") return override.value as T;
	if (override.kind === "error") throw override.error;
	throw new WorkflowTimeoutError(timedOut());
}

/** A step's config as its callback (and its rollback handler) sees it in `ctx.config`. */
export function contextConfig(config: ResolvedStepConfig): WorkflowStepContext["config"] {
	const { retries } = config;
	// With a delay function, the context has no resolved delay (as the product's types say).
	return {
		retries: retries.delayFunction
			? { limit: retries.limit, backoff: retries.backoff }
			: { limit: retries.limit, delay: retries.delayMs, backoff: retries.backoff },
		timeout: config.timeoutMs,
		...(config.sensitive ? { sensitive: "output" } : {}),
	} as WorkflowStepContext["config"];
}

function isPrimitive(value: unknown): boolean {
	return value === null || (typeof value !== "object" && typeof value !== "function");
}
