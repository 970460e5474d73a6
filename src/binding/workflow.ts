import type { CreateRequest, EngineNamespace } from "../engine/protocol.js";
import { InstanceNotFoundError } from "../errors.js";
import { ListingClient } from "../listing/client.js";
import type { ListingEntry } from "../listing/shard.js";
import { instanceRefSchema, parse } from "../schemas.js";
import { engineClient } from "./client.js";
import { InstanceHandle, type OwnRun } from "./instance.js";
import { ENGINE_NAMESPACE } from "./namespace.js";
import {
	BATCH_ERROR_CODES,
	type BatchEntry,
	batchEntries,
	batchError,
	deleteBatchIds,
	toRequest,
} from "./requests.js";

/**
 * The product's `Workflow` binding (create / createBatch / get / deleteBatch) over the namespace of a workflow's
 * engine objects. `withWorkflows` builds these for you; call this directly from code that runs
 * outside a wrapped handler.
 *
 * @example
 * ```ts
 * const orders = workflowBinding<OrderParams>(env.ORDER_WORKFLOW);
 * const instance = await orders.create({ params: { orderId: "42" } });
 * ```
 */
export function workflowBinding<Params = unknown>(
	namespace: EngineNamespace,
	own?: OwnRun,
): Workflow<Params> {
	return new WorkflowBinding<Params>(namespace, own);
}

class WorkflowBinding<Params> implements Workflow<Params> {
	readonly #namespace: EngineNamespace;
	/** Set in the env of a run of this workflow: handles on the run's own instance stop it. */
	readonly #own: OwnRun | undefined;

	constructor(namespace: EngineNamespace, own?: OwnRun) {
		this.#namespace = namespace;
		this.#own = own;
	}

	get [ENGINE_NAMESPACE](): EngineNamespace {
		return this.#namespace;
	}

