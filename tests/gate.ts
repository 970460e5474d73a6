import { DurableObject } from "cloudflare:workers";

/**
 * Holds a step open until the test opens its gate, so a test can act while a step is running.
 * Opening is durable; waiting is in memory (a gate's waiters are released by open()). Shared by
 * the workerd tests and the compatibility suite.
 */
export class Gate extends DurableObject {
	#waiters = new Map<string, (() => void)[]>();

	async wait(key: string): Promise<void> {
		if (this.ctx.storage.kv.get(key)) return;
		await new Promise<void>((resolve) => {
			this.#waiters.set(key, [...(this.#waiters.get(key) ?? []), resolve]);
		});
	}

	async open(key: string): Promise<void> {
		this.ctx.storage.kv.put(key, true);
		for (const resolve of this.#waiters.get(key) ?? []) resolve();
		this.#waiters.delete(key);
	}
}
