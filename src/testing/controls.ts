/**
 * A test's modifications of one instance, and the modifier a test writes them with. The engine
 * reads them through {@link InstanceControls} as the run meets each step.
 */
import type { AttemptOverride, InstanceControls } from "../engine/hooks.js";
import { InvalidStateError, WorkflowValidationError } from "../errors.js";
import { MAX_VALUE_BYTES } from "../limits.js";
import { assertStorable, parse, sendEventSchema } from "../schemas.js";
import { stepSelectorSchema, stepsSchema, timesSchema } from "./schemas.js";

/** A step as the modifier names it: its name and which call of that name (1-based, default 1). */
export interface StepSelector {
	name: string;
	index?: number;
}

/** The product's `WorkflowInstanceModifier`, from `cloudflare:test`. */
export interface WorkflowInstanceModifier {
	/** `step.sleep` / `step.sleepUntil` end at once: all of them, or the ones named. */
	disableSleeps(steps?: StepSelector[]): Promise<void>;
	/** Retries of a failing `step.do` start at once: all of them, or the named steps'. */
	disableRetryDelays(steps?: StepSelector[]): Promise<void>;
	/** The step returns `value` without running its callback. At most once per step. */
	mockStepResult(step: StepSelector, value: unknown): Promise<void>;
	/** The step's next `times` attempts (every attempt, without `times`) throw `error`. */
	mockStepError(step: StepSelector, error: Error, times?: number): Promise<void>;
	/** The step's next `times` attempts (every attempt, without `times`) time out at once. */
	forceStepTimeout(step: StepSelector, times?: number): Promise<void>;
	/** Sends the instance an event, as `instance.sendEvent` would. */
	mockEvent(event: { type: string; payload: unknown }): Promise<void>;
	/** The named `step.waitForEvent` times out at once (with a `WorkflowTimeoutError`). */
	forceEventTimeout(step: StepSelector): Promise<void>;
}

const key = (name: string, index: number) => `${index}:${name}`;

interface StepMocks {
	result?: { value: unknown };
	/** A mocked error for every attempt, and for single attempts (by 1-based attempt number). */
	error?: Error;
	errors: Map<number, Error>;
	/** A forced timeout for every attempt, and for single attempts. */
	timeout: boolean;
	timeouts: Set<number>;
	/** The attempt the next `times`-limited mock starts at: they take consecutive attempts. */
	nextAttempt: number;
}

/**
 * Everything mocked for one instance. Every method is synchronous, so the engine can read them
 * inside a step, and the modifications of `introspectWorkflow` can be made again on each new
 * instance as it is created.
 */
export class Modifications implements InstanceControls {
	#allSleeps = false;
	readonly #sleeps = new Set<string>();
	#allRetryDelays = false;
	readonly #retryDelays = new Set<string>();
	readonly #steps = new Map<string, StepMocks>();
	readonly #eventTimeouts = new Set<string>();
	readonly #events: { type: string; payload: unknown }[] = [];

	// ---- written by the modifier ----

	disableSleeps(steps?: StepSelector[]): void {
		const selected = parse(stepsSchema, steps, "disableSleeps steps");
		if (!selected) this.#allSleeps = true;
		else for (const step of selected) this.#sleeps.add(key(step.name, step.index));
	}

	disableRetryDelays(steps?: StepSelector[]): void {
		const selected = parse(stepsSchema, steps, "disableRetryDelays steps");
		if (!selected) this.#allRetryDelays = true;
		else for (const step of selected) this.#retryDelays.add(key(step.name, step.index));
	}

	mockStepResult(step: StepSelector, value: unknown): void {
		const { name, index } = parse(stepSelectorSchema, step, "mockStepResult step");
		if (value instanceof ReadableStream) {
			throw new WorkflowValidationError(
				"mockStepResult: a ReadableStream is read by the modifier's mockStepResult (await it) before it is recorded",
			);
		}
		if (!(value instanceof MockedStream)) {
			assertStorable(value, "mockStepResult value", { maxBytes: MAX_VALUE_BYTES });
		}
		const mocks = this.#mocks(name, index);
		if (mocks.result) {
			throw new InvalidStateError(
				`mockStepResult: step "${name}" #${index} already has a mocked result; mock a step's result once`,
			);
		}
		// A copy: changing the object after modify() does not change what the step returns. A
		// stream's bytes were copied as it was read.
		mocks.result = { value: value instanceof MockedStream ? value : structuredClone(value) };
	}

	mockStepError(step: StepSelector, error: Error, times?: number): void {
		const { name, index } = parse(stepSelectorSchema, step, "mockStepError step");
		if (!(error instanceof Error)) {
			throw new WorkflowValidationError(
				`mockStepError: step "${name}": the error must be an Error, got ${typeof error}`,
			);
		}
		const attempts = this.#failures("mockStepError", name, index, times);
		const mocks = this.#mocks(name, index);
		if (attempts === "every") mocks.error = error;
		else for (const attempt of attempts) mocks.errors.set(attempt, error);
	}

	forceStepTimeout(step: StepSelector, times?: number): void {
		const { name, index } = parse(stepSelectorSchema, step, "forceStepTimeout step");
		const attempts = this.#failures("forceStepTimeout", name, index, times);
		const mocks = this.#mocks(name, index);
		if (attempts === "every") mocks.timeout = true;
		else for (const attempt of attempts) mocks.timeouts.add(attempt);
	}

	forceEventTimeout(step: StepSelector): void {
		const { name, index } = parse(stepSelectorSchema, step, "forceEventTimeout step");
		this.#eventTimeouts.add(key(name, index));
	}

