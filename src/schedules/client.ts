/**
 * The callers' side of a workflow's scheduler: its object (SCHEDULER_NAME in the engine
 * namespace), and starting it. A scheduler runs on its alarm once started; what starts it is the
 * first event a Worker wrapped by withWorkflows handles in an isolate, or any schedule operation.
 */
import { isDurableObjectNamespace } from "../binding/namespace.js";
import type { EngineNamespace, EngineStub, RpcResult } from "../engine/protocol.js";
import { deserializeError } from "../errors.js";
import { type FiredTick, SCHEDULER_NAME, type ScheduleEntry } from "./schedules.js";

/** The scheduler object of the workflow whose engines live in `namespace`. */
export function schedulerStub(namespace: EngineNamespace): EngineStub {
	return namespace.get(namespace.idFromName(SCHEDULER_NAME));
}

/** A workflow as withWorkflows registers it; only one hosted here (with schedules) is started. */
type Source = { readonly definition?: { readonly schedules: readonly unknown[] } | undefined };

/** Bindings whose scheduler this isolate started (or is starting). */
const started = new Set<string>();

/**
 * Starts, once per isolate, the scheduler of every workflow in `bindings` that has schedules and
 * is hosted by this Worker: it brings its schedules in line with the definition and arms its
 * alarm. Off the caller's path: the call is handed to `waitUntil` when there is one.
 */
export function startSchedulers(
	bindings: Record<string, object>,
	env: unknown,
	waitUntil: ((promise: Promise<unknown>) => void) | undefined,
): void {
	if (typeof env !== "object" || env === null) return;
	for (const [name, source] of Object.entries(bindings)) {
		if (started.has(name) || !(source as Source).definition?.schedules.length) continue;
		const namespace = (env as Record<string, unknown>)[name];
		if (!isDurableObjectNamespace(namespace)) continue;
		started.add(name);
		const start = schedulerStub(namespace as EngineNamespace)
			.schedulesList()
			.catch((error: unknown) => {
				// Tried again by the next event this isolate handles.
				started.delete(name);
				console.error(`do-workflows: the schedules of ${name} could not be started:`, error);
			});
		waitUntil?.(start);
	}
}

/** The scheduler's methods, their answers unwrapped and their refusals thrown typed. */
export function scheduleClient(namespace: EngineNamespace) {
	const stub = () => schedulerStub(namespace);
	return {
		list: async (): Promise<ScheduleEntry[]> => (await stub().schedulesList()) as ScheduleEntry[],
		setPaused: async (cron: string, paused: boolean): Promise<ScheduleEntry> =>
			unwrap<ScheduleEntry>(await stub().schedulesSetPaused(cron, paused)),
		fire: async (cron?: string): Promise<FiredTick[]> =>
			unwrap<FiredTick[]>(await stub().schedulesFire(cron)),
	};
}

function unwrap<T>(result: unknown): T {
	const answer = result as RpcResult<T>;
	if (!answer.ok) throw deserializeError(answer.error);
	return answer.value;
}
