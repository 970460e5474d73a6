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
} from "cloudflare:workers";
import { type Journal, StepState, type StepType } from "../engine/journal";
import {
	deserializeError,
	isNonRetryableError,
	NonRetryableError,
	StepTimeoutError,
	serializeError,
	UnserializableValueError,
	ValueTooLargeError,
	WorkflowValidationError,
} from "../errors";
import {
	durationSchema,
	MAX_SLEEP_MS,
	MAX_VALUE_BYTES,
	parse,
	type ResolvedStepConfig,
	stepNameSchema,
} from "../limits";
import { serializedSize } from "../serialized-size";
import { resolveStepConfig, retryDelay } from "./retry";

/** What the step context needs from the run that hosts it (implemented by the engine's Execution). */
export interface StepHost {
	readonly journal: Journal;
	now(): number;
	/** Throws if starting one more step would pass the instance's step limit. */
	checkStepLimit(): void;
	/** Settles when the durable timer of step `seq` fires. A sleep makes the instance `waiting`. */
	timer(seq: number, dueAt: number, kind: "sleep" | "retry"): Promise<void>;
	/** Counts an attempt in flight: the instance is `running` while any is. */
	attemptStarted(): void;
	attemptEnded(): void;
	/** Passes `promise` through, unless the run is abandoned: then it never settles. */
	guard<T>(promise: Promise<T>): Promise<T>;
}

type Callback<T> = (ctx: WorkflowStepContext) => Promise<T>;

export class StepContext {
	readonly #host: StepHost;
	readonly #counts = new Map<string, number>();

	constructor(host: StepHost) {
		this.#host = host;
	}

	#next(type: StepType, name: string): number {
		const key = `${type}:${name}`;
		const count = (this.#counts.get(key) ?? 0) + 1;
		this.#counts.set(key, count);
		return count;
	}

