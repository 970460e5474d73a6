/**
 * The `step` object `run()` receives: `do`, `sleep`, `sleepUntil`, `waitForEvent`.
 *
 * Each call is identified by its type, name and occurrence (the 3rd `step.do("fetch")` of a run
 * is ("do", "fetch", 3)). On replay, a call whose journal entry is finished returns the stored
 * result at once and never runs again; an unfinished one carries on from where it was.
 */
import type {
	WorkflowStepConfig,
	WorkflowStepContext,
	WorkflowStepEvent,
	WorkflowStepRollbackOptions,
} from "cloudflare:workers";
import type { AttemptOverride, InstanceControls } from "../engine/hooks.js";
import { type Journal, type StepRow, StorageFailure } from "../engine/journal.js";
import { StepMoveError, StepState, type StepType, waitTimeoutError } from "../engine/steps.js";
import { toLargeJsonText } from "../engine/values.js";
import {
	deserializeError,
	isNonRetryableError,
	StepInterruptedError,
	serializeError,
	UnserializableValueError,
	ValueTooLargeError,
	WorkflowTimeoutError,
	WorkflowValidationError,
} from "../errors.js";
import {
	MAX_INTERRUPTED_ATTEMPTS,
	MAX_SLEEP_MS,
	MAX_STEP_NAME_LENGTH,
	MAX_VALUE_BYTES,
	OUTPUT_CHUNK_BYTES,
} from "../limits.js";
import {
	durationSchema,
	parse,
	type ResolvedStepConfig,
	stepNameSchema,
	unstorable,
	waitOptionsSchema,
} from "../schemas.js";
import { serializedSize } from "../serialized-size.js";
import { resolveDelay, resolveStepConfig, retryDelay } from "./retry.js";
import { SpooledStream, spoolStream } from "./streams.js";

/** What a step waits for: a sleep's end, a retry's delay, an event (or its timeout). */
export type TimerKind = "sleep" | "retry" | "event";

/** What the step context needs from the run that hosts it (implemented by the engine's Execution). */
export interface StepHost {
	readonly journal: Journal;
	/**
	 * True if the run started from an empty journal: then no call of it has an entry before the
	 * call creates one, and looking it up can be skipped.
	 */
	readonly startedEmpty: boolean;
	now(): number;
	/** Throws if starting one more step would pass the instance's step limit. */
	checkStepLimit(): void;
	/** Settles when the run may start something new: never while a pause is pending. */
	atStepBoundary(): Promise<void>;
	/**
	 * Settles when step `seq`'s wait ends: its durable timer fires (at `dueAt`), or an event
	 * arrives. Sleeps and event waits make the instance `waiting`.
	 */
	timer(seq: number, dueAt: number | null, kind: TimerKind): Promise<void>;
	/** Counts an attempt in flight: the instance is `running` while any is. */
	attemptStarted(): void;
	/** Called once the attempt's outcome is durable; a pending pause may take effect here. */
	attemptEnded(): void;
	/** Passes `promise` through, unless the run is abandoned: then it never settles. */
	guard<T>(promise: Promise<T>): Promise<T>;
	/**
	 * Storage refused a write the run needed: the run stops (the returned promise never settles)
	 * and its lease alarm replays it. `cutOff`: the step whose attempt ran but whose outcome could
	 * not be recorded; that attempt is not counted against the step's interruption budget.
	 */
	storageFailed(error: StorageFailure, cutOff?: number): Promise<never>;
	/** Attempts of step `seq` cut off by storage failures rather than crashes (see storageFailed). */
	excusedInterruptions(seq: number): number;
	/** True once the run is abandoned (paused, terminated, restarted): it must write nothing more. */
	readonly abandoned: boolean;
	/** The engine's bounds on step outputs (createWorkflowEngine options). */
	readonly outputLimits: OutputLimits;
}