	/**
	 * A handle on an existing instance.
	 * @throws WorkflowValidationError if `id` is not a valid instance id.
	 * @throws InstanceNotFoundError if no instance has that id.
	 */
	async get(id: string): Promise<WorkflowInstance> {
		parse(instanceRefSchema, id, "instance id");
		if (!(await engineClient(this.#namespace, id).exists()))
			throw new InstanceNotFoundError(`instance "${id}" not found`);
		return new InstanceHandle(id, this.#namespace, this.#own);
	}

	/**
	 * Creates an instance and starts it. `id` defaults to a random UUID.
	 * @throws WorkflowValidationError if the id, params or retention break a limit.
	 * @throws InstanceExistsError if an instance with that id exists.
	 */
	async create(options?: WorkflowInstanceCreateOptions<Params>): Promise<WorkflowInstance> {
		const request = toRequest(options, "create options");
		const [listed, created] = await Promise.allSettled([
			this.#list([request]),
			this.#create(request),
		]);
		if (created.status === "rejected") throw created.reason;
		// The instance exists: a listing row that did not make it is sent once more, and after
		// that left to the instance's own updates (the call does not fail for the listing).
		if (listed.status === "rejected") await this.#list([request]).catch(() => {});
		return new InstanceHandle(request.id, this.#namespace, this.#own);
	}

	/**
	 * The listing's intents for the instances being created, one request per shard, sent with the
	 * creates ("The listing protocol", docs/architecture.md).
	 */
	#list(requests: CreateRequest[]): Promise<void> {
		return new ListingClient(this.#namespace).intend(
			requests.map(({ id, createdAt = Date.now() }) => ({ id, createdAt })),
		);
	}

	/** Creates the instance; answers its listing entry if the request asked (see CreateRequest.callerLists). */
	async #create(request: CreateRequest): Promise<ListingEntry | null> {
		return engineClient(this.#namespace, request.id).create(request);
	}

	/**
	 * Creates up to 100 instances: `{ count, params?, retention?, locationHint? }` (each with a
	 * generated id) or `{ instances }` (each with its own options). Every option is checked before
	 * any instance is created; then each instance is created or reported in `errors`, by its index
	 * in the batch: an id that exists (code 10405) or that an earlier entry of the batch has
	 * (10415; the earlier one is created), or any other failure of its create (10001).
	 * @throws WorkflowValidationError if the options are not 1 to 100 valid create options.
	 */
	createBatch(options: WorkflowBatchCreateOptions<Params>): Promise<WorkflowBatchCreateResult>;
	/**
	 * The deprecated array form: the instances it created, in batch order. As in the product, an
	 * instance that could not be created for its id (it exists, or repeats an earlier entry's) is
	 * left out without an error.
	 * @throws WorkflowValidationError if the batch is not an array of 1 to 100 valid create options.
	 * @throws the first other failure of a create, in batch order, once every create was tried.
	 */
	createBatch(batch: WorkflowInstanceCreateOptions<Params>[]): Promise<WorkflowInstance[]>;
	async createBatch(
		input: WorkflowBatchCreateOptions<Params> | WorkflowInstanceCreateOptions<Params>[],
	): Promise<WorkflowInstance[] | WorkflowBatchCreateResult> {
		const { created, errors, failures } = await this.#createAll(batchEntries(input));
		if (!Array.isArray(input)) return { created, errors };
		// The array form has no errors to report a failure in: it throws rather than lose it.
		if (failures.length > 0) throw failures[0];
		return created;
	}

	/**
	 * Creates a checked batch. Each id is created once (a later entry with the same id is an
	 * error); an id in use is refused by its own instance, which is left as it was, so nothing
	 * is checked beforehand. The listing's intents go first, one request per shard; the rows of
	 * the instances that settle within their create are written after, one request per shard,
	 * instead of one request per instance from each engine ("The listing protocol",
	 * docs/architecture.md).
	 */
	async #createAll(
		entries: BatchEntry[],
	): Promise<WorkflowBatchCreateResult & { failures: unknown[] }> {
		const errors: WorkflowBatchCreateResult["errors"] = [];
		/** What the creates that failed for another reason than their id threw, in batch order. */
		const failures: unknown[] = [];
		const firstIndex = new Map<string, number>();
		const creates: { index: number; entry: BatchEntry }[] = [];
		for (const [index, entry] of entries.entries()) {
			const { id } = entry.request;
			const earlier = firstIndex.get(id);
			if (earlier === undefined) {
				firstIndex.set(id, index);
				creates.push({ index, entry });
			} else {
				errors.push({
					index,
					id,
					code: BATCH_ERROR_CODES.duplicateInBatch,
					message: `instance id "${id}" repeats that of entry ${earlier} of the batch`,
				});
			}
		}
		await this.#list(creates.map(({ entry }) => entry.request));
		const settled = await Promise.allSettled(
			creates.map(({ entry }) => this.#create({ ...entry.request, callerLists: true })),
		);
		const rows = settled.flatMap((result) =>
			result.status === "fulfilled" && result.value ? [result.value] : [],
		);
		// Best effort, like the engine's own updates: a row left pending is checked by listings.
		await this.#publish(rows).catch(() => {});
		const created: WorkflowInstance[] = [];
		for (const [i, result] of settled.entries()) {
			const { index, entry } = creates[i] as (typeof creates)[number];
			const { id } = entry.request;
			if (result.status === "fulfilled") {
				created.push(new InstanceHandle(id, this.#namespace, this.#own));
				continue;
			}
			const error = batchError(result.reason);
			errors.push({ index, ...(entry.idGiven ? { id } : {}), ...error });
			if (error.code !== BATCH_ERROR_CODES.instanceExists) failures.push(result.reason);
		}
		errors.sort((a, b) => a.index - b.index);
		return { created, errors, failures };
	}

	/**
	 * Deletes up to 100 instances and everything they stored (as `delete()` does each), each id
	 * once however often it is given. The result has an entry per id given, in order: `{ id }` in
	 * `deleted`, or an error with its code: 10400 for an id no instance has, 10001 for any other
	 * failure.
	 * @throws WorkflowValidationError if `ids` is not an array of 1 to 100 valid instance ids.
	 */
	async deleteBatch(ids: string[]): Promise<WorkflowBatchDeleteResult> {
		const list = deleteBatchIds(ids);
		const unique = [...new Set(list)];
		const settled = await Promise.allSettled(
			unique.map((id) => engineClient(this.#namespace, id).delete()),
		);
		const outcomes = new Map(unique.map((id, i) => [id, settled[i]]));
		const result: WorkflowBatchDeleteResult = { deleted: [], errors: [] };
		for (const id of list) {
			const outcome = outcomes.get(id);
			if (outcome?.status === "fulfilled") result.deleted.push({ id });
			else result.errors.push({ id, ...batchError(outcome?.reason) });
		}
		return result;
	}

	async #publish(entries: ListingEntry[]): Promise<void> {
		await new ListingClient(this.#namespace).putAll(entries);
	}
}
