/**
 * How the admin API shows values in JSON. Params, outputs and event payloads are whatever
 * structured clone can store, and JSON cannot say all of that: `JSON.stringify` throws on a BigInt
 * or a cycle, and turns a Map, a Set or a typed array into `{}`. Such values are shown tagged
 * instead; plain data (and a Date, as its ISO string) is shown as JSON would show it.
 *
 *   2n ** 70n            {"$bigint": "1180591620717411303424"}
 *   new Map([["k", 1]])  {"$map": [["k", 1]]}
 *   new Set([1])         {"$set": [1]}
 *   new Uint8Array([1])  {"$typedArray": "Uint8Array", "values": [1]}
 *   an ArrayBuffer       {"$arrayBuffer": [1, 2]}
 *   /a+b/gi              {"$regexp": "/a+b/gi"}
 *   NaN, Infinity, -0    {"$number": "NaN"}, {"$number": "Infinity"}, {"$number": "-0"}
 *   an Error             {"$error": {"name": "TypeError", "message": "..."}}
 *   a cycle              {"$circular": "$.value.self"}  (the path of the object it refers to)
 *
 * It is for people and tools reading the admin API (the CLI, the dashboard), not a format to
 * store values in: a user object whose keys start with `$` looks the same as a tag.
 */
export function toDisplay(value: unknown): unknown {
	return display(value, "$", new Map());
}

function display(value: unknown, path: string, open: Map<object, string>): unknown {
	switch (typeof value) {
		case "bigint":
			return { $bigint: value.toString() };
		case "number":
			if (Number.isNaN(value)) return { $number: "NaN" };
			if (!Number.isFinite(value)) return { $number: value > 0 ? "Infinity" : "-Infinity" };
			return Object.is(value, -0) ? { $number: "-0" } : value;
		case "object":
			break;
		default:
			return value;
	}
	if (value === null) return null;
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
	if (value instanceof RegExp) return { $regexp: String(value) };
	if (value instanceof ArrayBuffer) return { $arrayBuffer: Array.from(new Uint8Array(value)) };
	if (ArrayBuffer.isView(value)) {
		const values =
			value instanceof DataView
				? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
				: value;
		return {
			$typedArray: value.constructor.name,
			values: Array.from(values as unknown as ArrayLike<number | bigint>, (n) =>
				typeof n === "bigint" ? n.toString() : n,
			),
		};
	}
	if (value instanceof Error) return { $error: { name: value.name, message: value.message } };
	const cycle = open.get(value);
	if (cycle !== undefined) return { $circular: cycle };
	open.set(value, path);
	try {
		if (value instanceof Map) {
			return {
				$map: Array.from(value, ([k, v], i) => [
					display(k, `${path}.$map[${i}][0]`, open),
					display(v, `${path}.$map[${i}][1]`, open),
				]),
			};
		}
		if (value instanceof Set) {
			return { $set: Array.from(value, (v, i) => display(v, `${path}.$set[${i}]`, open)) };
		}
		if (Array.isArray(value)) {
			// As JSON shows them: a hole or undefined in an array is null.
			return Array.from(value, (v, i) =>
				v === undefined ? null : display(v, `${path}[${i}]`, open),
			);
		}
		const result: Record<string, unknown> = {};
		for (const [key, v] of Object.entries(value)) {
			// As JSON shows them: a property that is undefined is left out.
			if (v !== undefined) result[key] = display(v, `${path}.${key}`, open);
		}
		return result;
	} finally {
		open.delete(value);
	}
}