/** How large a step's output may be, by kind. */
export interface OutputLimits {
	/** A structured output: MAX_VALUE_BYTES (1 MiB) unless the engine's `maxStepOutputBytes` raises it. */
	stepOutputBytes: number;
	/** A `ReadableStream` output: MAX_STREAM_OUTPUT_BYTES unless `maxStreamOutputBytes` lowers it. */
	streamOutputBytes: number;
}

type Callback<T> = (ctx: WorkflowStepContext) => Promise<T>;

/** What a rollback handler receives (workers-types 5's WorkflowRollbackContext). */
interface RollbackContext {
	ctx: WorkflowStepContext;
	error: Error;
	output: unknown;
	/** Deprecated in the product: `${ctx.step.name}-${ctx.step.count}`. */
	stepName: string;
}

/**
 * The rollback handler a `step.do` registered, kept in memory by the run that met the step (a
 * replay registers it again): the journal knows the step, only the run knows its handler.
 */
export interface Rollback {
	/** The journal position of the step it undoes: handlers run in reverse step-start order. */
	seq: number;
	name: string;
	count: number;
	handler: (context: RollbackContext) => Promise<void>;
	/** The handler's own retries and timeout (`rollbackConfig`). */
	config: ResolvedStepConfig;
	/** The config of the step it undoes, as its callback saw it. */
	stepConfig: WorkflowStepContext["config"];
}

/**
 * A step context runs `run()` forward (`"run"`), or replays it only to collect the rollback
 * handlers of the steps it met (`"collect"`): then every call returns its journaled result, and a
 * call with none never settles, so nothing new runs.
 */
export type StepMode = "run" | "collect";

/** A step.do's rollback options, whichever delay the step's config has (workers-types 5). */
type StepRollbackOptions<T> =
	| WorkflowStepRollbackOptions<T>
	| WorkflowStepRollbackOptions<T, import("cloudflare:workers").WorkflowDelayFunction>;

/** A step.do's rollback options, checked. */
interface RollbackOptions {
	handler: Rollback["handler"];
	rollbackConfig: ResolvedStepConfig;
}

const never = new Promise<never>(() => {});

export class StepContext {
	readonly #host: StepHost;
	readonly #counts = new Map<string, number>();
	/** A test's modifications (do-workflows/testing); undefined outside tests. */
	readonly #controls: InstanceControls | undefined;
	readonly #collect: boolean;
	/** The rollback handlers of the steps this run met, by journal position. */
	readonly #rollbacks = new Map<number, Rollback>();
	/** A replay that collects: settled once it has met every journaled entry, or gone past them. */
	readonly #collectedAll = Promise.withResolvers<void>();
	/** Journal entries the replay has still to meet. */
	#unmet = 0;

