import { withWorkflows } from "../src";
import { LimitedEngine, ScenarioEngine, type TestEnv } from "./workflows";

export { CallCounter, Gate, LimitedEngine, ScenarioEngine } from "./workflows";

export default withWorkflows<TestEnv>(
	{ SCENARIO: ScenarioEngine, LIMITED: LimitedEngine },
	{
		async fetch(_request, env) {
			const instance = await env.SCENARIO.create({ params: { scenario: "basic" } });
			return Response.json({ id: instance.id });
		},
	},
	// The admin API and dashboard under /__workflows (tests/admin.test.ts); the token is a var
	// in tests/wrangler.toml.
	{ admin: true },
);
