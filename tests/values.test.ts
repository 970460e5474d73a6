/** Which values the journal keeps as JSON text, and that JSON gives them back unchanged. */
import { describe, expect, it } from "vitest";
import { fromJsonText, MAX_JSON_TEXT, toJsonText } from "../src/engine/values";

describe("values kept as JSON", () => {
	it("takes plain data and gives it back equal", () => {
		for (const value of [
			"text",
			"\ud800 lone surrogate",
			0,
			-1.5e300,
			true,
			null,
			[],
			[1, [2, [3]], { a: "b" }],
			{ nested: { list: [null, false, ""] }, "": 1 },
			Object.assign(Object.create(null), { k: 1 }),
		]) {
			const text = toJsonText(value);
			expect(text, JSON.stringify(value)).toBeTypeOf("string");
			expect(fromJsonText(text as string)).toEqual(value);
		}
		expect(toJsonText(undefined)).toBe("");
		expect(fromJsonText("")).toBeUndefined();
	});

	it("leaves to structured clone what JSON would change", () => {
		const shared = {};
		const cyclic: Record<string, unknown> = {};
		cyclic.self = cyclic;
		const extra = Object.assign([1, 2], { label: "x" });
		for (const value of [
			-0,
			Number.NaN,
			Number.POSITIVE_INFINITY,
			10n,
			new Date(0),
			new Map(),
			new Set(),
			new Uint8Array(1),
			/x/,
			// biome-ignore lint/suspicious/noSparseArray: a hole is the point
			[1, , 3],
			extra,
			[undefined],
			{ a: undefined },
			{ a: shared, b: shared },
			cyclic,
			new (class Point {
				x = 1;
			})(),
			() => 1,
			Symbol("s"),
			{ toJSON: () => "changed" },
		]) {
			expect(toJsonText(value), String(value)).toBeNull();
		}
	});
});

describe("values too long for a row", () => {
	it("leaves a value whose JSON text is over MAX_JSON_TEXT to the KV store", () => {
		expect(toJsonText("x".repeat(MAX_JSON_TEXT - 2))).toHaveLength(MAX_JSON_TEXT);
		expect(toJsonText("x".repeat(MAX_JSON_TEXT - 1))).toBeNull();
		// Escaping makes JSON longer than the value: 3,000 control characters take 18,002.
		expect(toJsonText("\u0001".repeat(3_000))).toBeNull();
		expect(toJsonText(Array.from({ length: 20_000 }, () => 0))).toBeNull();
	});
});
