/**
 * Test workflows. One `ScenarioWorkflow` runs the scenario its params name, so each test can pick
 * a behaviour without a binding per behaviour. Side effects are counted in `CallCounter`, a
 * Durable Object outside the engine, so "ran exactly once" is checked against what really ran,
 * not against the engine's own bookkeeping.
 */
import { DurableObject } from "cloudflare:workers";
import { NonRetryableError as ProductNonRetryableError } from "cloudflare:workflows";
import type { Gate } from "./gate";

export { Gate } from "./gate";

import {
	createWorkflowEngine,
	NonRetryableError,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
} from "../src";

export interface TestEnv {
	SCENARIO: Workflow<ScenarioParams>;
	THROTTLED: Workflow<ScenarioParams>;
	PROBE: DurableObjectNamespace<Probe>;
	LIMITED: Workflow<ScenarioParams>;
	SCHEDULED: Workflow;
	CALLS: DurableObjectNamespace<CallCounter>;
	GATES: DurableObjectNamespace<Gate>;
}

export interface ScenarioParams {
	scenario: keyof typeof scenarios;
	[key: string]: unknown;
}

/** Counts calls per (instance, key), durably and atomically. */
export class CallCounter extends DurableObject {
	async hit(key: string): Promise<number> {
		const count = (this.ctx.storage.kv.get<number>(key) ?? 0) + 1;
		this.ctx.storage.kv.put(key, count);
		return count;
	}

	async counts(): Promise<Record<string, number>> {
		return Object.fromEntries(this.ctx.storage.kv.list<number>());
	}
}

/**
 * Records how many instances run a step at once, and in which order they started it: the
 * concurrency limit's tests (tests/concurrency.test.ts) check the engine against it.
 */
export class Probe extends DurableObject {
	// Kept in the object's storage, not in fields: an idle probe may be evicted between two
	// instances' steps (a burst of creates can keep every instance queued for seconds).
	async enter(id: string): Promise<void> {
		const kv = this.ctx.storage.kv;
		const current = ((kv.get("current") as number | undefined) ?? 0) + 1;
		kv.put("current", current);
		kv.put("max", Math.max((kv.get("max") as number | undefined) ?? 0, current));
		const count = (kv.get("count") as number | undefined) ?? 0;
		kv.put(`order:${String(count).padStart(8, "0")}`, id);
		kv.put("count", count + 1);
	}

	async leave(): Promise<void> {
		const kv = this.ctx.storage.kv;
		kv.put("current", ((kv.get("current") as number | undefined) ?? 0) - 1);
	}

	async stats(): Promise<{ current: number; max: number; order: string[] }> {
		const kv = this.ctx.storage.kv;
		const order = [...kv.list<string>({ prefix: "order:" })].map(([, id]) => id);
		return {
			current: (kv.get("current") as number | undefined) ?? 0,
			max: (kv.get("max") as number | undefined) ?? 0,
			order,
		};
	}
}

interface ScenarioContext {
	event: WorkflowEvent<ScenarioParams>;
	step: WorkflowStep;
	env: TestEnv;
	/** Counts one call of `key` for this instance; returns how many there have been. */
	hit(key: string): Promise<number>;
	/** Resolves once the test opens this instance's gate `key`. */
	gate(key: string): Promise<void>;
}

const never = () => new Promise<never>(() => {});

/** What selfStop runs got to, by `<instance id>:<point>`: kept in this isolate, for the tests. */
export const reached = new Set<string>();

/** A linked list of `depth` objects, each with some text: `{ pad, next: { pad, next: ... null } }`. */
export function nestedList(depth: number): unknown {
	let list: unknown = null;
	for (let i = 0; i < depth; i++) list = { pad: "x".repeat(20), next: list };
	return list;
}

/** Byte `i` of the test streams: a pattern that a lost, repeated or reordered chunk changes. */
export const streamByte = (i: number) => (i * 7 + 3) & 255;

/** What the stream scenarios compute from a stream: its length and a checksum of its bytes. */
export async function digest(
	stream: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; sum: number }> {
	let bytes = 0;
	let sum = 0;
	for await (const chunk of stream) {
		for (let j = 0; j < chunk.byteLength; j++) sum = (sum * 31 + (chunk[j] as number)) >>> 0;
		bytes += chunk.byteLength;
	}
	return { bytes, sum };
}

