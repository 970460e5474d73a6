#!/usr/bin/env node
// Fails if the modules under a folder (default: src) import each other in a circle, counting
// type-only imports too: layers may depend downwards only (docs/architecture.md). Run by npm test.
//   node scripts/check-imports.mjs [folder]
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? "src");
const files = readdirSync(root, { recursive: true, withFileTypes: true })
	.filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
	.map((entry) => join(entry.parentPath, entry.name));

/** The relative modules a file imports: `from "./x.js"` (import, export, type-only) and `import("./x.js")`. */
function importsOf(file) {
	const source = readFileSync(file, "utf8");
	const specifiers = [
		...source.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g),
		...source.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g),
	].map((match) => match[1]);
	return specifiers.map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
}

const graph = new Map(
	files.map((file) => [file, importsOf(file).filter((to) => files.includes(to))]),
);

// Tarjan's strongly connected components: a component of more than one module (or a module that
// imports itself) is a circle.
const order = new Map();
const low = new Map();
const stack = [];
const circles = [];
function visit(file) {
	order.set(file, order.size);
	low.set(file, order.get(file));
	stack.push(file);
	for (const to of graph.get(file)) {
		if (!order.has(to)) {
			visit(to);
			low.set(file, Math.min(low.get(file), low.get(to)));
		} else if (stack.includes(to)) {
			low.set(file, Math.min(low.get(file), order.get(to)));
		}
	}
	if (low.get(file) !== order.get(file)) return;
	const component = stack.splice(stack.indexOf(file));
	if (component.length > 1 || graph.get(file).includes(file)) circles.push(component);
}
for (const file of files) if (!order.has(file)) visit(file);

if (circles.length > 0) {
	for (const circle of circles) {
		console.error(`import circle: ${circle.map((file) => relative(root, file)).join(" <-> ")}`);
	}
	process.exit(1);
}
console.log(
	`no import circle among ${files.length} modules of ${relative(process.cwd(), root) || "."}`,
);
