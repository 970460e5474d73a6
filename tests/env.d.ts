// The test Worker's bindings (tests/wrangler.toml), as `env` from cloudflare:workers types them.
declare namespace Cloudflare {
	interface Env {
		SCENARIO: DurableObjectNamespace<import("../src").WorkflowEngine>;
		LIMITED: DurableObjectNamespace<import("../src").WorkflowEngine>;
		CALLS: DurableObjectNamespace<import("./workflows").CallCounter>;
		GATES: DurableObjectNamespace<import("./gate").Gate>;
	}
}
