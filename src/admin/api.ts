/**
 * The admin HTTP API and dashboard, mounted by `withWorkflows(bindings, handler, { admin })`.
 * Off unless enabled. Every API route requires `Authorization: Bearer <token>`, the token being
 * an environment secret (`WORKFLOWS_ADMIN_TOKEN` by default); without it the answer is 401 and
 * nothing else. The dashboard page is a static shell that asks for the token and calls the API.
 *
 * Routes, under `<path>/api` (default `/__workflows/api`):
 *   GET    /workflows                                         the workflows and their bindings
 *   GET    /workflows/:binding/instances?status&createdAfter&createdBefore&limit&cursor
 *   POST   /workflows/:binding/instances                      { id?, params? }
 *   GET    /workflows/:binding/instances/:id                  status, output, error
 *   GET    /workflows/:binding/instances/:id/history?limit&cursor&maxValueBytes   a page of the step history
 *   GET    /workflows/:binding/instances/:id/steps/:type/:name/:index   one step, its output included
 *   POST   /workflows/:binding/instances/:id/pause | resume | terminate
 *   POST   /workflows/:binding/instances/:id/restart          { from? }
 *   POST   /workflows/:binding/instances/:id/events           { type, payload? }
 *   DELETE /workflows/:binding/instances/:id
 *   GET    /workflows/:binding/schedules                      its cron schedules, next and last ticks
 *   POST   /workflows/:binding/schedules/pause | resume       { cron }
 */
import * as z from "zod/mini";
import { type RegisteredWorkflow, workflowLabel } from "../binding/env.js";
import { isWorkflowError, WorkflowValidationError } from "../errors.js";
import {
	getInstanceHistory,
	getStepHistory,
	listInstances,
	listSchedules,
	pauseSchedule,
	resumeSchedule,
} from "../operations.js";
import {
	instanceIdSchema,
	instanceRefSchema,
	instanceStatusSchema,
	parse,
	restartOptionsSchema,
} from "../schemas.js";
import { dashboardHtml, dashboardPolicy } from "./dashboard.js";
import { toDisplay } from "./display.js";

/** Options of {@link adminApi}. */
export interface AdminOptions {
	/** Where the dashboard is served; the API is under `<path>/api`. Default: `/__workflows`. */
	path?: string;
	/** The env secret that holds the bearer token. Default: `WORKFLOWS_ADMIN_TOKEN`. */
	tokenSecret?: string;
}

const adminOptionsSchema = z.strictObject({
	path: z.optional(
		z
			.string()
			.check(
				z.regex(
					/^\/[A-Za-z0-9_\-./]*[A-Za-z0-9_-]$/,
					"admin path must start with / and not end with /",
				),
			),
	),
	tokenSecret: z.optional(z.string().check(z.minLength(1))),
});

/** What the admin API needs of a Worker: its workflow bindings, and each one's `Workflow`. */
export type AdminMount = (
	bindings: Record<string, RegisteredWorkflow>,
	workflowOf: (env: unknown, binding: string) => Workflow,
) => (request: Request, env: unknown) => Promise<Response | undefined>;

/** The admin API and dashboard, made by {@link adminApi}, for `withWorkflows`' `admin` option. */
export interface AdminApi {
	readonly mount: AdminMount;
}

/**
 * The admin HTTP API and dashboard, for `withWorkflows(bindings, handler, { admin: adminApi() })`:
 * served under `options.path` (default `/__workflows`), behind a bearer token from the env secret
 * `options.tokenSecret` (default `WORKFLOWS_ADMIN_TOKEN`). See docs/operations.md.
 * @throws WorkflowValidationError for a malformed path or an unknown option.
 */
export function adminApi(options: AdminOptions = {}): AdminApi {
	const parsed = parse(adminOptionsSchema, options, "adminApi options");
	return { mount: (bindings, workflowOf) => adminHandler(bindings, parsed, workflowOf) };
}

const HTTP_STATUS: Record<string, number> = {
	invalid_input: 400,
	instance_not_found: 404,
	instance_exists: 409,
	invalid_state: 409,
};

// `params` and `payload` may be left out, as docs/operations.md says (zod 4 requires the key of a
// bare z.unknown()).
const createBody = z.strictObject({
	id: z.optional(instanceIdSchema),
	params: z.optional(z.unknown()),
});
const eventBody = z.strictObject({ type: z.string(), payload: z.optional(z.unknown()) });
const scheduleBody = z.strictObject({ cron: z.string() });
const listQuery = z.strictObject({
	status: z.optional(
		z.pipe(
			z.pipe(
				z.string(),
				z.transform((value) => value.split(",").filter(Boolean)),
			),
			z.array(instanceStatusSchema),
		),
	),
	createdAfter: z.optional(z.string()),
	createdBefore: z.optional(z.string()),
	limit: z.optional(z.coerce.number().check(z.int())),
	cursor: z.optional(z.string()),
});

