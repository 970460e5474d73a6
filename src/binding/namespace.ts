import type { EngineNamespace } from "../engine/protocol.js";
import { WorkflowValidationError } from "../errors.js";

/** Where a binding keeps its engine namespace, for the test kit (`do-workflows/testing`). */
export const ENGINE_NAMESPACE = Symbol.for("do-workflows.engine-namespace");

/**
 * True for a Durable Object namespace binding. Checked by its tag, not by its methods: a service
 * binding (a Fetcher) answers every property with an RPC method, `idFromName` included.
 */
export function isDurableObjectNamespace(value: unknown): value is DurableObjectNamespace {
	return Object.prototype.toString.call(value) === "[object DurableObjectNamespace]";
}

/**
 * The engine namespace behind `workflow`: a binding from `withWorkflows` or `workflowBinding`
 * (or the test kit's `env`), or the engine's Durable Object namespace itself.
 * @throws WorkflowValidationError naming `fn` for anything else.
 */
export function engineNamespace(workflow: unknown, fn: string): EngineNamespace {
	const namespace =
		(workflow as { [ENGINE_NAMESPACE]?: unknown } | null)?.[ENGINE_NAMESPACE] ?? workflow;
	if (!isDurableObjectNamespace(namespace)) {
		throw new WorkflowValidationError(
			`${fn}() needs a do-workflows binding (from withWorkflows, workflowBinding or the test kit's env) or the engine's Durable Object namespace`,
		);
	}
	return namespace as EngineNamespace;
}
