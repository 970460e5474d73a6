#!/usr/bin/env node
// @ts-check
/**
 * do-workflows: the command line of the admin API (docs/operations.md). It talks HTTP to a Worker
 * that mounts the API with `withWorkflows(..., { admin: adminApi() })`, locally or deployed.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const USAGE = `Usage: do-workflows <command> [arguments] [options]

Commands:
  workflows                          the workflows the Worker serves
  list                               instances, newest first
                                       [--status s[,s]] [--created-after t] [--created-before t]
                                       [--limit n] [--cursor c]
  describe <id>                      status, output or error
  history <id>                       every step: attempts, timings, outputs, errors
                                       [--limit n] [--cursor c] (a page of steps, 100 by default)
  step <id> <name>                   one step, its whole output or event
                                       [--index n] [--type do|sleep|waitForEvent]
  create [--id id] [--params json]   a new instance
  pause <id> | resume <id> | terminate <id>
  restart <id> [--from step]         from the start, or from a step (its first call)
  send-event <id> --type t [--payload json]
  schedules                          the workflow's cron schedules, next and last ticks
  pause-schedule <cron> | resume-schedule <cron>   (quote the cron: "0 * * * *")

Options:
  --url u        the Worker (default: $DO_WORKFLOWS_URL or http://127.0.0.1:8787)
  --token t      the admin token (default: $WORKFLOWS_ADMIN_TOKEN)
  --workflow b   the workflow's binding (default: the Worker's only workflow)
  --path p       where the admin API is mounted (default: /__workflows)
  --json         print the API's JSON instead of a table
  -h, --help     this help
`;

class UsageError extends Error {}

/** The header the admin API sends with every answer (src/admin/api.ts). */
const ADMIN_HEADER = "x-do-workflows-admin";

const WITH_ID = new Set([
	"describe",
	"history",
	"pause",
	"resume",
	"terminate",
	"restart",
	"send-event",
	"step",
]);
/** Commands that take a schedule's cron expression where others take an instance id. */
const WITH_CRON = new Set(["pause-schedule", "resume-schedule"]);
const COMMANDS = new Set(["workflows", "list", "create", "schedules", ...WITH_ID, ...WITH_CRON]);

/** @param {string} value @param {string} what */
function json(value, what) {
	try {
		return JSON.parse(value);
	} catch {
		throw new UsageError(`${what} must be JSON, got ${value}`);
	}
}

/**
 * @param {{ url: string, token: string | undefined, path: string }} target
 * @param {string} route
 * @param {{ method?: string, body?: unknown }} [init]
 */
async function api(target, route, init = {}) {
	if (!target.token) {
		throw new UsageError("no admin token: pass --token or set WORKFLOWS_ADMIN_TOKEN");
	}
	// The admin path goes after any path prefix of --url (a Worker served under a route).
	const url = new URL(target.url);
	const [path, query = ""] = `${target.path}/api${route}`.split("?");
	url.pathname = `${url.pathname.replace(/\/$/, "")}${path}`;
	url.search = query;
	let response;
	try {
		response = await fetch(url, {
			method: init.method ?? "GET",
			headers: {
				authorization: `Bearer ${target.token}`,
				...(init.body === undefined ? {} : { "content-type": "application/json" }),
			},
			body: init.body === undefined ? undefined : JSON.stringify(init.body),
		});
	} catch (error) {
		throw new Error(`cannot reach ${target.url}: ${/** @type {Error} */ (error).cause ?? error}`);
	}
	if (!response.headers.has(ADMIN_HEADER)) {
		// The Worker's own routes answered: it does not mount the admin API, or not at this path.
		await response.body?.cancel();
		throw new Error(
			`the Worker at ${target.url} did not answer as a do-workflows admin API (${init.method ?? "GET"} ${url.pathname}: HTTP ${response.status}, without the ${ADMIN_HEADER} header). ` +
				"Enable the admin API in the Worker with withWorkflows(bindings, handler, { admin: adminApi() }), adminApi from do-workflows/ops (docs/operations.md), " +
				"or point --url and --path at where it is mounted.",
		);
	}
	const body = response.status === 204 ? null : await response.json().catch(() => null);
	if (!response.ok) {
		const error = body?.error;
		// On one line: a message cannot fake more output.
		throw new Error(error ? visible(`${error.name}: ${error.message}`) : `HTTP ${response.status}`);
	}
	return body;
}

const NAMED = /** @type {Record<string, string>} */ ({ "\n": "\\n", "\r": "\\r", "\t": "\\t" });