/**
 * A stream of `size` bytes (streamByte) in 64 KiB chunks; `midway`, if given, is awaited once
 * half the bytes have been read, holding the stream there.
 */
function byteStream(size: number, midway?: () => Promise<void>): ReadableStream<Uint8Array> {
	const piece = 64 * 1024;
	let offset = 0;
	let held = false;
	return new ReadableStream<Uint8Array>({
		async pull(controller) {
			if (offset >= size) {
				controller.close();
				return;
			}
			if (midway && !held && offset >= size / 2) {
				held = true;
				await midway();
			}
			const n = Math.min(piece, size - offset);
			const chunk = new Uint8Array(n);
			for (let j = 0; j < n; j++) chunk[j] = streamByte(offset + j);
			offset += n;
			controller.enqueue(chunk);
		},
	});
}

export const scenarios = {
	/**
	 * A step returning a ReadableStream of `size` bytes (its first attempt held midway at gate
	 * "mid" if `holdMidway`); run() waits at gate "after" if `holdAfter`, then reads the stream.
	 * `smallRerun`: a second run of the step streams 1,000 bytes instead.
	 */
	async streamOutput({ step, event, hit, gate }: ScenarioContext) {
		const { size, holdMidway, holdAfter, smallRerun } = event.payload as unknown as {
			size: number;
			holdMidway?: boolean;
			holdAfter?: boolean;
			smallRerun?: boolean;
		};
		const runs = await hit("run");
		if (runs > 1 && smallRerun) await gate("rerun");
		const stream = await step.do("big", async () => {
			const n = await hit("big");
			return byteStream(
				smallRerun && n > 1 ? 1000 : size,
				holdMidway && n === 1 ? () => gate("mid") : undefined,
			);
		});
		if (holdAfter) await gate("after");
		return { isStream: stream instanceof ReadableStream, ...(await digest(stream)) };
	},

	/** A step returning `{ text }` of `size` characters (a Map of it if `map`); run() waits at gate "after" if `holdAfter`. */
	async largeOutput({ step, event, hit, gate }: ScenarioContext) {
		const { size, map, holdAfter } = event.payload as unknown as {
			size: number;
			map?: boolean;
			holdAfter?: boolean;
		};
		const value = await step.do("large", async () => {
			await hit("large");
			const text = "x".repeat(size - 4) + "end!";
			return map ? new Map([["text", text]]) : { text };
		});
		if (holdAfter) await gate("after");
		const text = value instanceof Map ? (value.get("text") as string) : value.text;
		return { length: text.length, tail: text.slice(-4) };
	},

	/** Every kind of step the test kit can modify: two "fetch" steps, two "nap" sleeps, an event wait. */
	async kit({ step, hit }: ScenarioContext) {
		const first = await step.do(
			"fetch",
			{ retries: { limit: 3, delay: "1 hour", backoff: "constant" } },
			async () => {
				await hit("fetch-1");
				return "real-1";
			},
		);
		await step.sleep("nap", "1 day");
		const second = await step.do("fetch", async () => {
			await hit("fetch-2");
			return "real-2";
		});
		let approval: unknown;
		try {
			approval = (await step.waitForEvent("approval", { type: "approved", timeout: "1 day" }))
				.payload;
		} catch (error) {
			approval = `no event: ${(error as Error).name}`;
		}
		await step.sleep("nap", "1 day");
		return { first, second, approval };
	},

	/**
	 * One of each kind of step, for subscribe(): a step whose first attempt fails (retried after an
	 * hour), a sleep, an event wait, then a step that fails for good unless `succeed` is set.
	 */
	async journey({ event, step, hit }: ScenarioContext) {
		const fetched = await step.do(
			"fetch",
			{ retries: { limit: 2, delay: "1 hour", backoff: "constant" } },
			async (ctx) => {
				await hit("fetch");
				if (ctx.attempt === 1) throw new Error("flaky network");
				return { attempt: ctx.attempt };
			},
		);
		await step.sleep("nap", "1 hour");
		const approval = await step.waitForEvent("approval", { type: "approved", timeout: "1 day" });
		return step.do("charge", async () => {
			if (event.payload.succeed) return { fetched, approval: approval.payload };
			throw new NonRetryableError("card declined", "PaymentError");
		});
	},

	async basic({ step, hit }: ScenarioContext) {
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

	async event({ event }: ScenarioContext) {
		return {
			payload: event.payload,
			instanceId: event.instanceId,
			workflowName: event.workflowName,
			timestamp: event.timestamp,
		};
	},

	async stepContext({ step }: ScenarioContext) {
		const first = await step.do("ctx", async (ctx) => ctx);
		const second = await step.do(
			"ctx",
			{ retries: { limit: 1, delay: 5 }, timeout: "1 minute" },
			async (ctx) => ctx,
		);
		return { first, second };
	},

	/** Fails `failures` times, then succeeds; retries per `config`. */
	async flaky({ event, step, hit }: ScenarioContext) {
		const failures = event.payload.failures as number;
		const config = event.payload.config as Parameters<WorkflowStep["do"]>[1];
		return step.do("flaky", config as never, async (ctx: { attempt: number }) => {
			const calls = await hit("flaky");
			if (calls <= failures) throw new Error(`attempt ${ctx.attempt} failed`);
			return { calls, attempt: ctx.attempt };
		});
	},

	/**
	 * Fails twice, then returns its context; its retry delay comes from a function of the failed
	 * attempt. `mode`: "minutes" (attempt × 10 minutes, fed into `backoff`), "throws", "invalid".
	 */
	async delayFunction({ event, step, hit }: ScenarioContext) {
		const mode = event.payload.mode as "minutes" | "throws" | "invalid";
		const backoff = (event.payload.backoff as "constant" | "linear" | undefined) ?? "constant";
		return step.do(
			"dynamic",
			{
				retries: {
					limit: 3,
					backoff,
					delay: async ({ ctx, error }) => {
						await hit(`delay-${ctx.attempt}:${error.message}`);
						if (mode === "throws") throw new Error("no delay for you");
						if (mode === "invalid") return "soon" as WorkflowSleepDuration;
						return `${ctx.attempt * 10} minutes`;
					},
				},
			},
			async (ctx) => {
				if ((await hit("dynamic")) <= 2) throw new Error(`attempt ${ctx.attempt} failed`);
				return { attempt: ctx.attempt, config: ctx.config } as Record<string, unknown> as {
					attempt: number;
				};
			},
		);
	},

	/** A step whose output is sensitive and one whose output is not; run() gets both as they are. */
	async sensitive({ step }: ScenarioContext) {
		const secret = await step.do("secret", { sensitive: "output" }, async (ctx) => ({
			token: "s3cr3t",
			sensitive: ctx.config.sensitive ?? null,
		}));
		const plain = await step.do("plain", async () => "visible");
		return { secret, plain };
	},

	async nonRetryable({ step, hit }: ScenarioContext) {
		await step.do("doomed", async () => {
			await hit("doomed");
			throw new NonRetryableError("card declined", "PaymentError");
		});
	},

	async caught({ step, hit }: ScenarioContext) {
		let caught: { name: string; message: string } | undefined;
		try {
			await step.do("fails", { retries: { limit: 1, delay: 1 } }, async () => {
				await hit("fails");
				throw new TypeError("bad input");
			});
		} catch (error) {
			caught = { name: (error as Error).name, message: (error as Error).message };
		}
		const after = await step.do("after", async () => "continued");
		return { caught, after };
	},

	/** Code ported from the product may still throw the product's own NonRetryableError. */
	async productNonRetryable({ step, hit }: ScenarioContext) {
		await step.do("doomed", async () => {
			await hit("doomed");
			throw new ProductNonRetryableError("from cloudflare:workflows");
		});
	},

	async caughtNonRetryable({ step }: ScenarioContext) {
		try {
			await step.do("doomed", async () => {
				throw new NonRetryableError("nope");
			});
		} catch (error) {
			return { caught: (error as Error).name };
		}
	},

	async uncaught() {
		throw new RangeError("run failed outside any step");
	},

	async sleep({ event, step, hit }: ScenarioContext) {
		await step.do("before", async () => hit("before"));
		await step.sleep("nap", event.payload.duration as WorkflowSleepDuration);
		await step.do("after", async () => hit("after"));
		return "rested";
	},

	async sleepUntil({ event, step }: ScenarioContext) {
		const at = event.payload.at as number;
		await step.sleepUntil("until", event.payload.asDate ? new Date(at) : at);
		return "woke";
	},

	async structured({ step }: ScenarioContext) {
		const value = await step.do("rich", async () => ({
			date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
			map: new Map([["k", { nested: [1, 2, 3] }]]),
			set: new Set([1, "two"]),
			bytes: new Uint8Array([1, 2, 255]),
			big: 2n ** 70n,
			nothing: undefined,
			regex: /a+b/gi,
			infinite: Number.POSITIVE_INFINITY,
		}));
		await step.sleep("pause", "1 hour");
		const again = await step.do("echo", async () => value);
		return { value, again, sameDate: again.date instanceof Date && value.date instanceof Date };
	},

	async jsonEdges({ step }: ScenarioContext) {
		const shared = { n: 1 };
		// Values JSON would change (they go to the KV store) and plain data (kept as JSON text).
		const edges = await step.do("edges", async () => ({
			negativeZero: -0,
			notANumber: Number.NaN,
			// biome-ignore lint/suspicious/noSparseArray: a hole is the point
			sparse: [1, , 3],
			undefinedInArray: [undefined, 1],
			shared: { a: shared, b: shared },
			nullPrototype: Object.assign(Object.create(null), { k: "v" }),
		}));
		const plain = await step.do("plain", async () => ({
			s: "é\u{1F600}\ud800",
			n: 1.5e-7,
			a: [[], {}],
			t: true,
			z: null,
		}));
		const nothing = await step.do("nothing", async () => undefined);
		return {
			edges,
			plain,
			nothing,
			negativeZero: Object.is(edges.negativeZero, -0),
			hole: !(1 in edges.sparse),
			sameShared: edges.shared.a === edges.shared.b,
		};
	},

	async unserializable({ step }: ScenarioContext) {
		// biome-ignore lint/suspicious/noExplicitAny: deliberately not a serialisable type
		return step.do("returns a function", async () => (() => 1) as any);
	},

	/** A step returns a linked list `depth` objects deep (over 16 KiB of JSON: kept in KV); run() returns it. */
	async deep({ event, step }: ScenarioContext) {
		const depth = event.payload.depth as number;
		return step.do(
			"deep",
			{ retries: { limit: 0, delay: 1 } },
			async () => nestedList(depth) as Record<string, string>,
		);
	},

	async unserializableOutput() {
		return { callback: () => 1 };
	},

	/** `count` steps ("part" #1, #2...), each returning a string of `bytes` characters (within the 1 MiB limit). */
	async largeHistory({ event, step }: ScenarioContext) {
		const count = event.payload.count as number;
		const bytes = event.payload.bytes as number;
		for (let i = 1; i <= count; i++) {
			await step.do("part", async () => `${i}:`.padEnd(bytes, "x"));
		}
		return count;
	},

	async tooLarge({ step }: ScenarioContext) {
		return step.do("big", async () => "x".repeat(1024 * 1024 + 1));
	},

	async timeout({ step, hit }: ScenarioContext) {
		return step.do("slow", { retries: { limit: 1, delay: 1 }, timeout: 50 }, async () => {
			await hit("slow");
			return never();
		});
	},

	/**
	 * Step timeouts share one timer per run (src/step/deadlines.ts): attempts whose deadline comes
	 * before one armed earlier, pending or already ended, still time out on time.
	 */
	async earlierTimeouts({ step }: ScenarioContext) {
		const message = (error: Error) => error.message;
		const quick = await step.do("quick", { timeout: "1 minute" }, async () => "quick");
		const long = step.do("long", { timeout: "1 minute" }, async () => {
			await new Promise((resolve) => setTimeout(resolve, 150));
			return "long";
		});
		const short = await step
			.do("short", { retries: { limit: 0, delay: 1 }, timeout: 30 }, never)
			.catch(message);
		const again = await step
			.do("short again", { retries: { limit: 0, delay: 1 }, timeout: 30 }, never)
			.catch(message);
		return { quick, short, again, long: await long };
	},

	/** The first attempt of "hangs" never finishes; a later one does. */
	async hangsOnce({ step, hit }: ScenarioContext) {
		await step.do("before", async () => hit("before"));
		const result = await step.do("hangs", async (ctx) => {
			const calls = await hit("hangs");
			if (calls === 1) return never();
			return { calls, attempt: ctx.attempt };
		});
		await step.do("after", async () => hit("after"));
		return result;
	},

	async parallel({ step, hit }: ScenarioContext) {
		const names = ["a", "b", "c"];
		const results = await Promise.all(
			names.map((name) =>
				step.do(`parallel ${name}`, async () => {
					await hit(name);
					return name.toUpperCase();
				}),
			),
		);
		const [, slept] = await Promise.all([
			step.do("beside a sleep", async () => hit("beside")),
			step.sleep("short", 1).then(() => "slept"),
		]);
		return { results, slept };
	},

	async duplicateNames({ step, hit }: ScenarioContext) {
		const values: number[] = [];
		for (let i = 0; i < 3; i++) {
			values.push(await step.do("same name", async () => hit("same name")));
		}
		await step.sleep("gap", "1 day");
		values.push(await step.do("same name", async () => hit("same name")));
		return values;
	},

	async spawn({ event, step, env }: ScenarioContext) {
		const child = await step.do("spawn child", async () => {
			const instance = await env.SCENARIO.create({
				id: `${event.instanceId}-child`,
				params: { scenario: "basic" },
			});
			return instance.id;
		});
		return { child };
	},

	/**
	 * Terminates, deletes, restarts or pauses its own instance (`how`), from run() itself or
	 * (`inStep`) from a step; notes in `reached` what it got to, in this isolate's memory.
	 */
	async selfStop({ event, step, env, hit }: ScenarioContext) {
		const how = event.payload.how as "terminate" | "delete" | "restart" | "pause";
		const id = event.instanceId;
		await step.do("before", async () => hit("before"));
		const stop = async () => {
			const me = await env.SCENARIO.get(id);
			reached.add(`${id}:calling`);
			if (how === "delete") await (me as WorkflowInstance & { delete(): Promise<void> }).delete();
			else if (how === "restart") await me.restart();
			else await me[how]();
			reached.add(`${id}:after`);
		};
		if (event.payload.inStep) await step.do("stops", async () => stop());
		else await stop();
		await step.do("after", async () => hit("after"));
	},

	/** Waits on I/O in run() itself, outside any step (a gate), then runs one step (or, with `fail`, throws). */
	async outsideStep({ event, step, hit, gate }: ScenarioContext) {
		if ((await hit("outside")) === 1) await gate("outside");
		if (event.payload.fail) throw new Error("the real failure");
		return step.do("after", async () => hit("after"));
	},

	/** Throws an error whose message is `length` characters, from a step (no retries) or from run(). */
	async longError({ event, step }: ScenarioContext) {
		const message = "x".repeat(event.payload.length as number);
		if (event.payload.where === "run") throw new Error(message);
		return step.do("long", { retries: { limit: 0, delay: 1 } }, async () => {
			throw new Error(message);
		});
	},

	/**
	 * For the concurrency limit: a step that enters the probe named `probe`, is held at gate "held"
	 * if `hold`, and leaves it; then a sleep if `sleep`, and a step that enters and leaves again;
	 * then it throws if `fail`.
	 */
	async throttled({ step, event, env, gate }: ScenarioContext) {
		const { probe, hold, sleep, fail, rollback } = event.payload as unknown as {
			probe: string;
			hold?: boolean;
			sleep?: boolean;
			fail?: boolean;
			/** "work" registers a rollback handler, counted by the probe like a step. */
			rollback?: boolean;
		};
		const stub = env.PROBE.get(env.PROBE.idFromName(probe));
		const undo = async () => {
			await stub.enter(`${event.instanceId}:rollback`);
			await stub.leave();
		};
		await step.do(
			"work",
			async () => {
				await stub.enter(event.instanceId);
				if (hold) await gate("held");
				await stub.leave();
			},
			rollback ? { rollback: undo } : undefined,
		);
		if (sleep) {
			await step.sleep("rest", "1 hour");
			await step.do("after", async () => {
				await stub.enter(`${event.instanceId}:after`);
				await stub.leave();
			});
		}
		if (fail) throw new Error("failed on purpose");
		return "done";
	},

	/**
	 * Under a concurrency limit: a step with a rollback handler (counted by the probe), then an
	 * event wait beside work that fails once the test opens the gate "fail": the run fails while
	 * the instance is waiting, without a slot.
	 */
	async throttledRace({ step, event, env, gate }: ScenarioContext) {
		const { probe } = event.payload as unknown as { probe: string };
		const stub = env.PROBE.get(env.PROBE.idFromName(probe));
		await step.do(
			"work",
			async () => {
				await stub.enter(event.instanceId);
				await stub.leave();
			},
			{
				rollback: async () => {
					await stub.enter(`${event.instanceId}:rollback`);
					await stub.leave();
				},
			},
		);
		await Promise.all([
			step.waitForEvent("never", { type: "never", timeout: "1 hour" }),
			(async () => {
				await gate("fail");
				throw new Error("failed beside the wait");
			})(),
		]);
	},

	/** A step held open by a gate, then a sleep, then a last step. */
	async gated({ step, hit, gate }: ScenarioContext) {
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

	async waitEvent({ event, step, hit }: ScenarioContext) {
		await step.do("before", async () => hit("before"));
		const timeout = event.payload.timeout as WorkflowSleepDuration | undefined;
		const received = await step.waitForEvent<{ approved: boolean }>("approval", {
			type: "approval",
			...(timeout === undefined ? {} : { timeout }),
		});
		await step.do("after", async () => hit("after"));
		return received;
	},

	async waitEventCaught({ step }: ScenarioContext) {
		try {
			await step.waitForEvent("approval", { type: "approval", timeout: "1 minute" });
			return { timedOut: false };
		} catch (error) {
			const after = await step.do("after timeout", async () => "continued");
			return {
				timedOut: true,
				name: (error as Error).name,
				message: (error as Error).message,
				after,
			};
		}
	},

	async manyEvents({ step }: ScenarioContext) {
		await step.sleep("let events arrive", "1 hour");
		const first = await step.waitForEvent("first a", { type: "a" });
		const second = await step.waitForEvent("second a", { type: "a" });
		const b = await step.waitForEvent("only b", { type: "b" });
		return [first.payload, second.payload, b.payload, first.type, b.type];
	},

	async parallelWaits({ step }: ScenarioContext) {
		const [x, y] = await Promise.all([
			step.waitForEvent("x", { type: "go" }),
			step.waitForEvent("y", { type: "go" }),
		]);
		return [x.payload, y.payload];
	},

	async badWaitInput({ step }: ScenarioContext) {
		const errors: string[] = [];
		const calls = [
			() => step.waitForEvent("w", { type: "" }),
			() => step.waitForEvent("w", { type: "t".repeat(101) }),
			() => step.waitForEvent("w", { type: "t", timeout: "never" as never }),
			() => step.waitForEvent("w", { type: "t", timeout: "400 days" }),
			() => step.waitForEvent("w", { type: "t", extra: 1 } as never),
		];
		for (const call of calls) {
			try {
				await call();
				errors.push("none");
			} catch (error) {
				errors.push(`${(error as Error).name}: ${(error as Error).message}`);
			}
		}
		return errors;
	},

	/** Two gated steps run at once ("a" and "b"), then an hour's sleep. */
	async gatedPair({ step, gate }: ScenarioContext) {
		const both = await Promise.all([
			step.do("a", async () => {
				await gate("a");
				return "a";
			}),
			step.do("b", async () => {
				await gate("b");
				return "b";
			}),
		]);
		await step.sleep("rest", "1 hour");
		return both;
	},

	/** A deadline: whichever of a sleep and a step finishes first. */
	async raceSleep({ step }: ScenarioContext) {
		return Promise.race([
			step.sleep("deadline", "1 hour").then(() => "too late"),
			step.do("work", async () => "done"),
		]);
	},

	/** A step waits out a 1-hour retry delay while another branch runs a step that hangs once. */
	async retryBesideWork({ step, hit }: ScenarioContext) {
		return Promise.all([
			step.do("slow retry", { retries: { limit: 1, delay: "1 hour" } }, async () => {
				if ((await hit("slow retry")) === 1) throw new Error("first attempt fails");
				return "retried";
			}),
			step.sleep("short", 1).then(() =>
				step.do("hangs", async () => {
					if ((await hit("hangs")) === 1) return new Promise<string>(() => {});
					return "finished";
				}),
			),
		]);
	},

	/** What run() sees of a caught step error, on the first run (recorded by a step) and on replay. */
	async caughtShape({ step }: ScenarioContext) {
		let seen: { name: string; message: string; isTypeError: boolean } | undefined;
		try {
			await step.do("throws", { retries: { limit: 0, delay: 1 } }, async () => {
				throw new TypeError("typed");
			});
		} catch (error) {
			seen = {
				name: (error as Error).name,
				message: (error as Error).message,
				isTypeError: error instanceof TypeError,
			};
		}
		const firstRun = await step.do("record", async () => seen);
		await step.sleep("nap", "1 hour");
		return { firstRun, replay: seen };
	},

	async hangsAlways({ step, hit }: ScenarioContext) {
		return step.do("hangs", { retries: { limit: 0, delay: 1 } }, async () => {
			await hit("hangs");
			return new Promise<never>(() => {});
		});
	},

	async manySteps({ event, step }: ScenarioContext) {
		const count = event.payload.count as number;
		let sum = 0;
		for (let i = 0; i < count; i++) sum += await step.do(`step ${i}`, async () => i);
		return sum;
	},

	async badStepInput({ event, step }: ScenarioContext) {
		const errors: Record<string, { name: string; message: string }> = {};
		const attempt = async (label: string, call: () => Promise<unknown>) => {
			try {
				await call();
				errors[label] = { name: "none", message: "" };
			} catch (error) {
				errors[label] = { name: (error as Error).name, message: (error as Error).message };
			}
		};
		const long = "n".repeat(257);
		await attempt("longName", () => step.do(long, async () => 1));
		await attempt("emptyName", () => step.do("", async () => 1));
		await attempt("noCallback", () => step.do("x", {} as never));
		await attempt("badConfig", () =>
			step.do("x", { retries: { limit: -1, delay: 1 } }, async () => 1),
		);
		await attempt("rollback", () => step.do("x", async () => 1, { rollback: "undo" } as never));
		await attempt("unknownConfigKey", () => step.do("x", { retry: 1 } as never, async () => 1));
		await attempt("badDuration", () => step.sleep("x", "soon" as never));
		await attempt("negativeDuration", () => step.sleep("x", -5));
		await attempt("tooLongSleep", () => step.sleep("x", "366 days"));
		await attempt("badDate", () => step.sleepUntil("x", new Date("nope")));
		await attempt("farDate", () => step.sleepUntil("x", Date.now() + 400 * 86_400_000));
		void event;
		// The failed calls consumed no occurrence: this is still "x" #1.
		const ran = await step.do("x", async (ctx) => ctx.step.count);
		return { errors, ran };
	},

	/**
	 * Rollback (issue 15): "a" and "b" have handlers, "c" none, "d" has one and fails for good.
	 * Each handler records the order it ran in, with what it received:
	 * "<n>:<stepName>:<output>:<error message>:<ctx.attempt>".
	 */
	async rollbackOnFailure({ step, hit }: ScenarioContext) {
		const undo = async (rb: {
			ctx: { attempt: number };
			error: Error;
			output: unknown;
			stepName: string;
		}) => {
			const n = await hit("rollbacks");
			await hit(`${n}:${rb.stepName}:${String(rb.output)}:${rb.error.message}:${rb.ctx.attempt}`);
		};
		await step.do("a", async () => "A", { rollback: undo });
		await step.do("b", { retries: { limit: 0, delay: 1 } }, async () => "B", { rollback: undo });
		await step.do("c", async () => "C");
		await step.do(
			"d",
			async () => {
				throw new NonRetryableError("d broke");
			},
			{ rollback: undo },
		);
	},

	/**
	 * Two handlers; the second to run ("a") holds on gate "rb-a" so a test can crash the engine
	 * mid-rollback. The run fails after both steps.
	 */
	async rollbackGated({ step, hit, gate }: ScenarioContext) {
		await step.do("a", async () => hit("a"), {
			rollback: async () => {
				await hit("rb-a-start");
				await gate("rb-a");
				await hit("rb-a-done");
			},
		});
		await step.do("b", async () => hit("b"), { rollback: async () => void (await hit("rb-b")) });
		throw new Error("run failed");
	},

	/**
	 * Awaits I/O outside any step between "a" and "b"; "b"'s handler (the first to run) holds on
	 * gate "rb-b", so a test can crash the engine before it ends and check the replay finds it.
	 */
	async rollbackAfterIO({ step, hit, gate }: ScenarioContext) {
		await step.do("a", async () => hit("a"), { rollback: async () => void (await hit("rb-a")) });
		for (let i = 0; i < 3; i++) await hit("between");
		await step.do("b", async () => hit("b"), {
			rollback: async () => {
				await hit("rb-b-start");
				await gate("rb-b");
				await hit("rb-b-done");
			},
		});
		throw new Error("run failed");
	},

	/**
	 * A handler that fails twice and then succeeds, retried by its own rollbackConfig (a delay of
	 * 1 ms, or params' `rollbackDelay`).
	 */
	async rollbackRetries({ step, hit, event }: ScenarioContext) {
		const { rollbackDelay = 1 } = event.payload as { rollbackDelay?: WorkflowSleepDuration };
		await step.do("a", async () => 1, {
			rollback: async () => {
				if ((await hit("rb-a")) < 3) throw new Error("not yet");
			},
			rollbackConfig: { retries: { limit: 2, delay: rollbackDelay, backoff: "constant" } },
		});
		throw new Error("run failed");
	},

	/** "b"'s handler fails for good: the rollback stops there and "a"'s handler never runs. */
	async rollbackFails({ step, hit }: ScenarioContext) {
		await step.do("a", async () => 1, { rollback: async () => void (await hit("rb-a")) });
		await step.do("b", async () => 2, {
			rollback: async () => {
				await hit("rb-b");
				throw new Error("cannot undo b");
			},
			rollbackConfig: { retries: { limit: 1, delay: 1 } },
		});
		throw new Error("run failed");
	},

	/** A step with a handler, then a wait: terminate({ rollback: true }) rolls "a" back. */
	async rollbackThenWait({ step, hit }: ScenarioContext) {
		await step.do("a", async () => "A", {
			rollback: async ({ error, output }) => {
				await hit(`rb-a:${String(output)}:${error.name}:${error.message}`);
			},
		});
		await step.do("b", async () => "B");
		await step.waitForEvent("go", { type: "go", timeout: "1 hour" });
		return "done";
	},

	/** A step error caught by run(): the instance completes and no handler runs. */
	async rollbackCaught({ step, hit }: ScenarioContext) {
		await step.do("a", async () => 1, { rollback: async () => void (await hit("rb-a")) });
		try {
			await step.do(
				"b",
				{ retries: { limit: 0, delay: 1 } },
				async () => {
					throw new Error("b broke");
				},
				{ rollback: async () => void (await hit("rb-b")) },
			);
		} catch {
			return "caught";
		}
		return "not caught";
	},
} satisfies Record<string, (ctx: ScenarioContext) => Promise<unknown>>;

type WorkflowSleepDuration = import("../src").WorkflowSleepDuration;

export class ScenarioWorkflow extends WorkflowEntrypoint<TestEnv, ScenarioParams> {
	async run(event: WorkflowEvent<ScenarioParams>, step: WorkflowStep) {
		const calls = this.env.CALLS.get(this.env.CALLS.idFromName(event.instanceId));
		const gates = this.env.GATES.get(this.env.GATES.idFromName(event.instanceId));
		const scenario = scenarios[event.payload.scenario] as (
			ctx: ScenarioContext,
		) => Promise<unknown>;
		return scenario({
			event,
			step,
			env: this.env,
			hit: (key) => calls.hit(key),
			gate: (key) => gates.wait(key),
		});
	}
}

// A class declaration (the form docs/getting-started.md recommends), so types can name it.
export class ScenarioEngine extends createWorkflowEngine(ScenarioWorkflow, { name: "scenario" }) {}
/** The scenarios again, under a concurrency limit of 3 (tests/concurrency.test.ts). */
export const ThrottledEngine = createWorkflowEngine(ScenarioWorkflow, {
	name: "throttled",
	concurrency: { limit: 3 },
	defaultRetention: false,
});
/** The same with a wider limit, for the test of thousands of concurrent creates. */
export const WideThrottledEngine = createWorkflowEngine(ScenarioWorkflow, {
	name: "wide-throttled",
	concurrency: { limit: 50 },
	defaultRetention: false,
});
export const LimitedEngine = createWorkflowEngine(ScenarioWorkflow, {
	name: "limited",
	stepLimit: 3,
	// Bounds the stream and large-output tests meet (tests/large-outputs.test.ts).
	maxStepOutputBytes: 4 * 1024 * 1024,
	maxStreamOutputBytes: 3 * 1024 * 1024,
	// Kept until deleted, unlike the product's default (see lifecycle.test.ts).
	defaultRetention: false,
});