const historyQuery = z.strictObject({
	limit: z.optional(z.coerce.number().check(z.int())),
	cursor: z.optional(z.string()),
	maxValueBytes: z.optional(z.coerce.number().check(z.int())),
});

/** A timestamp query parameter: ms since the epoch, or an ISO string. */
const instant = (value: string | undefined) =>
	value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : value;

/**
 * Sent with every answer of the admin API and dashboard (`1`, the API's version), so that a client
 * such as the CLI tells them from a Worker's own routes.
 */
export const ADMIN_HEADER = "x-do-workflows-admin";

function json(body: unknown, status = 200): Response {
	// Values JSON cannot say (a BigInt, a cycle, a Map...) are shown tagged (display.ts).
	return Response.json(toDisplay(body), {
		status,
		headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" },
	});
}

function failure(status: number, name: string, message: string): Response {
	return json({ error: { name, message } }, status);
}

async function timingSafeEqual(a: string, b: string): Promise<boolean> {
	// Hashing first makes both sides the same length, so the comparison leaks nothing about either.
	const encoder = new TextEncoder();
	const [x, y] = await Promise.all([
		crypto.subtle.digest("SHA-256", encoder.encode(a)),
		crypto.subtle.digest("SHA-256", encoder.encode(b)),
	]);
	return crypto.subtle.timingSafeEqual(x, y);
}

async function authorized(request: Request, secret: unknown): Promise<boolean> {
	if (typeof secret !== "string" || secret.length === 0) return false;
	const header = request.headers.get("authorization") ?? "";
	// The scheme's name is case-insensitive (RFC 7235 section 2.1): bearer and BEARER are Bearer.
	const match = /^Bearer +(.+)$/i.exec(header);
	return match?.[1] !== undefined && (await timingSafeEqual(match[1], secret));
}

async function body<S extends z.ZodMiniType>(request: Request, schema: S, what: string) {
	const text = await request.text();
	let value: unknown = {};
	if (text.trim() !== "") {
		try {
			value = JSON.parse(text);
		} catch {
			throw new WorkflowValidationError(`${what} must be JSON`);
		}
	}
	return parse(schema, value, what);
}

/**
 * Makes the admin handler: it answers requests under `options.path` and returns undefined for
 * every other request, which then goes to the Worker's own `fetch`.
 */
