import type { CreateRequest, EngineNamespace } from "../engine/protocol.js";
import {
	InstanceExistsError,
	InstanceNotFoundError,
	NotSupportedError,
	WorkflowValidationError,
} from "../errors.js";
import { MAX_BATCH_SIZE, MAX_PARAMS_BYTES } from "../limits.js";
import { ListingClient } from "../listing/client.js";
import type { ListingEntry } from "../listing/shard.js";
import { assertStorable, createOptionsSchema, instanceIdSchema, parse } from "../schemas.js";
import { engineClient } from "./client.js";
import { InstanceHandle } from "./instance.js";
import { ENGINE_NAMESPACE } from "./namespace.js";

/**
 * The product's `Workflow` binding (create / createBatch / get) over the namespace of a workflow's
 * engine objects. `withWorkflows` builds these for you; call this directly from code that runs
 * outside a wrapped handler.
 *
 * @example
 * ```ts
 * const orders = workflowBinding<OrderParams>(env.ORDER_WORKFLOW);
 * const instance = await orders.create({ params: { orderId: "42" } });
 * ```
 */
export function workflowBinding<Params = unknown>(namespace: EngineNamespace): Workflow<Params> {
	return new WorkflowBinding<Params>(namespace);
}

class WorkflowBinding<Params> implements Workflow<Params> {
	readonly #namespace: EngineNamespace;

	constructor(namespace: EngineNamespace) {
		this.#namespace = namespace;
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
		parse(instanceIdSchema, id, "instance id");
		if (!(await engineClient(this.#namespace, id).exists()))
			throw new InstanceNotFoundError(`instance "${id}" not found`);
		return new InstanceHandle(id, this.#namespace);
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
		return new InstanceHandle(request.id, this.#namespace);
	}

	/**
	 * The listing's intents for the instances being created, one request per shard, sent with the
	 * creates ("The listing protocol", docs/architecture.md). Returns the ids it knew already.
	 */
	#list(requests: CreateRequest[]): Promise<Set<string>> {
		return new ListingClient(this.#namespace).intend(
			requests.map(({ id, createdAt = Date.now() }) => ({ id, createdAt })),
		);
	}

	/** Creates the instance; answers its listing entry if the request asked (see CreateRequest.callerLists). */
	async #create(request: CreateRequest): Promise<ListingEntry | null> {
		return engineClient(this.#namespace, request.id).create(request);
	}

	/**
	 * Creates up to 100 instances. All options are validated, and all ids checked, before any
	 * instance is created: ids the listing knows are checked with their instances, and an id it
	 * does not know has none (unless its row was lost, see docs/api.md). An id taken
	 * concurrently by another caller can still fail the call after some instances were created.
	 * @throws WorkflowValidationError if the batch is not an array of 1 to 100 valid options, or repeats an id.
	 * @throws InstanceExistsError if any id is in use.
	 */
	createBatch(options: WorkflowBatchCreateOptions<Params>): Promise<WorkflowBatchCreateResult>;
	createBatch(batch: WorkflowInstanceCreateOptions<Params>[]): Promise<WorkflowInstance[]>;
	async createBatch(
		batch: WorkflowBatchCreateOptions<Params> | WorkflowInstanceCreateOptions<Params>[],
	): Promise<WorkflowInstance[] | WorkflowBatchCreateResult> {
		if (typeof batch === "object" && batch !== null && ("count" in batch || "instances" in batch)) {
			throw new NotSupportedError(
				"createBatch({ count }) and createBatch({ instances }) are not supported by do-workflows yet; pass an array of create options (docs/differences.md)",
			);
		}
		if (!Array.isArray(batch))
			throw new WorkflowValidationError("createBatch expects an array of create options");
		if (batch.length === 0)
			throw new WorkflowValidationError("createBatch expects at least 1 instance");
		if (batch.length > MAX_BATCH_SIZE) {
			throw new WorkflowValidationError(
				`createBatch accepts at most ${MAX_BATCH_SIZE} instances per call, got ${batch.length}`,
			);
		}
		// Unlike create(), whose options are optional, each batch entry must be an object.
		const requests = batch.map((options: unknown, i) =>
			toRequest(options ?? null, `createBatch[${i}]`),
		);
		const ids = new Set<string>();
		for (const { id } of requests) {
			if (ids.has(id)) throw new WorkflowValidationError(`createBatch repeats instance id "${id}"`);
			ids.add(id);
		}
		const listed = await this.#list(requests);
		const known = requests.filter(({ id }) => listed.has(id));
		const taken = await Promise.all(
			known.map(({ id }) => engineClient(this.#namespace, id).exists()),
		);
		const index = taken.indexOf(true);
		if (index !== -1)
			throw new InstanceExistsError(`instance "${known[index]?.id}" already exists`);
		// The instances that settle within their create call have their rows written here, one
		// request per shard, instead of one request per instance from each engine.
		const created = await Promise.allSettled(
			requests.map((request) => this.#create({ ...request, callerLists: true })),
		);
		const entries = created.flatMap((result) =>
			result.status === "fulfilled" && result.value ? [result.value] : [],
		);
		// Best effort, like the engine's own updates: a row left pending is checked by listings.
		await this.#publish(entries).catch(() => {});
		const failed = created.find((result) => result.status === "rejected");
		if (failed) throw failed.reason;
		return requests.map(({ id }) => new InstanceHandle(id, this.#namespace));
	}

	/**
	 * The product's batch delete (workers-types 5).
	 * @throws NotSupportedError always, for now: delete instances one by one with `instance.delete()`.
	 */
	async deleteBatch(_ids: string[]): Promise<never> {
		throw new NotSupportedError(
			"deleteBatch() is not supported by do-workflows yet; call delete() on each instance (docs/differences.md)",
		);
	}

	async #publish(entries: ListingEntry[]): Promise<void> {
		await new ListingClient(this.#namespace).putAll(entries);
	}
}

function toRequest(options: unknown, what: string): CreateRequest {
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
