/**
 * What the binding's create and delete calls take, checked: create options turned into the
 * engine's CreateRequests (one, or a batch's in either of createBatch's forms), the ids of a
 * deleteBatch, and the product's codes for a batch's per-instance errors.
 */
import type { CreateRequest } from "../engine/protocol.js";
import { isWorkflowError, WorkflowValidationError } from "../errors.js";
import { MAX_BATCH_SIZE, MAX_PARAMS_BYTES } from "../limits.js";
import { assertStorable, createOptionsSchema, instanceRefSchema, parse } from "../schemas.js";

/**
 * The codes of a batch's per-instance errors (`errors[].code` of createBatch and deleteBatch), as
 * the product gives them: the numbers of its Workflows API errors, which its built-in local engine
 * returns as well.
 */
export const BATCH_ERROR_CODES = {
	/** Anything else that kept the instance from being created or deleted. */
	internal: 10001,
	/** deleteBatch: no instance has that id. */
	instanceNotFound: 10400,
	/** createBatch: an instance with that id exists. */
	instanceExists: 10405,
	/** createBatch: an earlier entry of the same batch has that id (that one is created). */
	duplicateInBatch: 10415,
} as const;

/** One create of a batch: its request, and whether the caller chose its id. */
export interface BatchEntry {
	request: CreateRequest;
	idGiven: boolean;
}

/** `create()`'s options, checked (`what` names them in errors), as the engine's request. */
export function toRequest(options: unknown, what: string): CreateRequest {
	const parsed = parse(createOptionsSchema, options === undefined ? {} : options, what);
	assertStorable(parsed.params, `${what}.params`, { maxBytes: MAX_PARAMS_BYTES, sent: true });
	const retention = parsed.retention && {
		success: parsed.retention.successRetention ?? null,
		error: parsed.retention.errorRetention ?? null,
	};
	return {
		id: parsed.id ?? crypto.randomUUID(),
		createdAt: Date.now(),
		// As in the product, an instance created without params gets an empty object as its payload.
		params: parsed.params === undefined ? {} : parsed.params,
		retention,
		locationHint: parsed.locationHint,
	};
}

/** Throws unless a batch of `size` instances is 1 to 100 of them. */
function checkSize(size: number): void {
	if (size === 0) throw new WorkflowValidationError("createBatch expects at least 1 instance");
	if (size > MAX_BATCH_SIZE) {
		throw new WorkflowValidationError(
			`createBatch accepts at most ${MAX_BATCH_SIZE} instances per call, got ${size}`,
		);
	}
}

/** Each entry of a list of create options, checked (`what` names the list in errors). */
function listEntries(list: unknown[], what: string): BatchEntry[] {
	checkSize(list.length);
	// Unlike create(), whose options are optional, each entry must be an object.
	return list.map((options, i) => {
		const request = toRequest(options ?? null, `${what}[${i}]`);
		return { request, idGiven: (options as { id?: unknown }).id !== undefined };
	});
}

/**
 * The creates a `createBatch` call asks for, in its order, all checked before any is made: the
 * deprecated array form, `{ count, params?, retention?, locationHint? }` (generated ids) or
 * `{ instances }`.
 * @throws WorkflowValidationError for anything but 1 to 100 valid create options, naming the entry.
 */
export function batchEntries(input: unknown): BatchEntry[] {
	if (Array.isArray(input)) return listEntries(input, "createBatch");
	if (typeof input !== "object" || input === null) {
		throw new WorkflowValidationError(
			"createBatch expects { count }, { instances } or an array of create options",
		);
	}
	const { count, instances, ...shared } = input as Record<string, unknown>;
	if (instances !== undefined) {
		if (count !== undefined || Object.values(shared).some((value) => value !== undefined)) {
			throw new WorkflowValidationError(
				"createBatch({ instances }) takes no other option: give each instance its own params, retention and locationHint",
			);
		}
		if (!Array.isArray(instances))
			throw new WorkflowValidationError("createBatch instances must be an array of create options");
		return listEntries(instances, "createBatch.instances");
	}
	if (count === undefined) {
		throw new WorkflowValidationError(
			"createBatch expects { count }, { instances } or an array of create options",
		);
	}
	if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
		throw new WorkflowValidationError(
			`createBatch count must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${typeof count === "number" ? count : JSON.stringify(count)}`,
		);
	}
	checkSize(count);
	if ("id" in shared) {
		throw new WorkflowValidationError(
			"createBatch({ count }) gives each instance a generated id; pass { instances } to choose ids",
		);
	}
	// The options are checked (and the params measured) once, for every instance.
	const request = toRequest(shared, "createBatch options");
	return Array.from({ length: count }, () => ({
		request: { ...request, id: crypto.randomUUID() },
		idGiven: false,
	}));
}

/**
 * The ids of a `deleteBatch` call, checked before any instance is deleted.
 * @throws WorkflowValidationError for anything but an array of 1 to 100 valid instance ids.
 */
export function deleteBatchIds(ids: unknown): string[] {
	if (!Array.isArray(ids))
		throw new WorkflowValidationError("deleteBatch expects an array of instance ids");
	if (ids.length === 0) throw new WorkflowValidationError("deleteBatch expects at least 1 id");
	if (ids.length > MAX_BATCH_SIZE) {
		throw new WorkflowValidationError(
			`deleteBatch accepts at most ${MAX_BATCH_SIZE} ids per call, got ${ids.length}`,
		);
	}
	return ids.map((id, i) => parse(instanceRefSchema, id, `deleteBatch[${i}]`));
}

/** A batch's per-instance error for what a create or delete of it threw. */
export function batchError(error: unknown): { code: number; message: string } {
	if (isWorkflowError(error) && error.code === "instance_exists")
		return { code: BATCH_ERROR_CODES.instanceExists, message: error.message };
	if (isWorkflowError(error) && error.code === "instance_not_found")
		return { code: BATCH_ERROR_CODES.instanceNotFound, message: error.message };
	// Anything else keeps its name, which the code no longer tells (StorageUnavailableError...).
	const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
	return { code: BATCH_ERROR_CODES.internal, message };
}
