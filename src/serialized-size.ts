/**
 * The size of a value in the structured-clone (V8 serialiser) format that Durable Object storage
 * and RPC use. workerd does not expose the serialiser's output, so this walks the value and adds
 * up what the format spends on each part: one byte per Latin-1 character and two per other
 * character of a string, 8 bytes per number, the bytes of every buffer, a few bytes of tags and
 * lengths per value. It is within a few bytes per value of the real encoding, which is what a
 * 1 MiB limit needs; it never runs user code (getters aside) and it terminates on cycles.
 */
export function serializedSize(value: unknown): number {
	return measureValue(value).bytes;
}

/**
 * The structured-clone size of `value` (see {@link serializedSize}) and how deeply its objects
 * nest: 0 for a primitive, 1 for an object of primitives, one more per level.
 */
export function measureValue(value: unknown): { bytes: number; depth: number } {
	// A primitive (most step outputs) needs no walk: header, tag and its own bytes, as below.
	if (typeof value !== "object" || value === null) {
		if (typeof value === "string")
			return { bytes: 9 + (NON_LATIN1.test(value) ? value.length * 2 : value.length), depth: 0 };
		return { bytes: typeof value === "number" || typeof value === "bigint" ? 12 : 4, depth: 0 };
	}
	const seen = new Set<object>();
	const stack: unknown[] = [value];
	// The depth of each item on the stack, beside it.
	const depths: number[] = [1];
	let bytes = 3; // version header
	let depth = 0;
	while (stack.length > 0) {
		const item = stack.pop();
		const level = depths.pop() as number;
		bytes += 1; // tag
		switch (typeof item) {
			case "string":
				bytes += 5 + (NON_LATIN1.test(item) ? item.length * 2 : item.length);
				continue;
			case "number":
			case "bigint":
				bytes += 8;
				continue;
			case "object":
				break;
			default:
				continue; // booleans, undefined: the tag alone
		}
		if (item === null) continue;
		if (seen.has(item)) {
			bytes += 5; // back-reference
			continue;
		}
		seen.add(item);
		if (level > depth) depth = level;
		const before = stack.length;
		if (Array.isArray(item)) {
			for (const element of item) stack.push(element);
		} else if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) {
			bytes += 10 + item.byteLength;
		} else if (item instanceof Date) {
			bytes += 8;
		} else if (item instanceof Map) {
			for (const [k, v] of item) stack.push(k, v);
		} else if (item instanceof Set) {
			for (const v of item) stack.push(v);
		} else if (item instanceof RegExp) {
			stack.push(item.source, item.flags);
		} else if (item instanceof Error) {
			stack.push(item.name, item.message, item.stack ?? "");
		} else {
			for (const key of Object.keys(item)) stack.push(key, (item as Record<string, unknown>)[key]);
		}
		bytes += 5; // length or property count
		for (let i = before; i < stack.length; i++) depths.push(level + 1);
	}
	return { bytes, depth };
}

// Any character above U+00FF makes V8 store the string as two bytes per character.
const NON_LATIN1 = /[\u0100-\uffff]/;
