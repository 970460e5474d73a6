/**
 * The scenario workflows of the compatibility suite, written ONCE against the product's API.
 * `NativeWorkflow` (cloudflare:workers) and `OursWorkflow` (do-workflows) both dispatch here, so
 * the two engines run exactly the same code. Side effects are counted in `Counter`, a Durable
 * Object outside both engines, keyed by engine and instance id.
 */
import type { WorkflowBackoff, WorkflowEvent, WorkflowStep } from "cloudflare:workers";
import { NonRetryableError } from "cloudflare:workflows";

export type EngineName = "native" | "ours";

export interface ScenarioContext {
	event: WorkflowEvent<unknown>;
	step: WorkflowStep;
	/** Reads a field of the params (params may be any shape; missing fields are undefined). */
	param<T>(key: string): T;
	/** Counts one call of `key` for this instance (outside the engine); returns the count so far. */
	hit(key: string): Promise<number>;
	/** Resolves once the test opens this instance's gate `key`. */
	gate(key: string): Promise<void>;
}

/** Instance ids are `<scenario>--<label>`; the scenario is read from the id, so params can be any shape. */
export function scenarioOf(instanceId: string): string {
	return instanceId.split("--")[0] ?? "";
}

const never = () => new Promise<never>(() => {});

function describeError(error: unknown) {
	return { name: (error as Error).name, message: (error as Error).message };
}

function typesOf(value: Record<string, unknown>) {
	return Object.fromEntries(
		Object.entries(value).map(([k, v]) => [
			k,
			v === null ? "null" : (v?.constructor?.name ?? typeof v),
		]),
	);
}

/** A value of every structured-clone type that JSON loses. */
export const rich = () => ({
	date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
	map: new Map<string, unknown>([["k", { nested: [1, 2, 3] }]]),
	set: new Set<unknown>([1, "two"]),
	bytes: new Uint8Array([1, 2, 255]),
	big: 2n ** 70n,
	regex: /a+b/gi,
	nested: { deep: [{ x: 1 }, null, "s"] },
});

export const STRUCTURED_EVENT = {
	date: new Date(Date.UTC(2026, 0, 1)),
	map: new Map([[1, 2]]),
	n: [1, "x", null],
};

export const STRUCTURED_PARAMS = {
	date: new Date(Date.UTC(2026, 0, 1)),
	map: new Map([["k", 1]]),
	set: new Set(["a"]),
	bytes: new Uint8Array([7, 8]),
	big: 10n ** 20n,
};