/**
 * Text from the Worker (ids, step names, error names and messages, outputs) with its control
 * characters made visible, so that data cannot drive the operator's terminal (move the cursor,
 * erase the line, set the window title): C0 and DEL as `\x1b`, `\x7f` (`\n`, `\r`, `\t` by name),
 * C1 as `\u009b`. With `lines`, newlines stay (the CLI's own layout).
 * @param {unknown} text
 * @param {{ lines?: boolean }} [options]
 */
export function visible(text, { lines = false } = {}) {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
	return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => {
		if (lines && char === "\n") return char;
		const code = char.charCodeAt(0);
		const hex = code.toString(16).padStart(2, "0");
		return NAMED[char] ?? (code < 0x80 ? `\\x${hex}` : `\\u00${hex}`);
	});
}

/**
 * The API's JSON for --json: JSON.stringify escapes C0 in strings itself; DEL and C1 are escaped
 * here as JSON escapes (`\u009b`), so the text is still JSON and says the same.
 * @param {unknown} body
 */
function jsonText(body) {
	return JSON.stringify(body, null, 2).replace(
		/[\u007f-\u009f]/g,
		(char) => `\\u00${char.charCodeAt(0).toString(16)}`,
	);
}

/** @param {string[][]} rows */
function table(rows) {
	rows = rows.map((row) => row.map((cell) => visible(cell)));
	const widths =
		rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
	return rows
		.map((row) =>
			row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
		)
		.join("\n");
}

/** @param {string | null | undefined} iso */
const time = (iso) =>
	iso
		? new Date(iso)
				.toISOString()
				.replace("T", " ")
				.replace(/\.\d+Z$/, "Z")
		: "-";

/** @param {number} ms */
function duration(ms) {
	if (ms < 1000) return `${ms} ms`;
	if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
	return `${Math.round(ms / 60_000)} min`;
}

/** @param {any} status */
function describe(status) {
	const lines = [`${status.id}  ${status.status}`];
	if (status.error) lines.push(`error: ${status.error.name}: ${status.error.message}`);
	if (status.output !== undefined) lines.push(`output: ${JSON.stringify(status.output)}`);
	return lines.map((line) => visible(line)).join("\n");
}

