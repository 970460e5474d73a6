// The example Worker's bindings (wrangler.toml), as `env` from cloudflare:workers types them in
// its tests. `wrangler types` generates the same kind of declaration.
declare namespace Cloudflare {
	interface Env {
		ORDER_WORKFLOW: DurableObjectNamespace<import("./worker").OrderWorkflowEngine>;
	}
}