export const scenarios: Record<string, (c: ScenarioContext) => Promise<unknown>> = {
	/** For the test kits (testing.spec.ts): a retried step, a long sleep, a step, an event wait. */
	async introspected({ step, hit }) {
		const fetched = await step.do(
			"fetch",
			{ retries: { limit: 2, delay: "1 hour", backoff: "constant" } },
			async () => {
				await hit("fetch");
				return "real";
			},
		);
		await step.sleep("nap", "1 day");
		const charged = await step.do("charge", async () => {
			await hit("charge");
			return "charged";
		});
		const approval = await step
			.waitForEvent("approval", { type: "approved", timeout: "1 hour" })
			.then(
				(event) => event.payload,
				// The error's name differs by design (typed-errors in docs/compatibility.md).
				() => "no event",
			);
		return { fetched, charged, approval };
	},

	/** Returns what the workflow sees of its event. The default for ids without a known scenario. */
	async echo({ event }) {
		return {
			payload: event.payload,
			instanceId: event.instanceId,
			timestampIsDate: event.timestamp instanceof Date,
		};
	},

	async eventShape({ event }) {
		return {
			keys: Object.keys(event).sort(),
			workflowName: event.workflowName,
			instanceId: event.instanceId,
			timestampIsDate: event.timestamp instanceof Date,
			timestampRecent: Math.abs(Date.now() - new Date(event.timestamp).getTime()) < 60_000,
		};
	},

	async twoSteps({ step, hit }) {
		const a = await step.do("first", async () => {
			await hit("first");
			return 1;
		});
		const b = await step.do("second", async () => {
			await hit("second");
			return a + 1;
		});
		return { a, b };
	},

	/** Steps before and after a sleep: the first must not run again when the run continues. */
	async replayAfterSleep({ step, hit }) {
		const a = await step.do("before", async () => hit("before"));
		await step.sleep("nap", 100);
		const b = await step.do("after", async () => hit("after"));
		return { a, b };
	},

	async stepContext({ step }) {
		const first = await step.do("ctx", async (ctx) => ({ ...ctx }));
		const second = await step.do(
			"ctx",
			{ retries: { limit: 1, delay: 5, backoff: "constant" }, timeout: "1 minute" },
			async (ctx) => ({ ...ctx }),
		);
		return { first, second };
	},

	async duplicateNames({ step, hit }) {
		const values: number[] = [];
		for (let i = 0; i < 3; i++) values.push(await step.do("same", async () => hit("same")));
		await step.sleep("gap", 50);
		values.push(await step.do("same", async () => hit("same")));
		return values;
	},

	async parallelSteps({ step, hit }) {
		return Promise.all(
			["a", "b", "c"].map((name) =>
				step.do(`parallel ${name}`, async () => {
					await hit(name);
					return name.toUpperCase();
				}),
			),
		);
	},

	async parallelStepAndSleep({ step, hit }) {
		return Promise.all([
			step.do("beside", async () => {
				await hit("beside");
				return "done";
			}),
			step.sleep("short", 50).then(() => "slept"),
		]);
	},

	async undefinedResults({ step, hit }) {
		const value = await step.do("nothing", async () => {
			await hit("nothing");
		});
		return value;
	},

	async structuredStep({ step }) {
		// Typed loosely: workers-types' Serializable<T> does not accept Map<string, unknown>.
		type Loose = Record<string, string>;
		const value = (await step.do("rich", async () => rich() as unknown as Loose)) as Loose;
		await step.sleep("nap", 50);
		const again = await step.do("echo", async () => value);
		return { types: typesOf(value), againTypes: typesOf(again), value: again };
	},

	async structuredOutput() {
		return rich();
	},

	async unserializableStep({ step, hit }) {
		return step.do("returns a function", async () => {
			await hit("fn");
			return (() => 1) as unknown as string;
		});
	},

	async uncaught() {
		throw new RangeError("run failed outside any step");
	},

	async retryThenSucceed({ step, hit }) {
		return step.do(
			"flaky",
			{ retries: { limit: 3, delay: 10, backoff: "constant" } },
			async (ctx) => {
				const calls = await hit("flaky");
				if (calls <= 2) throw new Error(`attempt ${calls} failed`);
				return { calls, attempt: ctx.attempt };
			},
		);
	},

	async retriesExhausted({ step, hit }) {
		return step.do("always fails", { retries: { limit: 2, delay: 10 } }, async () => {
			const calls = await hit("fails");
			throw new Error(`failure ${calls}`);
		});
	},

	async retryLimitZero({ step, hit }) {
		return step.do("once", { retries: { limit: 0, delay: 10 } }, async () => {
			await hit("once");
			throw new TypeError("only once");
		});
	},

	/** Three retries with `backoff` of a 40 ms delay; the test reads the attempt times. */
	async backoff({ step, hit, param }) {
		const backoff = param<WorkflowBackoff>("backoff");
		return step.do("timed", { retries: { limit: 3, delay: 40, backoff } }, async () => {
			const calls = await hit("timed");
			if (calls <= 3) throw new Error("again");
			return calls;
		});
	},

	/** Fails twice; each retry's delay is a function of the failed attempt (fed into linear backoff). */
	async delayFunction({ step, hit, param }) {
		const mode = param<"ms" | "throws" | "invalid">("mode");
		return step.do(
			"dynamic",
			{
				retries: {
					limit: 3,
					backoff: "linear",
					delay: ({ ctx, error }) => {
						if (mode === "throws") throw new Error(`no delay after ${error.message}`);
						if (mode === "invalid") return "soon" as never;
						return ctx.attempt * 30;
					},
				},
			},
			async (ctx) => {
				const calls = await hit("timed");
				if (calls <= 2) throw new Error(`attempt ${calls} failed`);
				return { attempt: ctx.attempt, config: ctx.config };
			},
		);
	},

	/**
	 * Rollback handlers: "a" and "b" have one, "c" none, "d" has one and fails; each handler
	 * counts "<order>:<stepName>:<output>:<error message>:<ctx.step.name>".
	 */
	async rollbackOrder({ step, hit }) {
		const undo = async ({
			ctx,
			error,
			output,
			stepName,
		}: {
			ctx: { step: { name: string } };
			error: Error;
			output: unknown;
			stepName: string;
		}) => {
			const n = await hit("rollbacks");
			await hit(`${n}:${stepName}:${String(output)}:${error.message}:${ctx.step.name}`);
		};
		await step.do("a", async () => "A", { rollback: undo });
		await step.do("b", async () => "B", { rollback: undo });
		await step.do("c", async () => "C");
		await step.do(
			"d",
			{ retries: { limit: 0, delay: 1 } },
			async () => {
				throw new Error("d broke");
			},
			{ rollback: undo },
		);
	},

	/** A run() that catches a step error: no handler runs, the instance completes. */
	async rollbackCaught({ step, hit }) {
		await step.do("a", async () => 1, { rollback: async () => void (await hit("rb-a")) });
		try {
			await step.do("b", { retries: { limit: 0, delay: 1 } }, async () => {
				throw new Error("b broke");
			});
		} catch {
			return "caught";
		}
		return "not caught";
	},

	/**
	 * A step returning a ReadableStream of 2 MiB + 5 bytes (over the 1 MiB of a structured output):
	 * run() gets a stream back and reads it to its end.
	 */
	async streamOutput({ step }) {
		const size = 2 * 1024 * 1024 + 5;
		const stream = await step.do("stream", async () => {
			let offset = 0;
			return new ReadableStream<Uint8Array>({
				pull(controller) {
					if (offset >= size) return controller.close();
					const n = Math.min(100_000, size - offset);
					const chunk = new Uint8Array(n);
					for (let j = 0; j < n; j++) chunk[j] = (offset + j) & 255;
					offset += n;
					controller.enqueue(chunk);
				},
			});
		});
		let bytes = 0;
		let sum = 0;
		for await (const chunk of stream as ReadableStream<Uint8Array>) {
			for (const byte of chunk) sum = (sum * 31 + byte) >>> 0;
			bytes += chunk.byteLength;
		}
		return { isStream: stream instanceof ReadableStream, bytes, sum };
	},

	/** A step with `sensitive: "output"`: run() gets its output as it is, and its context says so. */
	async sensitiveOutput({ step }) {
		return step.do("secret", { sensitive: "output" }, async (ctx) => ({
			token: "s3cr3t",
			sensitive: ctx.config.sensitive ?? null,
		}));
	},

	async stringRetryDelay({ step, hit }) {
		return step.do("timed", { retries: { limit: 1, delay: "1 second" } }, async () => {
			if ((await hit("timed")) === 1) throw new Error("again");
			return "ok";
		});
	},

	async nonRetryable({ step, hit }) {
		await step.do("doomed", async () => {
			await hit("doomed");
			throw new NonRetryableError("card declined");
		});
	},

	async nonRetryableNamed({ step, hit }) {
		await step.do("doomed", { retries: { limit: 2, delay: 10 } }, async () => {
			await hit("doomed");
			throw new NonRetryableError("card declined", "PaymentError");
		});
	},

	async caughtError({ step, hit }) {
		let caught: unknown;
		try {
			await step.do("fails", { retries: { limit: 1, delay: 10 } }, async () => {
				await hit("fails");
				throw new TypeError("bad input");
			});
		} catch (error) {
			caught = describeError(error);
		}
		const after = await step.do("after", async () => "continued");
		return { caught, after };
	},

	async caughtNonRetryable({ step, hit }) {
		try {
			await step.do("doomed", async () => {
				await hit("doomed");
				throw new NonRetryableError("nope");
			});
			return "not thrown";
		} catch (error) {
			return describeError(error);
		}
	},

	async customErrorName({ step }) {
		await step.do("custom", { retries: { limit: 0, delay: 10 } }, async () => {
			const error = new Error("custom failure");
			error.name = "MyDomainError";
			throw error;
		});
	},

	async stepTimeout({ step, hit }) {
		return step.do("slow", { retries: { limit: 1, delay: 10 }, timeout: 50 }, async () => {
			await hit("slow");
			return never();
		});
	},

	async stepTimeoutCaught({ step, hit }) {
		try {
			await step.do("slow", { retries: { limit: 0, delay: 10 }, timeout: 50 }, async () => {
				await hit("slow");
				return never();
			});
			return "no timeout";
		} catch (error) {
			return describeError(error);
		}
	},

	async sleepNumeric({ step }) {
		// The start time is a step's result: code between steps runs again on a replay.
		const start = await step.do("start", async () => Date.now());
		await step.sleep("nap", 100);
		return { sleptEnough: Date.now() - start >= 95 };
	},

	async sleepString({ step, param }) {
		const seconds = param<number | undefined>("seconds") ?? 1;
		const start = await step.do("start", async () => Date.now());
		await step.sleep("nap", seconds === 1 ? "1 second" : `${seconds} seconds`);
		return { sleptEnough: Date.now() - start >= seconds * 1000 - 10 };
	},

	// The target is set by a step just before the sleep, `ahead` ms on: the built-in engine throws
	// for a time already past when the sleep starts, and a target taken when the instance was
	// created could be past already on a loaded machine.
	async sleepUntilDate({ step, param }) {
		const at = await step.do("target", async () => Date.now() + param<number>("ahead"));
		await step.sleepUntil("until", new Date(at));
		return { late: Date.now() >= at - 5 };
	},

	async sleepUntilNumber({ step, param }) {
		const at = await step.do("target", async () => Date.now() + param<number>("ahead"));
		await step.sleepUntil("until", at);
		return { late: Date.now() >= at - 5 };
	},

	async sleepUntilPast({ step }) {
		await step.sleepUntil("past", Date.now() - 60_000);
		return "woke";
	},

	/** A step held open by a gate, then an hour's sleep, then a last step. */
	async gatedThenSleep({ step, hit, gate }) {
		const held = await step.do("held", async () => {
			await hit("held");
			await gate("held");
			await hit("released");
			return "released";
		});
		await step.sleep("rest", "1 hour");
		const last = await step.do("last", async () => hit("last"));
		return { held, last };
	},

	/** A step held open by a gate, then a last step. */
	async gatedThenStep({ step, hit, gate }) {
		const held = await step.do("held", async () => {
			await hit("held");
			await gate("held");
			return "released";
		});
		const last = await step.do("last", async () => hit("last"));
		return { held, last };
	},

	async waitEvent({ step, hit, param }) {
		await step.do("before", async () => hit("before"));
		const timeout = param<WorkflowSleepDuration | undefined>("timeout");
		const received = await step.waitForEvent<string | number | null>("approval", {
			type: "approval",
			...(timeout === undefined ? {} : { timeout }),
		});
		await step.do("after", async () => hit("after"));
		return {
			payload: received.payload,
			type: received.type,
			timestampIsDate: received.timestamp instanceof Date,
			keys: Object.keys(received).sort(),
		};
	},

	/** An event sent while a gated step runs is there for the wait that follows. */
	async eventBeforeWait({ step, hit, gate }) {
		await step.do("held", async () => {
			await hit("held");
			await gate("held");
		});
		const received = await step.waitForEvent<string | number | null>("approval", {
			type: "approval",
		});
		return received.payload;
	},

	async eventTimeoutCaught({ step }) {
		try {
			await step.waitForEvent("approval", { type: "approval", timeout: 100 });
			return { timedOut: false };
		} catch (error) {
			const after = await step.do("after timeout", async () => "continued");
			return { timedOut: true, ...describeError(error), after };
		}
	},

	async severalTypes({ step, hit, gate }) {
		await step.do("held", async () => {
			await hit("held");
			await gate("held");
		});
		const a = await step.waitForEvent<string | number | null>("a", { type: "a" });
		const b = await step.waitForEvent<string | number | null>("b", { type: "b" });
		return [a.type, a.payload, b.type, b.payload];
	},

	async severalWaits({ step, hit, gate }) {
		await step.do("held", async () => {
			await hit("held");
			await gate("held");
		});
		const first = await step.waitForEvent<string | number | null>("first", { type: "a" });
		const second = await step.waitForEvent<string | number | null>("second", { type: "a" });
		return [first.payload, second.payload];
	},

	async parallelWaits({ step }) {
		const [x, y] = await Promise.all([
			step.waitForEvent<string | number | null>("x", { type: "x" }),
			step.waitForEvent<string | number | null>("y", { type: "y" }),
		]);
		return [x.payload, y.payload];
	},

	async structuredEvent({ step }) {
		const received = await step.waitForEvent<Record<string, string>>("rich", { type: "rich" });
		return { types: typesOf(received.payload), payload: received.payload };
	},

	async structuredParams({ event }) {
		const payload = event.payload as Record<string, unknown>;
		return { types: typesOf(payload), payload };
	},

	async forever({ step }) {
		await step.sleep("forever", "1 hour");
	},
	async badStepInput({ step }) {
		const outcomes: Record<string, unknown> = {};
		const attempt = async (label: string, call: () => Promise<unknown>) => {
			try {
				await call();
				outcomes[label] = "ok";
			} catch (error) {
				outcomes[label] = describeError(error);
			}
		};
		await attempt("empty name", () => step.do("", async () => 1));
		await attempt("257-char name", () => step.do("n".repeat(257), async () => 1));
		await attempt("256-char name", () => step.do("n".repeat(256), async () => 1));
		await attempt("bad duration", () => step.sleep("bad", "forever" as WorkflowSleepDuration));
		await attempt("negative sleep", () => step.sleep("negative", -5));
		return outcomes;
	},

	async throwsNonError({ step }) {
		await step.do("throws a string", { retries: { limit: 0, delay: 10 } }, async () => {
			throw "plain string";
		});
	},

	async throwsAfterCaught({ step }) {
		try {
			await step.do("fails", { retries: { limit: 0, delay: 10 } }, async () => {
				throw new Error("inner");
			});
		} catch {
			throw new SyntaxError("outer");
		}
	},

	async sleepZero({ step }) {
		await step.sleep("zero", 0);
		await step.sleep("zero string", "0 seconds");
		return "done";
	},

	async returnsError({ step }) {
		const value = await step.do("returns an error", async () => new RangeError("as a value"));
		const error = value as unknown as Error;
		return { isError: error instanceof Error, name: error.name, message: error.message };
	},

	async unserializableOutput() {
		return { callback: () => 1 };
	},

	async unmatchedEvent({ step }) {
		await step.sleep("nap", 50);
		return "done";
	},

	async gatedThenForever({ step, hit, gate }) {
		await step.do("held", async () => {
			await hit("held");
			await gate("held");
			await hit("released");
		});
		await step.sleep("forever", "1 hour");
	},

	async nestedSteps({ step, hit }) {
		return step.do("outer", async () => {
			await hit("outer");
			const inner = await step.do("inner", async () => {
				await hit("inner");
				return "inner value";
			});
			return `outer(${inner})`;
		});
	},

	async parallelRetries({ step, hit }) {
		return Promise.all(
			["x", "y"].map((name) =>
				step.do(`retry ${name}`, { retries: { limit: 2, delay: 10 } }, async (ctx) => {
					if ((await hit(name)) < 3) throw new Error(`${name} fails`);
					return `${name}@${ctx.attempt}`;
				}),
			),
		);
	},
	async parallelSameType({ step }) {
		const [first, second] = await Promise.all([
			step.waitForEvent<string | number | null>("first", { type: "same" }),
			step.waitForEvent<string | number | null>("second", { type: "same" }),
		]);
		return [first.payload, second.payload].sort();
	},
};
