// The test Worker's bindings (tests/wrangler.toml), as `env` from cloudflare:workers types them.
declare namespace Cloudflare {
	interface Env {
		SCENARIO: DurableObjectNamespace<import("../src").WorkflowEngine>;
		LIMITED: DurableObjectNamespace<import("../src").WorkflowEngine>;
		THROTTLED: DurableObjectNamespace<import("../src").WorkflowEngine>;
		WIDE_THROTTLED: DurableObjectNamespace<import("../src").WorkflowEngine>;
		PROBE: DurableObjectNamespace<import("./workflows").Probe>;
		SCHEDULED: DurableObjectNamespace<import("./scheduled").ScheduledEngine>;
		CALLS: DurableObjectNamespace<import("./workflows").CallCounter>;
		GATES: DurableObjectNamespace<import("./gate").Gate>;
		/** The scenario engine again, bound through script_name (tests/wrangler.toml). */
		REMOTE_SCENARIO: DurableObjectNamespace<import("./workflows").ScenarioEngine>;
		CLASS_ENTRY: Service<InstanceType<typeof import("./worker").ClassEntry>>;
		FIELD_ENTRY: Service<InstanceType<typeof import("./worker").FieldEntry>>;
		WORKFLOWS_ADMIN_TOKEN: string;
	}
}
