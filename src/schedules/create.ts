/**
 * How a schedule's tick creates its instance: as `create()` does (the listing's intent sent with
 * the create), with the id derived from the tick, the payload an instance without params gets,
 * and the tick as `event.schedule`.
 */
import { engineClient } from "../binding/client.js";
import type { EngineNamespace } from "../engine/protocol.js";
import { ListingClient } from "../listing/client.js";

/**
 * Creates the instance `id` of a tick of `schedule.cron` at `schedule.scheduledTime`.
 * @throws InstanceExistsError if it exists: the tick was fired before.
 */
export async function createScheduledInstance(
	namespace: EngineNamespace,
	id: string,
	schedule: { cron: string; scheduledTime: number },
): Promise<void> {
	const createdAt = Date.now();
	const intend = () => new ListingClient(namespace).intend([{ id, createdAt }]);
	const [listed, created] = await Promise.allSettled([
		intend(),
		engineClient(namespace, id).create({ id, params: {}, createdAt, schedule }),
	]);
	if (created.status === "rejected") throw created.reason;
	// As create(): a listing row that did not make it is sent once more, then left to the instance.
	if (listed.status === "rejected") await intend().catch(() => {});
}
