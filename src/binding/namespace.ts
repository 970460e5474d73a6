/**
 * True for a Durable Object namespace binding. Checked by its tag, not by its methods: a service
 * binding (a Fetcher) answers every property with an RPC method, `idFromName` included.
 */
export function isDurableObjectNamespace(value: unknown): value is DurableObjectNamespace {
	return Object.prototype.toString.call(value) === "[object DurableObjectNamespace]";
}