/** @param {number} bytes */
function size(bytes) {
	if (bytes < 1024) return `${bytes} B`;
	if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
	return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * A shell word: as it is if it needs no quoting, else in single quotes.
 * @param {string} word
 */
const shellWord = (word) =>
	/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;

/**
 * What the history says in place of a value it left out for its size: the command that reads it.
 * @param {string} id @param {any} step @param {{ bytes: number }} omitted
 */
function omittedValue(id, step, omitted) {
	const index = step.index > 1 ? ` --index ${step.index}` : "";
	const type = step.type === "do" ? "" : ` --type ${step.type}`;
	return `(${size(omitted.bytes)}, not shown: do-workflows step ${shellWord(id)} ${shellWord(step.name)}${index}${type})`;
}

/** @param {any} step @param {string} id */
function stepRows(step, id) {
	const took =
		step.startedAt && step.endedAt
			? duration(new Date(step.endedAt).getTime() - new Date(step.startedAt).getTime())
			: "-";
	const attempts =
		step.type === "do"
			? `${step.attempts.length}${step.interruptedAttempts ? ` (+${step.interruptedAttempts} cut off)` : ""}`
			: "-";
	const result = step.error
		? `${step.error.name}: ${step.error.message}`
		: step.outputOmitted
			? omittedValue(id, step, step.outputOmitted)
			: step.eventOmitted
				? omittedValue(id, step, step.eventOmitted)
				: step.type === "do" && step.state === "complete"
					? JSON.stringify(step.output)
					: step.type === "sleep" && step.wakeAt
						? `until ${time(step.wakeAt)}`
						: step.type === "waitForEvent"
							? step.event
								? JSON.stringify(step.event.payload)
								: `type ${step.eventType}`
							: step.nextAttemptAt
								? `retry at ${time(step.nextAttemptAt)}`
								: "";
	const rows = [
		[
			`${step.name}${step.index > 1 ? ` #${step.index}` : ""}`,
			step.type,
			step.state,
			attempts,
			time(step.startedAt),
			took,
			result,
		],
	];
	if (step.type === "do") {
		for (const attempt of step.attempts.filter((/** @type {any} */ a) => a.outcome === "error")) {
			rows.push([
				`  attempt ${attempt.attempt}`,
				"",
				"error",
				"",
				time(attempt.startedAt),
				"",
				`${attempt.error.name}: ${attempt.error.message}`,
			]);
		}
	}
	return rows;
}

const STEP_HEADER = ["step", "type", "state", "attempts", "started", "took", "result"];

/** @param {any} history */
function formatHistory(history) {
	const rows = [STEP_HEADER];
	for (const step of history.steps) rows.push(...stepRows(step, history.id));
	const more = history.cursor ? `\n\nmore steps: --cursor ${visible(history.cursor)}` : "";
	return `${describe(history)}\n\n${table(rows)}${more}`;
}

/**
 * One step: its row of the history, then its whole output (or event), pretty-printed.
 * @param {any} step @param {string} id
 */
function formatStep(step, id) {
	const lines = [table([STEP_HEADER, ...stepRows(step, id)])];
	if (step.type === "do" && step.state === "complete")
		lines.push(`output: ${visible(JSON.stringify(step.output, null, 2), { lines: true })}`);
	if (step.type === "waitForEvent" && step.event)
		lines.push(`event: ${visible(JSON.stringify(step.event, null, 2), { lines: true })}`);
	return lines.join("\n\n");
}

/** @param {string[]} argv */
export async function main(argv) {
	let parsed;
	try {
		parsed = parseArgs({
			args: argv,
			allowPositionals: true,
			options: {
				url: { type: "string" },
				token: { type: "string" },
				workflow: { type: "string" },
				path: { type: "string" },
				json: { type: "boolean" },
				help: { type: "boolean", short: "h" },
				status: { type: "string" },
				"created-after": { type: "string" },
				"created-before": { type: "string" },
				limit: { type: "string" },
				cursor: { type: "string" },
				id: { type: "string" },
				params: { type: "string" },
				from: { type: "string" },
				type: { type: "string" },
				payload: { type: "string" },
				index: { type: "string" },
			},
		});
	} catch (error) {
		throw new UsageError(/** @type {Error} */ (error).message);
	}
	const { values, positionals } = parsed;
	const [command, id, ...rest] = positionals;
	// `step` takes the step's name after the id.
	const [stepName, ...extra] = command === "step" ? rest : [undefined, ...rest];
	if (values.help || command === undefined)
		return { out: USAGE, code: command === undefined && !values.help ? 2 : 0 };
	if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
	// Usage is checked before any request: a typo fails the same with the Worker up or down.
	if (!COMMANDS.has(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
	if (WITH_ID.has(command) && id === undefined)
		throw new UsageError(`${command} needs an instance id`);
	if (WITH_CRON.has(command) && id === undefined)
		throw new UsageError(`${command} needs a cron expression (quoted: "0 * * * *")`);
	if (!WITH_ID.has(command) && !WITH_CRON.has(command) && id !== undefined) {
		throw new UsageError(
			`${command} takes no instance id${command === "create" ? " (use --id)" : ""}`,
		);
	}
	if (command === "send-event" && !values.type) throw new UsageError("send-event needs --type");
	if (command === "step" && stepName === undefined)
		throw new UsageError("step needs an instance id and a step name");
	if (command === "step" && values.index !== undefined && !/^[1-9]\d*$/.test(values.index))
		throw new UsageError(`--index must be a positive integer, got ${values.index}`);
	const target = {
		url: values.url ?? process.env.DO_WORKFLOWS_URL ?? "http://127.0.0.1:8787",
		token: values.token ?? process.env.WORKFLOWS_ADMIN_TOKEN,
		path: values.path ?? "/__workflows",
	};
	const print = (/** @type {unknown} */ body, /** @type {() => string} */ human) =>
		values.json ? jsonText(body) : human();

	// Every command asks this first: a Worker that does not answer it as the admin API gets no
	// other request (a POST meant for the API would reach the Worker's own routes).
	const served = await api(target, "/workflows");
	if (command === "workflows") {
		return {
			out: print(served, () =>
				table([
					["binding", "name"],
					...served.workflows.map((/** @type {any} */ w) => [w.binding, w.name]),
				]),
			),
		};
	}
	let binding = values.workflow;
	if (binding === undefined) {
		const { workflows } = served;
		if (workflows.length !== 1) {
			throw new UsageError(
				`the Worker serves ${workflows.length} workflows; pick one with --workflow (${workflows.map((/** @type {any} */ w) => w.binding).join(", ")})`,
			);
		}
		binding = workflows[0].binding;
	}
	const base = `/workflows/${encodeURIComponent(/** @type {string} */ (binding))}/instances`;
	const needId = () => {
		if (id === undefined) throw new UsageError(`${command} needs an instance id`);
		return `${base}/${encodeURIComponent(id)}`;
	};

	const schedules = `/workflows/${encodeURIComponent(/** @type {string} */ (binding))}/schedules`;
	switch (command) {
		case "schedules": {
			const body = await api(target, schedules);
			return {
				out: print(body, () => {
					const rows = [["cron", "state", "next run", "last run", "last instance"]];
					for (const s of body.schedules)
						rows.push([
							s.cron,
							s.paused ? "paused" : "running",
							s.nextRunAt ? time(s.nextRunAt) : "",
							s.lastRunAt ? time(s.lastRunAt) : "",
							s.lastInstanceId ?? "",
						]);
					return body.schedules.length === 0 ? "no schedules" : table(rows);
				}),
			};
		}
		case "pause-schedule":
		case "resume-schedule": {
			const action = command === "pause-schedule" ? "pause" : "resume";
			const body = await api(target, `${schedules}/${action}`, {
				method: "POST",
				body: { cron: id },
			});
			return {
				out: print(body, () => `${body.cron}: ${body.paused ? "paused" : "running"}`),
			};
		}
		case "list": {
			const query = new URLSearchParams();
			if (values.status) query.set("status", values.status);
			if (values["created-after"]) query.set("createdAfter", values["created-after"]);
			if (values["created-before"]) query.set("createdBefore", values["created-before"]);
			if (values.limit) query.set("limit", values.limit);
			if (values.cursor) query.set("cursor", values.cursor);
			const page = await api(target, `${base}?${query}`);
			return {
				out: print(page, () => {
					const rows = [["id", "status", "created", "updated", "error"]];
					for (const i of page.instances)
						rows.push([
							i.id,
							// A queued instance's place in its workflow's queue (docs/limits.md).
							i.queuePosition ? `${i.status} #${i.queuePosition}` : i.status,
							time(i.createdAt),
							time(i.updatedAt),
							i.error ? `${i.error.name}: ${i.error.message}` : "",
						]);
					const more = page.cursor ? `\n\nmore: --cursor ${visible(page.cursor)}` : "";
					return page.instances.length === 0 ? "no instances" : table(rows) + more;
				}),
			};
		}
		case "describe": {
			const body = await api(target, needId());
			return { out: print(body, () => describe(body)) };
		}
		case "history": {
			const query = new URLSearchParams();
			if (values.limit) query.set("limit", values.limit);
			if (values.cursor) query.set("cursor", values.cursor);
			const body = await api(target, `${needId()}/history${query.size ? `?${query}` : ""}`);
			return { out: print(body, () => formatHistory(body)) };
		}
		case "step": {
			const type = values.type ?? "do";
			const route = `${needId()}/steps/${encodeURIComponent(type)}/${encodeURIComponent(/** @type {string} */ (stepName))}/${values.index ?? "1"}`;
			const body = await api(target, route);
			return { out: print(body, () => formatStep(body, /** @type {string} */ (id))) };
		}
		case "create": {
			if (id !== undefined) throw new UsageError("create takes --id, not a positional id");
			const body = await api(target, base, {
				method: "POST",
				body: {
					id: values.id,
					params: values.params === undefined ? undefined : json(values.params, "--params"),
				},
			});
			return { out: print(body, () => describe(body)) };
		}
		case "pause":
		case "resume":
		case "terminate":
		case "restart":
		case "send-event": {
			const path = needId();
			let route = `${path}/${command}`;
			/** @type {unknown} */
			let body = {};
			if (command === "restart" && values.from) body = { from: { name: values.from } };
			if (command === "send-event") {
				if (!values.type) throw new UsageError("send-event needs --type");
				route = `${path}/events`;
				body = {
					type: values.type,
					payload: values.payload === undefined ? undefined : json(values.payload, "--payload"),
				};
			}
			const result = await api(target, route, { method: "POST", body });
			return { out: print(result, () => describe(result)) };
		}
		default:
			throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
	}
}

// Run when executed (directly or through npm's bin link), not when imported.
const invoked =
	process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked) {
	main(process.argv.slice(2)).then(
		// Everything printed is made visible once more: what the formatting above missed stays text.
		({ out, code = 0 }) => {
			process.stdout.write(`${visible(out.trimEnd(), { lines: true })}\n`);
			process.exitCode = code;
		},
		(error) => {
			process.stderr.write(`do-workflows: ${visible(error.message, { lines: true })}\n`);
			process.exitCode = error instanceof UsageError ? 2 : 1;
		},
	);
}
