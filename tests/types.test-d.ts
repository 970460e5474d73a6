/**
 * Type tests, checked by `tsc` (npm test runs it first): code written for Cloudflare Workflows
 * type-checks against do-workflows with only its import changed.
 */
import { expectTypeOf } from "vitest";
import {
	createWorkflowEngine,
	NonRetryableError,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
	type WorkflowStepContext,
	withWorkflows,
	workflowBinding,
} from "../src";

type Params = { email: string; metadata: Record<string, string> };

interface Env {
	MY_WORKFLOW: Workflow<Params>;
	CACHE: KVNamespace;
}

export class MyWorkflow extends WorkflowEntrypoint<Env, Params> {
	async run(event: WorkflowEvent<Params>, step: WorkflowStep) {
		expectTypeOf(event.payload.email).toEqualTypeOf<string>();
		expectTypeOf(event.timestamp).toEqualTypeOf<Date>();
		expectTypeOf(event.instanceId).toEqualTypeOf<string>();
		expectTypeOf(this.env.MY_WORKFLOW).toEqualTypeOf<Workflow<Params>>();
		expectTypeOf(this.ctx.waitUntil).toBeFunction();

		const files = await step.do("my first step", async () => ({ files: ["a.txt", "b.txt"] }));
		// The product's step types infer literal types for literal outputs.
		expectTypeOf(files).toExtend<{ files: string[] }>();

		const ip = await step.do(
			"with config",
			{ retries: { limit: 5, delay: "5 seconds", backoff: "exponential" }, timeout: "15 minutes" },
			async (ctx) => {
				expectTypeOf(ctx).toEqualTypeOf<WorkflowStepContext>();
				if (ctx.attempt > 3) throw new NonRetryableError("giving up", "GiveUp");
				return "127.0.0.1";
			},
		);
		expectTypeOf(ip).toExtend<string>();

		await step.sleep("wait on something", "1 minute");
		await step.sleep("numeric", 5000);
		await step.sleepUntil("until a date", new Date("2030-01-01"));
		await step.sleepUntil("until a timestamp", Date.parse("2030-01-01"));
		const approval = await step.waitForEvent<{ approved: boolean }>("approval", {
			type: "approval",
			timeout: "1 hour",
		});
		expectTypeOf(approval.payload.approved).toEqualTypeOf<boolean>();

		// @ts-expect-error a duration is milliseconds or "<n> unit(s)"
		await step.sleep("bad", "soon");
		// @ts-expect-error retries need a limit and a delay
		await step.do("bad config", { retries: { backoff: "linear" } }, async () => 1);

		return { files, ip };
	}
}

export const MyWorkflowEngine = createWorkflowEngine(MyWorkflow, { name: "my-workflow" });

export default withWorkflows<Env>(
	{ MY_WORKFLOW: MyWorkflowEngine },
	{
		async fetch(_request, env) {
			const instance = await env.MY_WORKFLOW.create({
				id: "order-1",
				params: { email: "a@example.com", metadata: {} },
			});
			expectTypeOf(instance).toEqualTypeOf<WorkflowInstance>();
			const status = await instance.status();
			expectTypeOf(status).toEqualTypeOf<InstanceStatus>();
			expectTypeOf(status.status).toEqualTypeOf<
				| "queued"
				| "running"
				| "paused"
				| "errored"
				| "terminated"
				| "complete"
				| "waiting"
				| "waitingForPause"
				| "rollingBack"
				| "unknown"
			>();
			// @ts-expect-error params must match the workflow's params type
			await env.MY_WORKFLOW.create({ params: { wrong: true } });
			return Response.json(status);
		},
		async queue(batch, env) {
			await env.MY_WORKFLOW.createBatch(
				batch.messages.map((message) => ({ params: message.body as Params })),
			);
		},
		async scheduled(_controller, env) {
			const instance = await env.MY_WORKFLOW.get("order-1");
			await instance.pause();
		},
	},
);

// The product's own pattern, `satisfies ExportedHandler<Env>`, works inside withWorkflows too.
export const alsoFine = withWorkflows({ MY_WORKFLOW: MyWorkflowEngine }, {
	async fetch(_request: Request, env: Env) {
		return Response.json({ id: (await env.MY_WORKFLOW.create()).id });
	},
} satisfies ExportedHandler<Env>);

// Outside a wrapped handler, a raw namespace becomes a Workflow explicitly.
declare const namespace: DurableObjectNamespace<import("../src").WorkflowEngine>;
expectTypeOf(workflowBinding<Params>(namespace)).toEqualTypeOf<Workflow<Params>>();

// @ts-expect-error createWorkflowEngine needs a name
createWorkflowEngine(MyWorkflow, {});