	constructor(host: StepHost, controls?: InstanceControls, mode: StepMode = "run") {
		this.#host = host;
		this.#controls = controls;
		this.#collect = mode === "collect";
		if (this.#collect) {
			this.#unmet = host.journal.forwardStepCount();
			if (this.#unmet === 0) this.#collectedAll.resolve();
		}
	}

	/** The rollback handlers registered so far, in any order. */
	get rollbacks(): Rollback[] {
		return [...this.#rollbacks.values()];
	}

	/**
	 * In a replay that collects: settles once it has met every entry of the journal (so every
	 * handler it can register is registered), or made a call the journal has no entry for (it is
	 * past what ran). Deterministic code meets each entry exactly once.
	 */
	get collected(): Promise<void> {
		return this.#collectedAll.promise;
	}

	#next(type: StepType, name: string): number {
		const key = `${type}:${name}`;
		const count = (this.#counts.get(key) ?? 0) + 1;
		this.#counts.set(key, count);
		return count;
	}

	/**
	 * The journal entry of this call, created (in `state`, with `attempts`) if this is its first
	 * run; `created` says which. `dueAt` is computed only then, from the same clock reading as the
	 * entry's start time.
	 */
	#entry(
		type: StepType,
		name: string,
		state: StepState,
		dueAt: (now: number) => number | null,
		eventType: string | null = null,
		attempts = 0,
		sensitive = false,
	): { step: StepRow; created: boolean } {
		const count = this.#next(type, name);
		const journal = this.#host.journal;
		const existing = this.#host.startedEmpty ? undefined : journal.step(type, name, count);
		if (existing) return { step: existing, created: false };
		this.#host.checkStepLimit();
		const now = this.#host.now();
		const step = journal.insertStep(
			type,
			name,
			count,
			state,
			dueAt(now),
			now,
			eventType,
			attempts,
			sensitive,
		);
		return { step, created: true };
	}

	/** The settled result of a finished entry: its stored value, or its stored error thrown. */
	#settled<T>(
		type: StepType,
		name: string,
		count: number,
	): { done: true; value: T } | { done: false } {
		const step = this.#host.journal.step(type, name, count);
		if (!step) throw new Error(`journal entry of ${type} "${name}" #${count} vanished`);
		if (step.state === StepState.Done)
			return { done: true, value: this.#host.journal.stepOutput(step.seq) as T };
		if (step.state === StepState.Failed && step.error)
			throw deserializeError(step.error, step.nonRetryable);
		return { done: false };
	}

	/**
	 * Storage refusing a write (a StorageFailure) is the runtime's fault, not the step's: it never
	 * reaches run() and spends no retry. The run stops here, and its lease alarm replays it.
	 */
	async #storageSafe<T>(call: Promise<T>): Promise<T> {
		try {
			return await call;
		} catch (error) {
			if (error instanceof StorageFailure) return this.#host.storageFailed(error);
			throw error;
		}
	}

	do<T>(name: string, callback: Callback<T>, rollback?: StepRollbackOptions<T>): Promise<T>;
	do<T>(
		name: string,
		config: WorkflowStepConfig,
		callback: Callback<T>,
		rollback?: StepRollbackOptions<T>,
	): Promise<T>;
	do<T>(
		name: string,
		configOrCallback: WorkflowStepConfig | Callback<T>,
		maybeCallback?: Callback<T> | unknown,
		maybeRollback?: unknown,
	): Promise<T> {
		return this.#storageSafe(this.#do(name, configOrCallback, maybeCallback, maybeRollback));
	}