	/** Records a mocked event (the modifier sends it too if the instance exists). */
	recordEvent(event: { type: string; payload: unknown }): void {
		const checked = validEvent(event);
		this.#events.push({ type: checked.type, payload: structuredClone(checked.payload) });
	}

	#mocks(name: string, index: number): StepMocks {
		const k = key(name, index);
		let mocks = this.#steps.get(k);
		if (!mocks) {
			mocks = { errors: new Map(), timeout: false, timeouts: new Set(), nextAttempt: 1 };
			this.#steps.set(k, mocks);
		}
		return mocks;
	}

	/** The attempts a mocked failure takes: `times` consecutive ones, or every attempt. */
	#failures(method: string, name: string, index: number, times: number | undefined) {
		const count = parse(timesSchema, times, `${method} times`);
		const mocks = this.#mocks(name, index);
		// As in the product: failures come before the result they lead to, not after it.
		if (mocks.result) {
			throw new InvalidStateError(
				`${method}: step "${name}" #${index} already has a mocked result; mock its failures before its result`,
			);
		}
		if (count === undefined) return "every" as const;
		const first = mocks.nextAttempt;
		mocks.nextAttempt += count;
		return Array.from({ length: count }, (_, i) => first + i);
	}

	// ---- read by the engine ----

	attempt(name: string, index: number, attempt: number): AttemptOverride | undefined {
		const mocks = this.#steps.get(key(name, index));
		if (!mocks) return undefined;
		// As in the product: a mocked error wins over a forced timeout, which wins over a result.
		const error = mocks.errors.get(attempt) ?? mocks.error;
		if (error) return { kind: "error", error };
		if (mocks.timeout || mocks.timeouts.has(attempt)) return { kind: "timeout" };
		if (!mocks.result) return undefined;
		const { value } = mocks.result;
		// A mocked stream: a new stream of its bytes for each attempt, stored as a step's stream is.
		return {
			kind: "result",
			value: value instanceof MockedStream ? value.stream() : structuredClone(value),
		};
	}

	skipRetryDelay(name: string, index: number): boolean {
		return this.#allRetryDelays || this.#retryDelays.has(key(name, index));
	}

	/** As in the product: `disableRetryDelays()` without steps reaches rollback handlers too. */
	skipRollbackRetryDelays(): boolean {
		return this.#allRetryDelays;
	}

	skipSleep(name: string, index: number): boolean {
		return this.#allSleeps || this.#sleeps.has(key(name, index));
	}

	eventTimesOut(name: string, index: number): boolean {
		return this.#eventTimeouts.has(key(name, index));
	}

	mockedEvents(): { type: string; payload: unknown }[] {
		return this.#events.map((event) => ({ ...event, payload: structuredClone(event.payload) }));
	}
}

/** A validated, storable event. */
export function validEvent(event: { type: string; payload: unknown }): {
	type: string;
	payload: unknown;
} {
	const parsed = parse(sendEventSchema, event, "mockEvent event");
	// As sendEvent checks it: the mock stands for an event sent over RPC.
	assertStorable(parsed.payload, "mockEvent payload", { sent: true });
	return { type: parsed.type, payload: parsed.payload };
}

/**
 * The bytes of a `ReadableStream` given to `mockStepResult`, read once when it is mocked (as the
 * product's kit stores a mocked stream as it is given): each attempt that returns the mocked
 * result gets a new stream of them, which the engine stores as it stores a step's streamed output.
 */
export class MockedStream {
	readonly #chunks: Uint8Array[];

	private constructor(chunks: Uint8Array[]) {
		this.#chunks = chunks;
	}

	/**
	 * Reads `stream` to its end.
	 * @throws WorkflowValidationError if it is locked, a chunk is not an ArrayBuffer or a typed
	 * array, or it holds more than `maxBytes`; the stream's own error if it errors.
	 */
	static async read(stream: ReadableStream, maxBytes: number): Promise<MockedStream> {
		if (stream.locked) {
			throw new WorkflowValidationError("mockStepResult: the ReadableStream is locked");
		}
		const chunks: Uint8Array[] = [];
		let bytes = 0;
		const reader = stream.getReader();
		try {
			for (;;) {
				const { done, value } = (await reader.read()) as ReadableStreamReadResult<unknown>;
				if (done) break;
				const chunk =
					value instanceof ArrayBuffer
						? new Uint8Array(value)
						: ArrayBuffer.isView(value)
							? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
							: undefined;
				if (!chunk) {
					throw new WorkflowValidationError(
						`mockStepResult: a ReadableStream's chunks must be ArrayBuffers or typed arrays, got ${typeof value}`,
					);
				}
				bytes += chunk.byteLength;
				if (bytes > maxBytes) {
					throw new WorkflowValidationError(
						`mockStepResult: the ReadableStream holds more than ${maxBytes} bytes`,
					);
				}
				chunks.push(chunk.slice());
			}
		} catch (error) {
			await reader.cancel(error).catch(() => {});
			throw error;
		} finally {
			reader.releaseLock();
		}
		return new MockedStream(chunks);
	}

	/** A new stream of the bytes. */
	stream(): ReadableStream<Uint8Array> {
		let next = 0;
		const chunks = this.#chunks;
		return new ReadableStream<Uint8Array>({
			pull(controller) {
				const chunk = chunks[next++];
				if (chunk) controller.enqueue(chunk.slice());
				else controller.close();
			},
		});
	}
}