export function adminHandler(
	bindings: Record<string, RegisteredWorkflow>,
	options: AdminOptions,
	workflowOf: (env: unknown, binding: string) => Workflow,
) {
	const base = options.path ?? "/__workflows";
	const tokenSecret = options.tokenSecret ?? "WORKFLOWS_ADMIN_TOKEN";
	const page = dashboardHtml(base);

	const answer = async (request: Request, env: unknown): Promise<Response | undefined> => {
		const url = new URL(request.url);
		if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return undefined;
		const rest = url.pathname.slice(base.length);
		if ((rest === "" || rest === "/") && request.method === "GET") {
			// The page holds no data: it asks for the token and calls the API with it.
			return new Response(page, {
				headers: {
					"content-type": "text/html; charset=utf-8",
					"cache-control": "no-store",
					"content-security-policy": await dashboardPolicy(),
					"x-content-type-options": "nosniff",
					"referrer-policy": "no-referrer",
				},
			});
		}
		const secret = (env as Record<string, unknown> | null)?.[tokenSecret];
		if (!(await authorized(request, secret))) {
			return failure(401, "Unauthorized", "a valid bearer token is required");
		}
		try {
			return await route(request, url, rest, env);
		} catch (error) {
			if (isWorkflowError(error)) {
				return failure(HTTP_STATUS[error.code] ?? 400, error.name, error.message);
			}
			// A fault: logged, and answered by the API itself (a bare 500 would look like another Worker's).
			console.error("do-workflows admin API:", error);
			return error instanceof Error
				? failure(500, error.name, error.message)
				: failure(500, "Error", String(error));
		}
	};

	return async (request: Request, env: unknown): Promise<Response | undefined> => {
		const response = await answer(request, env);
		response?.headers.set(ADMIN_HEADER, "1");
		return response;
	};

	/** The schedule routes: the list (GET), and pause or resume of one (POST, with its cron). */
	async function scheduleRoute(
		request: Request,
		workflow: Workflow,
		action: string | undefined,
		extra: string | undefined,
	): Promise<Response> {
		if (extra !== undefined) return failure(404, "NotFound", "no such route");
		if (action === undefined) {
			if (request.method !== "GET")
				return failure(405, "MethodNotAllowed", `${request.method} is not allowed here`);
			return json({ schedules: await listSchedules(workflow) });
		}
		if (action !== "pause" && action !== "resume") return failure(404, "NotFound", "no such route");
		if (request.method !== "POST")
			return failure(405, "MethodNotAllowed", `${request.method} is not allowed here`);
		const { cron } = await body(request, scheduleBody, "schedule body");
		const schedule =
			action === "pause"
				? await pauseSchedule(workflow, cron)
				: await resumeSchedule(workflow, cron);
		return json(schedule);
	}

	async function route(request: Request, url: URL, rest: string, env: unknown): Promise<Response> {
		let parts: string[];
		try {
			parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
		} catch {
			throw new WorkflowValidationError("the path has a malformed percent-escape");
		}
		const method = request.method;
		if (parts[0] !== "api") return failure(404, "NotFound", "no such route");
		if (parts.length === 2 && parts[1] === "workflows" && method === "GET") {
			return json({
				workflows: Object.entries(bindings).map(([binding, bound]) => ({
					binding,
					name: workflowLabel(bound, binding),
				})),
			});
		}
		const [, workflows, binding, instances, id, action, ...extra] = parts;
		const schedules = instances === "schedules";
		if (
			workflows !== "workflows" ||
			binding === undefined ||
			!(instances === "instances" || schedules)
		) {
			return failure(404, "NotFound", "no such route");
		}
		if (!Object.hasOwn(bindings, binding)) {
			return failure(404, "NotFound", `no workflow is bound as "${binding}"`);
		}
		const workflow = workflowOf(env, binding);
		if (schedules) return scheduleRoute(request, workflow, id, action);
		if (id !== undefined && action === "steps" && extra.length === 3 && method === "GET") {
			// One step, its output included: what a page of history leaves out for its size.
			const [type, name, index] = extra as [string, string, string];
			parse(instanceRefSchema, id, "instance id");
			if (!/^[1-9]\d*$/.test(index)) {
				throw new WorkflowValidationError("the step's index must be a positive integer");
			}
			const step = await getStepHistory(workflow, id, {
				type: type as "do",
				name,
				index: Number(index),
			});
			if (!step) {
				return failure(404, "NotFound", `instance "${id}" has no step ${type} "${name}" #${index}`);
			}
			return json(step);
		}
		if (extra.length > 0) return failure(404, "NotFound", "no such route");

		if (id === undefined) {
			if (method === "GET") {
				const query = parse(listQuery, Object.fromEntries(url.searchParams), "query");
				const page = await listInstances(workflow, {
					status: query.status,
					createdAfter: instant(query.createdAfter),
					createdBefore: instant(query.createdBefore),
					limit: query.limit,
					cursor: query.cursor,
				});
				return json(page);
			}
			if (method === "POST") {
				const { id: requested, params } = await body(request, createBody, "create body");
				const instance = await workflow.create({ id: requested, params });
				return json({ id: instance.id, ...(await instance.status()) }, 201);
			}
			return failure(405, "MethodNotAllowed", `${method} is not allowed here`);
		}

		parse(instanceRefSchema, id, "instance id");
		if (action === undefined) {
			if (method === "GET") {
				const instance = await workflow.get(id);
				return json({ id, ...(await instance.status()) });
			}
			if (method === "DELETE") {
				const instance = (await workflow.get(id)) as WorkflowInstance & {
					delete(): Promise<void>;
				};
				await instance.delete();
				return new Response(null, { status: 204 });
			}
			return failure(405, "MethodNotAllowed", `${method} is not allowed here`);
		}
		if (action === "history" && method === "GET") {
			const query = parse(historyQuery, Object.fromEntries(url.searchParams), "query");
			return json(await getInstanceHistory(workflow, id, query));
		}
		if (method !== "POST") return failure(405, "MethodNotAllowed", `${method} is not allowed here`);
		// The body is checked before the instance is looked up: bad input is refused as such.
		let run: (instance: WorkflowInstance) => Promise<void>;
		switch (action) {
			case "pause":
			case "resume":
			case "terminate":
				run = (instance) => instance[action]();
				break;
			case "restart": {
				const options = await body(request, restartOptionsSchema, "restart body");
				run = (instance) => instance.restart(options);
				break;
			}
			case "events": {
				const event = await body(request, eventBody, "event body");
				run = (instance) => instance.sendEvent({ type: event.type, payload: event.payload });
				break;
			}
			default:
				return failure(404, "NotFound", "no such route");
		}
		const instance = await workflow.get(id);
		await run(instance);
		return json({ id, ...(await instance.status()) });
	}
}