	async #do<T>(
		name: string,
		configOrCallback: WorkflowStepConfig | Callback<T>,
		maybeCallback?: Callback<T> | unknown,
		maybeRollback?: unknown,
	): Promise<T> {
		checkStepName(name);
		const withConfig = typeof configOrCallback !== "function";
		const callback = withConfig ? maybeCallback : configOrCallback;
		if (typeof callback !== "function") {
			throw new WorkflowValidationError(`step.do("${name}"): the callback must be a function`);
		}
		const rollbackOptions = withConfig ? maybeRollback : maybeCallback;
		const rollback =
			rollbackOptions === undefined ? undefined : parseRollbackOptions(name, rollbackOptions);
		const config = resolveStepConfig(withConfig ? configOrCallback : undefined);
		if (this.#collect) return this.#collected<T>("do", name, rollback && { config, ...rollback });
		await this.#host.atStepBoundary();
		// A new entry is written with its first attempt already started (one statement, not two).
		const { step, created } = this.#entry(
			"do",
			name,
			StepState.Running,
			() => null,
			null,
			1,
			config.sensitive,
		);
		if (rollback) this.#register(step, config, rollback);
		// Guarded: once the run is abandoned (paused, terminated), run() never sees another result.
		return this.#host.guard(
			this.#runStep("do", step, created, name, config, callback as Callback<T>),
		);
	}

	#register(step: StepRow, stepConfig: ResolvedStepConfig, rollback: RollbackOptions): void {
		this.#rollbacks.set(step.seq, {
			seq: step.seq,
			name: step.name,
			count: step.count,
			handler: rollback.handler,
			config: rollback.rollbackConfig,
			stepConfig: contextConfig(stepConfig),
		});
	}

	/**
	 * A call of a replay that collects rollback handlers: its journaled result, or (not finished,
	 * or never started) a promise that never settles. A started step registers its handler.
	 */
	#collected<T>(
		type: StepType,
		name: string,
		rollback?: RollbackOptions & { config: ResolvedStepConfig },
	): Promise<T> {
		const step = this.#host.journal.step(type, name, this.#next(type, name));
		if (!step) {
			this.#collectedAll.resolve();
			return never;
		}
		if (rollback) this.#register(step, rollback.config, rollback);
		if (--this.#unmet <= 0) this.#collectedAll.resolve();
		const settled = this.#settled<T>(type, name, step.count);
		return settled.done ? Promise.resolve(settled.value) : never;
	}

	/**
	 * Runs `rollbacks` in reverse step-start order, each as a journaled step of type "rollback"
	 * (same name and occurrence as the step it undoes): a handler that finished is not run again on
	 * a replay, one cut off runs again, and each retries by its own `rollbackConfig`. Stops at the
	 * first handler that fails for good. Resolves true if every handler succeeded.
	 */
	rollBack(rollbacks: Rollback[], error: Error): Promise<boolean> {
		return this.#storageSafe(this.#rollBack(rollbacks, error));
	}

	async #rollBack(rollbacks: Rollback[], error: Error): Promise<boolean> {
		const host = this.#host;
		const journal = host.journal;
		for (const rollback of [...rollbacks].sort((a, b) => b.seq - a.seq)) {
			const { name, count } = rollback;
			await host.atStepBoundary();
			const step = journal.step("do", name, count);
			const output = step?.state === StepState.Done ? journal.stepOutput(rollback.seq) : undefined;
			const ctx = {
				step: { name, count },
				attempt: step?.attempts ?? 0,
				config: rollback.stepConfig,
			};
			let entry = journal.step("rollback", name, count);
			const created = entry === undefined;
			entry ??= journal.insertStep(
				"rollback",
				name,
				count,
				StepState.Running,
				null,
				host.now(),
				null,
				1,
			);
			const stepName = `${name}-${count}`;
			try {
				await host.guard(
					this.#runStep("rollback", entry, created, name, rollback.config, async () => {
						await rollback.handler({ ctx: structuredClone(ctx), error, output, stepName });
					}),
				);
			} catch (failure) {
				if (failure instanceof StorageFailure) throw failure;
				return false;
			}
		}
		return true;
	}

	/**
	 * Runs a step's attempts from its journal entry `step`; `started`: the entry was just written
	 * with its first attempt started. The entry is read again only when something else may have
	 * changed it: after waiting for a retry, and after a failure.
	 */
	async #runStep<T>(
		type: "do" | "rollback",
		entry: StepRow,
		started: boolean,
		name: string,
		config: ResolvedStepConfig,
		callback: Callback<T>,
	): Promise<T> {
		const host = this.#host;
		const journal = host.journal;
		const { seq, count } = entry;
		let step: StepRow | undefined = entry;
		const { retries } = config;
		const ctxConfig = contextConfig(config);
		// A test's overrides (do-workflows/testing) name forward steps only.
		const controls = type === "do" ? this.#controls : undefined;
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
			const spool = async (value: T): Promise<T> => {
				if (!(value instanceof ReadableStream) || type !== "do") return value;
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
						: withTimeout(
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
					const stored = this.#store(seq, name, outcome.value);
					// run() gets what a replay would: the stored copy, read back, unless the value is
					// a primitive, which is its own copy.
					if (stored === undefined)
						return isPrimitive(outcome.value) ? outcome.value : (journal.stepOutput(seq) as T);
					outcome = { ok: false, error: stored };
				}
				// What a failed attempt's stream left is deleted with its failure recorded below.
				if (spooled) journal.clearChunks(seq);
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
							: this.#controls?.skipRollbackRetryDelays?.();
					const delay = skip ? 0 : retryDelay({ ...retries, delayMs }, failures);
					journal.scheduleRetry(seq, host.now() + delay);
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
	#store(seq: number, name: string, value: unknown): Error | undefined {
		const journal = this.#host.journal;
		if (value instanceof SpooledStream) {
			// Its bytes are stored: the move that completes the step makes them its output.
			journal.succeedChunked(
				seq,
				{ kind: "stream", chunks: value.chunks, bytes: value.bytes },
				this.#host.now(),
			);
			return undefined;
		}
		const limit = this.#host.outputLimits.stepOutputBytes;
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
					this.#host.now(),
					bytes,
				);
				return undefined;
			}
		}
		try {
			journal.succeed(seq, value, this.#host.now());
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

	sleep(name: string, duration: WorkflowSleepDuration): Promise<void> {
		return this.#storageSafe(this.#sleepFor(name, duration));
	}

	async #sleepFor(name: string, duration: WorkflowSleepDuration): Promise<void> {
		parse(stepNameSchema, name, "step name");
		if (this.#collect) return this.#collected("sleep", name);
		const ms = parse(durationSchema, duration, "sleep duration");
		if (ms > MAX_SLEEP_MS) {
			throw new WorkflowValidationError(
				`sleep duration must be at most 365 days (${MAX_SLEEP_MS} ms), got ${ms} ms`,
			);
		}
		await this.#sleep(name, (now) => now + ms);
	}

	sleepUntil(name: string, timestamp: Date | number): Promise<void> {
		return this.#storageSafe(this.#sleepUntil(name, timestamp));
	}

	async #sleepUntil(name: string, timestamp: Date | number): Promise<void> {
		parse(stepNameSchema, name, "step name");
		if (this.#collect) return this.#collected("sleep", name);
		const at = timestamp instanceof Date ? timestamp.getTime() : timestamp;
		if (typeof at !== "number" || !Number.isFinite(at)) {
			throw new WorkflowValidationError(
				"sleepUntil timestamp must be a valid Date or a number of milliseconds since the epoch",
			);
		}
		if (at - this.#host.now() > MAX_SLEEP_MS) {
			throw new WorkflowValidationError(
				`sleepUntil timestamp must be at most 365 days (${MAX_SLEEP_MS} ms) ahead`,
			);
		}
		// sleepUntil shares the sleep namespace: the product treats both as sleeps.
		await this.#sleep(name, () => at);
	}

	async #sleep(name: string, dueAt: (now: number) => number): Promise<void> {
		const host = this.#host;
		await host.atStepBoundary();
		// The wake time is computed once, on the first run, and read from the journal on replay.
		const { step } = this.#entry("sleep", name, StepState.Sleeping, dueAt);
		if (step.state === StepState.Done) return;
		if (
			step.dueAt === null ||
			step.dueAt <= host.now() ||
			this.#controls?.skipSleep(name, step.count)
		) {
			host.journal.complete(step.seq, host.now());
			return;
		}
		// The alarm marks the sleep done before it wakes this waiter.
		await host.timer(step.seq, step.dueAt, "sleep");
	}

	/**
	 * Waits for an event of `type` sent with `instance.sendEvent`. An event sent before the wait
	 * starts is buffered and delivered to the first wait for its type (first in, first out), once.
	 * Times out after `timeout` (default 24 hours) with a `WorkflowTimeoutError`, catchable in run().
	 */
	waitForEvent<T>(
		name: string,
		options: { type: string; timeout?: WorkflowSleepDuration },
	): Promise<WorkflowStepEvent<T>> {
		return this.#storageSafe(this.#waitForEvent<T>(name, options));
	}

	async #waitForEvent<T>(
		name: string,
		options: { type: string; timeout?: WorkflowSleepDuration },
	): Promise<WorkflowStepEvent<T>> {
		parse(stepNameSchema, name, "step name");
		const { type, timeout } = parse(waitOptionsSchema, options, "waitForEvent options");
		if (this.#collect) return this.#collected("wait", name);
		const host = this.#host;
		await host.atStepBoundary();
		const { step } = this.#entry("wait", name, StepState.Waiting, (now) => now + timeout, type);
		if (step.state === StepState.Waiting) {
			if (this.#controls?.eventTimesOut(name, step.count)) {
				// A test forced the timeout: it wins over any event, as in the product.
				const error = waitTimeoutError(name, type, { ms: timeout, forced: true });
				host.journal.fail(step.seq, error.toJSON(), false, host.now());
			} else {
				// An event that arrived before the wait started is waiting in the buffer.
				host.journal.deliverBuffered(step.seq, type, host.now());
			}
		}
		let settled = this.#settled<WorkflowStepEvent<T>>("wait", name, step.count);
		if (!settled.done) {
			await host.timer(step.seq, step.dueAt, "event");
			settled = this.#settled<WorkflowStepEvent<T>>("wait", name, step.count);
		}
		if (!settled.done) throw new Error(`event wait "${name}" woke without an event or a timeout`);
		return host.guard(Promise.resolve(settled.value));
	}
}

