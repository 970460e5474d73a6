/**
 * The engine class's public surface: every public method of a Durable Object class is callable
 * over RPC by anyone holding a stub, so the engine's may be exactly its contract, EngineRpc
 * (engine/protocol.ts), and the runtime's alarm handler.
 */
import { DurableObject } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { WorkflowEngine } from "../src";
import type { EngineRpc } from "../src/engine/protocol";

/** EngineRpc's methods; the type check below fails if the interface gains one this list lacks. */
const PROTOCOL = [
	"create",
	"exists",
	"waitForEnd",
	"events",
	"history",
	"historyPage",
	"historyStep",
	"status",
	"pause",
	"resume",
	"terminate",
	"restart",
	"sendEvent",
	"stepStream",
	"delete",
	"listingEntry",
	"listingIntend",
	"listingPut",
	"listingPutAll",
	"listingRemove",
	"listingQuery",
	"admit",
	"gateWant",
	"gateRelease",
	"gatePositions",
	"gateSummary",
	"schedulesList",
	"schedulesSetPaused",
	"schedulesFire",
] as const satisfies readonly (keyof EngineRpc)[];
const listsEveryMethod: Exclude<keyof EngineRpc, (typeof PROTOCOL)[number]> extends never
	? true
	: false = true;

describe("the engine class", () => {
	it("has no public method or accessor beyond EngineRpc and alarm", () => {
		expect(listsEveryMethod).toBe(true);
		// The engine class's own and those of its base (WorkflowObject, the roles' methods), up to
		// the runtime's DurableObject.
		const names = new Set<string>();
		for (
			let proto = WorkflowEngine.prototype;
			proto !== DurableObject.prototype;
			proto = Object.getPrototypeOf(proto)
		) {
			for (const name of Object.getOwnPropertyNames(proto))
				if (name !== "constructor") names.add(name);
		}
		expect([...names].sort()).toEqual([...PROTOCOL, "alarm"].sort());
	});
});
