/**
 * Differential compatibility suite: every scenario of drivers.ts runs on miniflare's built-in
 * Workflows engine and on ours, in the same run, and what a caller observes is compared field by
 * field. A field may differ only if DIFFERENCES documents it (each reason is a row of
 * docs/compatibility.md), or if KNOWN_BUGS lists it (a bug of ours, to be fixed).
 */

import { describe, expect, it } from "vitest";
import compatibilityDoc from "../../docs/compatibility.md?raw";
import { DIFFERENCES, KNOWN_BUGS } from "./differences";
import { drivers } from "./drivers";
import { Driver } from "./harness";

async function observe(engine: "native" | "ours", scenario: string) {
	const drive = drivers[scenario];
	if (!drive) throw new Error(`no driver for ${scenario}`);
	return drive(new Driver(engine, scenario));
}

describe("compat: built-in engine vs do-workflows", () => {
	it.concurrent.for(Object.keys(drivers))("%s", async (scenario, { expect }) => {
		const [native, ours] = await Promise.all([
			observe("native", scenario),
			observe("ours", scenario),
		]);
		const difference = DIFFERENCES[scenario];
		const bug = KNOWN_BUGS[scenario];
		// Documented and known-bug fields are checked even if a driver stops reporting them.
		const fields = new Set([
			...Object.keys(native),
			...Object.keys(ours),
			...Object.keys(difference ?? {}),
			...(bug?.fields ?? []),
		]);
		for (const field of fields) {
			const label = `${scenario}.${field}`;
			const documented = difference?.[field];
			if (documented) {
				expect
					.soft(native[field], `${label} (native, documented: ${documented.reason})`)
					.toEqual(documented.native);
				expect
					.soft(ours[field], `${label} (ours, documented: ${documented.reason})`)
					.toEqual(documented.ours);
			} else if (bug?.fields.includes(field)) {
				expect
					.soft(ours[field], `${label}: KNOWN_BUGS entry fixed? remove it`)
					.not.toEqual(native[field]);
			} else {
				expect.soft(ours[field], `${label}: undocumented difference`).toEqual(native[field]);
			}
		}
	});

	it("documents every expected difference in docs/compatibility.md", () => {
		for (const [scenario, fields] of Object.entries(DIFFERENCES)) {
			expect(drivers[scenario], scenario).toBeDefined();
			for (const { reason } of Object.values(fields))
				expect(compatibilityDoc, `${scenario}: reason ${reason}`).toContain(`| \`${reason}\` `);
		}
		for (const scenario of Object.keys(KNOWN_BUGS)) expect(drivers[scenario]).toBeDefined();
	});

	it("has at least 40 scenarios", () => {
		expect(Object.keys(drivers).length).toBeGreaterThanOrEqual(40);
	});
});
