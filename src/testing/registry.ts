/**
 * The test kit's side of the engine hooks: which instances a test modifies, which workflows a
 * test introspects (for instances created later), and who waits for an instance to change.
 */
import type { EngineHooks, InstanceControls } from "../engine/hooks.js";
import { installEngineHooks } from "../engine/hooks.js";
import type { PublicStatus } from "../engine/status.js";
import { InvalidStateError } from "../errors.js";

/** Instances created while a workflow is introspected get the session's modifications. */
export interface Session {
	/** True if the instance `instanceId` in engine object `objectId` belongs to this session's workflow. */
	owns(objectId: string, instanceId: string): boolean;
	/** Called once per new instance of the workflow: the modifications it runs with. */
	adopt(objectId: string, instanceId: string): InstanceControls;
}

/** The instance's own modifications over its session's: the instance's win where both decide. */
function layered(top: InstanceControls, base: InstanceControls): InstanceControls {
	return {
		attempt: (name, index, attempt) =>
			top.attempt(name, index, attempt) ?? base.attempt(name, index, attempt),
		skipRetryDelay: (name, index) =>
			top.skipRetryDelay(name, index) || base.skipRetryDelay(name, index),
		skipRollbackRetryDelays: () =>
			Boolean(top.skipRollbackRetryDelays?.() || base.skipRollbackRetryDelays?.()),
		skipSleep: (name, index) => top.skipSleep(name, index) || base.skipSleep(name, index),
		eventTimesOut: (name, index) =>
			top.eventTimesOut(name, index) || base.eventTimesOut(name, index),
		mockedEvents: () => [...base.mockedEvents(), ...top.mockedEvents()],
	};
}

/** How often a waiting introspector looks at what its watch recorded. */
const WATCH_POLL_MS = 5;

/**
 * Status changes of one engine object, as they are written. The engine records them
 * synchronously; the waiter looks at them from its own context (a promise resolved from the
 * engine object's context would tie the test's request to the object's, and a simulated crash of
 * the object would then never finish).
 */
export class Watch {
	readonly statuses: PublicStatus[] = [];
	#changes = 0;
	#stopped = false;
	readonly #onStop: () => void;

	constructor(onStop: () => void) {
		this.#onStop = onStop;
	}

	/** Stops recording; a pending `next()` settles. */
	stop(): void {
		this.#stopped = true;
		this.#onStop();
	}

	notify(status?: PublicStatus): void {
		if (status !== undefined) this.statuses.push(status);
		this.#changes++;
	}

	/** Settles once anything changes after this call. */
	async next(): Promise<void> {
		const seen = this.#changes;
		while (this.#changes === seen && !this.#stopped) {
			await new Promise((resolve) => setTimeout(resolve, WATCH_POLL_MS));
		}
	}
}

export class Registry implements EngineHooks {
	/** Modifications of `introspectWorkflowInstance`, by engine object id. */
	readonly #claimed = new Map<string, InstanceControls>();
	/** Modifications an `introspectWorkflow` session gave an instance as it was created. */
	readonly #adopted = new Map<string, InstanceControls>();
	readonly #sessions = new Set<Session>();
	readonly #watches = new Map<string, Set<Watch>>();

	// ---- EngineHooks ----

	controls(objectId: string, instanceId: string, creating: boolean): InstanceControls | undefined {
		// As in the product, a session takes only instances created while it is open: not older
		// ones that resume, restart or replay meanwhile.
		if (creating && !this.#adopted.has(objectId)) {
			for (const session of this.#sessions) {
				if (!session.owns(objectId, instanceId)) continue;
				this.#adopted.set(objectId, session.adopt(objectId, instanceId));
				break;
			}
		}
		const claimed = this.#claimed.get(objectId);
		const adopted = this.#adopted.get(objectId);
		if (claimed && adopted) return layered(claimed, adopted);
		return claimed ?? adopted;
	}

	changed(objectId: string, status?: PublicStatus): void {
		for (const watch of this.#watches.get(objectId) ?? []) watch.notify(status);
	}

	// ---- used by the introspectors ----

	/** Starts modifying the instance in `objectId`; throws if another introspector already does. */
	claim(objectId: string, instanceId: string, modifications: InstanceControls): void {
		if (this.#claimed.has(objectId)) {
			throw new InvalidStateError(
				`instance "${instanceId}" is already introspected; dispose the other introspector first`,
			);
		}
		this.#claimed.set(objectId, modifications);
	}

	/** Forgets the modifications `modifications` of the instance in `objectId`. */
	release(objectId: string, modifications: InstanceControls): void {
		if (this.#claimed.get(objectId) === modifications) this.#claimed.delete(objectId);
		if (this.#adopted.get(objectId) === modifications) this.#adopted.delete(objectId);
	}

	/** Opens a session; throws if one is open for the same workflow (as the product does). */
	addSession(session: Session, sameWorkflow: (other: Session) => boolean): void {
		for (const other of this.#sessions) {
			if (sameWorkflow(other)) {
				throw new InvalidStateError(
					"this workflow is already introspected; dispose the other introspectWorkflow() first",
				);
			}
		}
		this.#sessions.add(session);
	}

	removeSession(session: Session): void {
		this.#sessions.delete(session);
	}

	/** Records every change of the instance in `objectId` until `stop()` is called. */
	watch(objectId: string): Watch {
		let set = this.#watches.get(objectId);
		if (!set) {
			set = new Set();
			this.#watches.set(objectId, set);
		}
		const watches = set;
		const watch = new Watch(() => {
			watches.delete(watch);
			if (watches.size === 0) this.#watches.delete(objectId);
		});
		watches.add(watch);
		return watch;
	}
}

/** The registry of this isolate (shared by every copy of this module, as the engine's hook). */
export const registry = installEngineHooks(new Registry()) as Registry;
