import { WorkerEntrypoint } from "cloudflare:workers";
import { remoteWorkflow, type WorkflowEnv, withWorkflows } from "../src";
import { adminApi } from "../src/ops";
import { ScheduledEngine } from "./scheduled";
import {
	LimitedEngine,
	ScenarioEngine,
	type ScenarioParams,
	type TestEnv,
	ThrottledEngine,
	WideThrottledEngine,
} from "./workflows";

export { ScheduledEngine } from "./scheduled";
export {
	CallCounter,
	Gate,
	LimitedEngine,
	Probe,
	ScenarioEngine,
	ThrottledEngine,
	WideThrottledEngine,
} from "./workflows";

export default withWorkflows<TestEnv>(
	{
		SCENARIO: ScenarioEngine,
		LIMITED: LimitedEngine,
		THROTTLED: ThrottledEngine,
		WIDE_THROTTLED: WideThrottledEngine,
		SCHEDULED: ScheduledEngine,
	},
	{
		async fetch(_request, env) {
			const instance = await env.SCENARIO.create({ params: { scenario: "basic" } });
			return Response.json({ id: instance.id });
		},
	},
	// The admin API and dashboard under /__workflows (tests/admin.test.ts); the token is a var
	// in tests/wrangler.toml.
	{ admin: adminApi() },
);

/**
 * A `WorkerEntrypoint` class wrapped by withWorkflows (tests/binding.test.ts reaches it through the
 * CLASS_ENTRY service binding): `this.env` has Workflow bindings in fetch and in RPC methods, and
 * REMOTE_SCENARIO is the scenario engine bound through script_name, as another Worker binds it.
 */
export const ClassEntry = withWorkflows(
	{
		SCENARIO: ScenarioEngine,
		REMOTE_SCENARIO: remoteWorkflow<ScenarioParams>({
			name: "scenario",
			script: "do-workflows-tests",
		}),
	},
	class ClassEntry extends WorkerEntrypoint<WorkflowEnv<Cloudflare.Env>> {
		override async fetch(): Promise<Response> {
			const instance = await this.env.SCENARIO.create({ params: { scenario: "basic" } });
			return Response.json({ id: instance.id });
		}

		async createRemote(): Promise<string> {
			const instance = await this.env.REMOTE_SCENARIO.create({ params: { scenario: "basic" } });
			return instance.id;
		}
	},
	{ admin: adminApi() },
);

/** A WorkerEntrypoint whose fetch is a class field (the instance's own), with the admin API. */
export const FieldEntry = withWorkflows(
	{ SCENARIO: ScenarioEngine },
	class FieldEntry extends WorkerEntrypoint<WorkflowEnv<Cloudflare.Env>> {
		override fetch = async (): Promise<Response> => new Response("own fetch");
	},
	{ admin: adminApi() },
);
