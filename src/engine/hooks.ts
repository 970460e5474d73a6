/**
 * The engine's test-only control surface, used by `do-workflows/testing` and nothing else.
 *
 * The test kit installs an {@link EngineHooks} object in a slot of the isolate's global scope;
 * engine objects running in that isolate (with `@cloudflare/vitest-plugin`, the test runner's
 * own) consult it when an instance is created and when a run starts, and tell it when something
 * changed. In production nothing installs it: each check is one property read of an empty slot,
 * and nothing outside the isolate can reach it (it is not an RPC method). A test Worker may
 * install hooks of its own (tests/tick-hold/worker.ts holds a scheduler's tick under
 * `wrangler dev` so that a kill comes at a chosen point of it).
 */

/** What a test decided for one attempt of a `step.do`, instead of running its callback. */
export type AttemptOverride =
	| { kind: "result"; value: unknown }
	| { kind: "error"; error: Error }
	| { kind: "timeout" };

/** A test's modifications of one instance, asked by the step context as the run meets each step. */
export interface InstanceControls {
	/** The override for attempt `attempt` (1-based) of the `index`-th `step.do(name)`, if any. */
	attempt(name: string, index: number, attempt: number): AttemptOverride | undefined;
	/** True if the retry delays of that `step.do` are skipped. */
	skipRetryDelay(name: string, index: number): boolean;
	/** True if the retry delays of rollback handlers are skipped (every retry delay was disabled). */
	skipRollbackRetryDelays?(): boolean;
	/** True if the `index`-th `step.sleep(name)` (or `sleepUntil`) ends at once. */
	skipSleep(name: string, index: number): boolean;
	/** True if the `index`-th `step.waitForEvent(name)` times out at once. */
	eventTimesOut(name: string, index: number): boolean;
	/**
	 * Every event a test mocked for the instance: buffered as it is created (those mocked before
	 * it existed) and again after a full restart (which erases buffered events).
	 */
	mockedEvents(): { type: string; payload: unknown }[];
}

export interface EngineHooks {
	/**
	 * The controls of the instance `instanceId` hosted by the engine object `objectId` (its
	 * Durable Object id), if a test set any. Asked as the instance is created (`creating`), and
	 * as a run starts.
	 */
	controls(objectId: string, instanceId: string, creating: boolean): InstanceControls | undefined;
	/**
	 * Something about the instance in `objectId` changed: its status became `status`, or (without
	 * one) a step settled. Called synchronously as the change is written, so no status is missed.
	 */
	changed(objectId: string, status?: InstanceStatus["status"]): void;
	/**
	 * A scheduler is firing the tick whose instance is `instanceId`: awaited just before the
	 * instance's create (`beforeCreate`, the tick already recorded pending with its lease alarm)
	 * and just after it (`afterCreate`, the instance made or found made before, the tick not yet
	 * recorded). A hook that never settles holds the tick there, as a runtime that dies at that
	 * point leaves it. Optional: without it, or without hooks, the scheduler awaits nothing.
	 */
	scheduledTick?(instanceId: string, phase: ScheduledTickPhase): Promise<void> | void;
}

/** Where in the firing of a tick {@link EngineHooks.scheduledTick} is called. */
export type ScheduledTickPhase = "beforeCreate" | "afterCreate";

const SLOT = Symbol.for("do-workflows.engine-hooks");

type HookSlot = { [SLOT]?: EngineHooks };

/** The installed hooks, if a test kit is loaded in this isolate. */
export function engineHooks(): EngineHooks | undefined {
	return (globalThis as HookSlot)[SLOT];
}

/** Installs the test kit's hooks (once per isolate; later calls keep the first). */
export function installEngineHooks(hooks: EngineHooks): EngineHooks {
	const slot = globalThis as HookSlot;
	slot[SLOT] ??= hooks;
	return slot[SLOT];
}
