/**
 * The test kit's side of the engine hooks: which instances a test modifies, which workflows a
 * test introspects (for instances created later), and who waits for an instance to change.
 */
import type { EngineHooks } from "../engine/hooks";
import { installEngineHooks } from "../engine/hooks";
import { InvalidStateError } from "../errors";
import type { Modifications } from "./controls";

type PublicStatus = InstanceStatus["status"];

/** Instances created while a workflow is introspected get the session's modifications. */
export interface Session {
	/** True if the instance `instanceId` in engine object `objectId` belongs to this session's workflow. */
	owns(objectId: string, instanceId: string): boolean;
	/** Called once per new instance of the workflow: the modifications it runs with. */
	adopt(objectId: string, instanceId: string): Modifications;
}

/** Status changes of one engine object, as they are written. */
export class Watch {
	readonly statuses: PublicStatus[] = [];
	#wake = Promise.withResolvers<void>();

	notify(status?: PublicStatus): void {
		if (status !== undefined) this.statuses.push(status);
		this.#wake.resolve();
		this.#wake = Promise.withResolvers<void>();
	}

	/** Settles at the next change. */
	next(): Promise<void> {
		return this.#wake.promise;
	}
}

export class Registry implements EngineHooks {
	readonly #instances = new Map<string, Modifications>();
	readonly #sessions = new Set<Session>();
	readonly #watches = new Map<string, Set<Watch>>();

	// ---- EngineHooks ----

	controls(objectId: string, instanceId: string): Modifications | undefined {
		const modifications = this.#instances.get(objectId);
		if (modifications) return modifications;
		for (const session of this.#sessions) {
			if (!session.owns(objectId, instanceId)) continue;
			const adopted = session.adopt(objectId, instanceId);
			this.#instances.set(objectId, adopted);
			return adopted;
		}
		return undefined;
	}

	changed(objectId: string, status?: PublicStatus): void {
		for (const watch of this.#watches.get(objectId) ?? []) watch.notify(status);
	}

	// ---- used by the introspectors ----

	/** Starts modifying the instance in `objectId`; throws if another introspector already does. */
	claim(objectId: string, instanceId: string, modifications: Modifications): void {
		if (this.#instances.has(objectId)) {
			throw new InvalidStateError(
				`instance "${instanceId}" is already introspected; dispose the other introspector first`,
			);
		}
		this.#instances.set(objectId, modifications);
	}

	release(objectId: string): void {
		this.#instances.delete(objectId);
	}

	addSession(session: Session): void {
		this.#sessions.add(session);
	}

	removeSession(session: Session): void {
		this.#sessions.delete(session);
	}

	/** Records every change of the instance in `objectId` until `stop()` is called. */
	watch(objectId: string): Watch & { stop(): void } {
		const watch = new Watch();
		let set = this.#watches.get(objectId);
		if (!set) {
			set = new Set();
			this.#watches.set(objectId, set);
		}
		set.add(watch);
		return Object.assign(watch, {
			stop: () => {
				set.delete(watch);
				if (set.size === 0) this.#watches.delete(objectId);
			},
		});
	}
}

/** The registry of this isolate (shared by every copy of this module, as the engine's hook). */
export const registry = installEngineHooks(new Registry()) as Registry;
