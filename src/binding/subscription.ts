/**
 * `instance.subscribe()`: the product's stream of an instance's events (workers-types 5's
 * `WorkflowInstanceSubscription`), read from the engine a page at a time (engine/events.ts).
 *
 * The stream holds one page at most: it asks the engine for the next only when its reader has
 * taken every event of the last, so a slow reader costs a page of memory, whatever the instance
 * did. When it has read everything, the engine holds its request until the journal changes
 * (or WAIT_MS passes, and it asks again): no polling on a clock. An engine object reset meanwhile
 * (a crash, a deploy) is asked again from the same cursor, so nothing is missed or repeated.
 */
import type { EventPage } from "../engine/events.js";
import { isWorkflowError } from "../errors.js";
import type { EngineClient } from "./client.js";

/** How long the engine holds a request for more events before it answers an empty page. */
const WAIT_MS = 30_000;
/** Events per page at most. */
const PAGE_EVENTS = 100;
/** A page's step outputs, params and output together, past its first event (bytes). */
const PAGE_BYTES = 8 * 1024 * 1024;
/** Calls cut off in a row (the engine object reset) before the stream gives up with the error. */
const CALL_FAILURES = 5;

const DONE: IteratorReturnResult<void> = { done: true, value: undefined };

const dispose: typeof Symbol.dispose =
	Symbol.dispose ?? (Symbol.for("Symbol.dispose") as typeof Symbol.dispose);

export class InstanceSubscription implements WorkflowInstanceSubscription {
	readonly #engine: EngineClient;
	readonly #filter: WorkflowInstanceEventType[] | undefined;
	#cursor: number | undefined;
	#buffer: WorkflowInstanceEvent[] = [];
	#ended = false;
	#closed = false;
	/** The last next() call: calls are answered in order, one at a time. */
	#pending: Promise<unknown> = Promise.resolve();

	private constructor(engine: EngineClient, options: WorkflowInstanceSubscribeOptions) {
		this.#engine = engine;
		this.#filter = options.filter;
		this.#cursor = options.cursor;
	}

	/** Opens a subscription: reads its first page, so an unknown instance throws here. */
	static async open(
		engine: EngineClient,
		options: WorkflowInstanceSubscribeOptions,
	): Promise<InstanceSubscription> {
		const subscription = new InstanceSubscription(engine, options);
		await subscription.#read(0);
		return subscription;
	}

	/** The next event, waiting for the instance to record one; done once its final event was read. */
	next(): Promise<IteratorResult<WorkflowInstanceEvent, void>> {
		const answer = this.#pending.then(() => this.#next());
		this.#pending = answer.catch(() => {});
		return answer;
	}

	async #next(): Promise<IteratorResult<WorkflowInstanceEvent, void>> {
		for (;;) {
			if (this.#closed) return DONE;
			const event = this.#buffer.shift();
			if (event) return { done: false, value: event };
			if (this.#ended) {
				this.#close();
				return DONE;
			}
			await this.#read(WAIT_MS);
		}
	}

	/** Reads the page after the cursor, waiting up to `waitMs` for an event. */
	async #read(waitMs: number): Promise<void> {
		let failures = 0;
		let page: EventPage;
		for (;;) {
			try {
				page = await this.#engine.events({
					after: this.#cursor,
					filter: this.#filter,
					limit: PAGE_EVENTS,
					pageBytes: PAGE_BYTES,
					waitMs,
				});
				break;
			} catch (error) {
				// A refusal (no such instance) is the answer; any other error is the call's: the engine
				// object was reset, so its next incarnation is asked, from the same cursor.
				if (isWorkflowError(error) || ++failures >= CALL_FAILURES) {
					this.#close();
					throw error;
				}
			}
		}
		if (this.#closed) return;
		this.#buffer = page.events;
		this.#cursor = page.cursor;
		this.#ended = page.ended;
	}

	#close(): void {
		this.#closed = true;
		this.#buffer = [];
	}

	/** Ends the subscription: next() answers done from now on. */
	[dispose](): void {
		this.#close();
	}
}
