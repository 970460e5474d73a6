/**
 * How the journal keeps a value (params, step outputs, the run's output): as JSON text in the SQL
 * row it belongs to when JSON gives back exactly what structured clone would, and otherwise in the
 * object's KV store, which keeps the structured-clone format (Dates, Maps, typed arrays, shared
 * references, cycles...). Most values are plain data, so most instances never touch the KV store:
 * its first use creates a table, which a new object pays for on its creation path.
 */

/** What `undefined` is stored as: JSON has no text for it, and no JSON text is empty. */
const UNDEFINED = "";

/**
 * The longest JSON text kept in a row (UTF-16 code units, so at most 48 KiB of UTF-8). Larger
 * values go to the KV store, one row each: a row holds its values whole, is rewritten whole by
 * every update of the row, and SQLite on Cloudflare caps a row at 2 MB, which a 1 MiB value
 * escaped as JSON (or params and output together) could pass.
 */
export const MAX_JSON_TEXT = 16 * 1024;

/**
 * The value as JSON text, if parsing that text gives a value structured clone could not tell
 * apart from what cloning `value` gives, and it is short (MAX_JSON_TEXT); null otherwise (the
 * value goes to the KV store). A Proxy passes for the object it wraps (structured clone would
 * refuse it), and getters run once more than cloning alone would run them.
 */
export function toJsonText(value: unknown): string | null {
	if (value === undefined) return UNDEFINED;
	if (!isPlainData(value, MAX_JSON_TEXT)) return null;
	const text = JSON.stringify(value);
	return text.length <= MAX_JSON_TEXT ? text : null;
}

/**
 * The value as JSON text if it is plain data (as toJsonText), however long; null otherwise. For a
 * structured step output over 1 MiB, stored in chunks (an engine's `maxStepOutputBytes`).
 */
export function toLargeJsonText(value: unknown): string | null {
	return isPlainData(value, Number.POSITIVE_INFINITY) ? JSON.stringify(value) : null;
}

export function fromJsonText(text: string): unknown {
	return text === UNDEFINED ? undefined : JSON.parse(text);
}

/**
 * Strings, finite numbers other than -0, booleans, null, and arrays (without holes or extra
 * properties) and plain objects of those, without `undefined` inside (JSON drops or changes it) and
 * without an object met twice (JSON would copy it; structured clone keeps one). False as soon as
 * the value is clearly longer than `maxLength`.
 */
function isPlainData(root: unknown, maxLength: number): boolean {
	// A primitive (most step outputs) needs no walk: the same answers as the loop below.
	switch (typeof root) {
		case "string":
		case "boolean":
			return true;
		case "number":
			return Number.isFinite(root) && !Object.is(root, -0);
		case "object":
			if (root === null) return true;
			break;
		default:
			return false;
	}
	const seen = new Set<object>();
	const stack: unknown[] = [root];
	// A lower bound of the JSON text's length, to give up early on a large value.
	let length = 0;
	while (stack.length > 0) {
		const value = stack.pop();
		if (++length > maxLength) return false;
		switch (typeof value) {
			case "string":
				length += value.length;
				continue;
			case "boolean":
				continue;
			case "number":
				if (!Number.isFinite(value) || Object.is(value, -0)) return false;
				continue;
			case "object":
				break;
			default:
				return false;
		}
		if (value === null) continue;
		if (seen.has(value)) return false;
		seen.add(value);
		if (Array.isArray(value)) {
			if (Object.keys(value).length !== value.length) return false; // extra keys
			for (let i = 0; i < value.length; i++) {
				if (!(i in value)) return false; // a hole
				stack.push(value[i]);
			}
			continue;
		}
		const prototype = Object.getPrototypeOf(value);
		if (prototype !== Object.prototype && prototype !== null) return false;
		for (const element of Object.values(value)) stack.push(element);
	}
	return true;
}