type WorkflowSleepDuration = import("cloudflare:workers").WorkflowSleepDuration;

/** What an attempt returns or throws when a test decided its outcome instead of its callback. */
async function overridden<T>(override: AttemptOverride, timedOut: () => string): Promise<T> {
	if (override.kind === "result") return override.value as T;
	if (override.kind === "error") throw override.error;
	throw new WorkflowTimeoutError(timedOut());
}

/** A step's config as its callback (and its rollback handler) sees it in `ctx.config`. */
function contextConfig(config: ResolvedStepConfig): WorkflowStepContext["config"] {
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

/** The last argument of a step.do with rollback options: `{ rollback, rollbackConfig? }`. */
function parseRollbackOptions(name: string, options: unknown): RollbackOptions {
	if (typeof options !== "object" || options === null) {
		throw new WorkflowValidationError(
			`step.do("${name}"): the rollback options must be an object { rollback, rollbackConfig? }`,
		);
	}
	const { rollback, rollbackConfig } = options as { rollback?: unknown; rollbackConfig?: unknown };
	if (typeof rollback !== "function") {
		throw new WorkflowValidationError(`step.do("${name}"): rollback must be a function`);
	}
	if (rollbackConfig !== undefined) {
		const keys =
			typeof rollbackConfig === "object" && rollbackConfig ? Object.keys(rollbackConfig) : [];
		const other = keys.find((key) => key !== "retries" && key !== "timeout");
		if (other !== undefined) {
			throw new WorkflowValidationError(
				`step.do("${name}"): rollbackConfig takes retries and timeout only, got "${other}"`,
			);
		}
	}
	return {
		handler: rollback as Rollback["handler"],
		rollbackConfig: resolveStepConfig(rollbackConfig),
	};
}

/**
 * Checks a step.do name on every call, without zod for the names it accepts (the same rule as
 * stepNameSchema: a string of 1 to 256 characters); zod describes what is wrong with the others.
 */
function checkStepName(name: unknown): void {
	if (typeof name === "string" && name.length >= 1 && name.length <= MAX_STEP_NAME_LENGTH) return;
	parse(stepNameSchema, name, "step name");
}

function isPrimitive(value: unknown): boolean {
	return value === null || (typeof value !== "object" && typeof value !== "function");
}

/** Rejects with a {@link WorkflowTimeoutError} if `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
	const timeout = Promise.withResolvers<never>();
	const timer = setTimeout(() => timeout.reject(new WorkflowTimeoutError(message())), ms);
	return Promise.race([promise, timeout.promise]).finally(() => clearTimeout(timer));
}
