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
 * The value as JSON text, if parsing that text gives a value structured clone could not tell
 * apart from what cloning `value` gives; null otherwise (the value goes to the KV store).
 */
export function toJsonText(value: unknown): string | null {
	if (value === undefined) return UNDEFINED;
	return isPlainData(value) ? JSON.stringify(value) : null;
}

export function fromJsonText(text: string): unknown {
	return text === UNDEFINED ? undefined : JSON.parse(text);
}

/**
 * Strings, finite numbers other than -0, booleans, null, and arrays (without holes or extra
 * properties) and plain objects of those, without `undefined` inside (JSON drops or changes it) and
 * without an object met twice (JSON would copy it; structured clone keeps one).
 */
function isPlainData(root: unknown): boolean {
	const seen = new Set<object>();
	const stack: unknown[] = [root];
	while (stack.length > 0) {
		const value = stack.pop();
		switch (typeof value) {
			case "string":
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
