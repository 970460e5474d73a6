/**
 * How the admin API shows stored values (src/admin/display.ts): whatever structured clone stores,
 * BigInts and cycles included, and plain data exactly as JSON shows it.
 */
import { describe, expect, it } from "vitest";
import { toDisplay } from "../src/admin/display";
import { scenarioWorkflow, uniqueId, waitForStatus } from "./helpers";

const TOKEN = "test-admin-token";

describe("toDisplay", () => {
	it("shows plain data as JSON does", () => {
		const plain = { a: [1, "two", null, true], b: { c: 1.5 }, when: new Date(0), gone: undefined };
		expect(toDisplay(plain)).toEqual(JSON.parse(JSON.stringify(plain)));
	});

	it("tags what JSON cannot say", () => {
		const self: Record<string, unknown> = { name: "loop" };
		self.self = self;
		const shown = toDisplay({
			big: 2n ** 70n,
			map: new Map([["k", new Set([1])]]),
			bytes: new Uint8Array([1, 2, 255]),
			buffer: new Uint8Array([7]).buffer,
			regex: /a+b/gi,
			numbers: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0],
			error: new TypeError("bad"),
			self,
		});
		expect(shown).toEqual({
			big: { $bigint: "1180591620717411303424" },
			map: { $map: [["k", { $set: [1] }]] },
			bytes: { $typedArray: "Uint8Array", values: [1, 2, 255] },
			buffer: { $arrayBuffer: [7] },
			regex: { $regexp: "/a+b/gi" },
			numbers: [
				{ $number: "NaN" },
				{ $number: "Infinity" },
				{ $number: "-Infinity" },
				{ $number: "-0" },
			],
			error: { $error: { name: "TypeError", message: "bad" } },
			self: { name: "loop", self: { $circular: "$.self" } },
		});
		// What the admin API sends is JSON again.
		expect(() => JSON.stringify(shown)).not.toThrow();
	});

	it("shows an object seen twice, but not in a cycle, in full both times", () => {
		const shared = { n: 1 };
		expect(toDisplay({ a: shared, b: shared })).toEqual({ a: { n: 1 }, b: { n: 1 } });
	});
});

describe("the admin API on values JSON cannot say", () => {
	it("answers an instance with a BigInt, a Map and a Set, and its history, with 200", async () => {
		const instance = await scenarioWorkflow.create({
			id: uniqueId("display"),
			params: { scenario: "structured" },
		});
		await waitForStatus(instance, "waiting");
		const base = "http://worker/__workflows/api/workflows/SCENARIO/instances";
		const headers = { authorization: `Bearer ${TOKEN}` };
		const { SELF } = await import("cloudflare:test");
		const history = await SELF.fetch(`${base}/${instance.id}/history`, { headers });
		expect(history.status).toBe(200);
		const body = (await history.json()) as { steps: { name: string; output?: unknown }[] };
		const rich = body.steps.find((step) => step.name === "rich");
		expect(rich?.output).toMatchObject({
			big: { $bigint: "1180591620717411303424" },
			map: { $map: [["k", { nested: [1, 2, 3] }]] },
			set: { $set: [1, "two"] },
		});
		const described = await SELF.fetch(`${base}/${instance.id}`, { headers });
		expect(described.status).toBe(200);
	});
});
