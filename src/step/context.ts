/**
 * The `step` object `run()` receives: `do`, `sleep`, `sleepUntil`, `waitForEvent`.
 *
 * Each call is identified by its type, name and occurrence (the 3rd `step.do("fetch")` of a run
 * is ("do", "fetch", 3)). On replay, a call whose journal entry is finished returns the stored
 * result at once and never runs again; an unfinished one carries on from where it was.
 */
import type { WorkflowStepConfig, WorkflowStepEvent } from "cloudflare:workers";
import type { InstanceControls } from "../engine/hooks.js";
import type { StepRow } from "../engine/journal.js";
import { StepState, type StepType, waitTimeoutError } from "../engine/steps.js";
import { StorageFailure } from "../engine/store.js";
import { deserializeError, WorkflowValidationError } from "../errors.js";
import { MAX_SLEEP_MS, MAX_STEP_NAME_LENGTH } from "../limits.js";
import {
	durationSchema,
	parse,
	type ResolvedStepConfig,
	stepNameSchema,
	waitOptionsSchema,
} from "../schemas.js";
import { type Callback, contextConfig, runAttempts } from "./attempts.js";
import type { StepHost } from "./host.js";
import { resolveStepConfig, stepConfigJson } from "./retry.js";
import {
	parseRollbackOptions,
	type Rollback,
	type RollbackOptions,
	rollBack,
	type StepRollbackOptions,
} from "./rollback.js";

/**
 * A step context runs `run()` forward (`"run"`), or replays it only to collect the rollback
 * handlers of the steps it met (`"collect"`): then every call returns its journaled result, and a
 * call with none never settles, so nothing new runs.
 */
export type StepMode = "run" | "collect";

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
		config?: ResolvedStepConfig,
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
			config?.sensitive,
			config && stepConfigJson(config),
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
	#storageSafe<T>(call: Promise<T>): Promise<T> {
		// A handler on the call itself, not an async wrapper awaiting it: fewer promises per step.
		return call.catch((error: unknown) => {
			if (error instanceof StorageFailure) return this.#host.storageFailed(error);
			throw error;
		});
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
			config,
		);
		if (rollback) this.#register(step, config, rollback);
		// Guarded: once the run is abandoned (paused, terminated), run() never sees another result.
		return this.#host.guard(
			runAttempts(this.#host, {
				type: "do",
				entry: step,
				started: created,
				name,
				config,
				callback: callback as Callback<T>,
				controls: this.#controls,
			}),
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

	/** Runs `rollbacks` (rollback.ts); a storage failure stops the run as in any step. */
	rollBack(rollbacks: Rollback[], error: Error): Promise<boolean> {
		return this.#storageSafe(rollBack(this.#host, rollbacks, error, this.#controls));
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

/**
 * Checks a step.do name on every call, without zod for the names it accepts (the same rule as
 * stepNameSchema: a string of 1 to 256 characters); zod describes what is wrong with the others.
 */
function checkStepName(name: unknown): void {
	if (typeof name === "string" && name.length >= 1 && name.length <= MAX_STEP_NAME_LENGTH) return;
	parse(stepNameSchema, name, "step name");
}