	/**
	 * The journal entry of this call, created if this is its first run. `dueAt` is computed only
	 * then, from the same clock reading as the entry's start time.
	 */
	#entry(type: StepType, name: string, state: StepState, dueAt: (now: number) => number | null) {
		const count = this.#next(type, name);
		const journal = this.#host.journal;
		const existing = journal.step(type, name, count);
		if (existing) return existing;
		this.#host.checkStepLimit();
		const now = this.#host.now();
		return journal.insertStep(type, name, count, state, dueAt(now), now);
	}

	do<T>(name: string, callback: Callback<T>): Promise<T>;
	do<T>(name: string, config: WorkflowStepConfig, callback: Callback<T>): Promise<T>;
	async do<T>(
		name: string,
		configOrCallback: WorkflowStepConfig | Callback<T>,
		maybeCallback?: Callback<T> | unknown,
		maybeRollback?: unknown,
	): Promise<T> {
		parse(stepNameSchema, name, "step name");
		const withConfig = typeof configOrCallback !== "function";
		const callback = withConfig ? maybeCallback : configOrCallback;
		if (typeof callback !== "function") {
			throw new WorkflowValidationError(`step.do("${name}"): the callback must be a function`);
		}
		if ((withConfig ? maybeRollback : maybeCallback) !== undefined) {
			// Refused rather than ignored: a saga that silently never rolls back is worse than an error.
			throw new WorkflowValidationError(
				`step.do("${name}"): rollback options are not supported yet`,
			);
		}
		const config = resolveStepConfig(withConfig ? configOrCallback : undefined);
		const step = this.#entry("do", name, StepState.Pending, () => null);
		return this.#runStep(step.seq, step.count, name, config, callback as Callback<T>);
	}

	async #runStep<T>(
		seq: number,
		count: number,
		name: string,
		config: ResolvedStepConfig,
		callback: Callback<T>,
	): Promise<T> {
		const host = this.#host;
		const journal = host.journal;
		const ctxConfig: WorkflowStepConfig = {
			retries: {
				limit: config.retries.limit,
				delay: config.retries.delayMs,
				backoff: config.retries.backoff,
			},
			timeout: config.timeoutMs,
		};
		for (;;) {
			const step = journal.step("do", name, count);
			if (!step) throw new Error(`journal entry of step "${name}" #${count} vanished`);
			if (step.state === StepState.Done) return journal.stepOutput(seq) as T;
			if (step.state === StepState.Failed && step.error) {
				throw deserializeError(step.error, step.nonRetryable);
			}
			if (step.state === StepState.Retrying && step.dueAt !== null && step.dueAt > host.now()) {
				await host.timer(seq, step.dueAt, "retry");
			}

			const attempt = journal.startAttempt(seq, host.now());
			host.attemptStarted();
			let outcome: { ok: true; value: T } | { ok: false; error: unknown };
			try {
				const value = await host.guard(
					withTimeout(
						// An async wrapper turns a callback that throws synchronously into a rejection.
						(async () => callback({ step: { name, count }, attempt, config: ctxConfig }))(),
						config.timeoutMs,
						() => `step "${name}" attempt ${attempt} timed out after ${config.timeoutMs} ms`,
					),
				);
				outcome = { ok: true, value };
			} catch (error) {
				outcome = { ok: false, error };
			} finally {
				host.attemptEnded();
			}

			if (outcome.ok) {
				const stored = this.#store(seq, name, outcome.value);
				if (stored === undefined) return journal.stepOutput(seq) as T;
				outcome = { ok: false, error: stored };
			}
			const { error } = outcome;
			const failures = journal.failAttempt(seq);
			const final =
				isNonRetryableError(error) ||
				error instanceof UnserializableValueError ||
				error instanceof ValueTooLargeError ||
				failures > config.retries.limit;
			if (final) {
				journal.fail(seq, serializeError(error), isNonRetryableError(error), host.now());
				throw error;
			}
			journal.scheduleRetry(seq, host.now() + retryDelay(config.retries, failures));
		}
	}

	/** Stores a step's output; returns the error that prevents it, if any. */
	#store(seq: number, name: string, value: unknown): Error | undefined {
		const size = serializedSize(value);
		if (size > MAX_VALUE_BYTES) {
			return new ValueTooLargeError(
				`step "${name}" returned ${size} bytes; a step's output must be at most ${MAX_VALUE_BYTES} bytes (1 MiB)`,
			);
		}
		try {
			this.#host.journal.succeed(seq, value, this.#host.now());
			return undefined;
		} catch (error) {
			return new UnserializableValueError(
				`step "${name}" returned a value that cannot be stored: ${(error as Error).message} ` +
					"Step outputs must be structured-clone serialisable (no functions, symbols or platform objects).",
			);
		}
	}

	async sleep(name: string, duration: WorkflowSleepDuration): Promise<void> {
		parse(stepNameSchema, name, "step name");
		const ms = parse(durationSchema, duration, "sleep duration");
		if (ms > MAX_SLEEP_MS) {
			throw new WorkflowValidationError(
				`sleep duration must be at most 365 days (${MAX_SLEEP_MS} ms), got ${ms} ms`,
			);
		}
		await this.#sleep(name, (now) => now + ms);
	}

	async sleepUntil(name: string, timestamp: Date | number): Promise<void> {
		parse(stepNameSchema, name, "step name");
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
		// The wake time is computed once, on the first run, and read from the journal on replay.
		const step = this.#entry("sleep", name, StepState.Sleeping, dueAt);
		if (step.state === StepState.Done) return;
		if (step.dueAt === null || step.dueAt <= host.now()) {
			host.journal.complete(step.seq, host.now());
			return;
		}
		await host.timer(step.seq, step.dueAt, "sleep");
	}

	waitForEvent<T>(
		name: string,
		_options: { type: string; timeout?: WorkflowSleepDuration },
	): Promise<WorkflowStepEvent<T>> {
		parse(stepNameSchema, name, "step name");
		return Promise.reject(
			new NonRetryableError(
				"step.waitForEvent is not supported by this version of do-workflows",
				"NotSupportedError",
			),
		);
	}
}

type WorkflowSleepDuration = import("cloudflare:workers").WorkflowSleepDuration;

/** Rejects with a {@link StepTimeoutError} if `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
	const timeout = Promise.withResolvers<never>();
	const timer = setTimeout(() => timeout.reject(new StepTimeoutError(message())), ms);
	return Promise.race([promise, timeout.promise]).finally(() => clearTimeout(timer));
}
