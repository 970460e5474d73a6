/**
 * Type tests, checked by `tsc` (npm test runs it first): code written for Cloudflare Workflows
 * type-checks against do-workflows with only its import changed.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { expectTypeOf } from "vitest";
import {
	createWorkflowEngine,
	NonRetryableError,
	remoteWorkflow,
	WorkflowEntrypoint,
	type WorkflowEnv,
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

// `wrangler types` types a workflow binding as the Durable Object namespace of its engine class;
// WorkflowEnv turns exactly those into the workflow's Workflow<Params>.
export class MyWorkflowEngineClass extends createWorkflowEngine(MyWorkflow, { name: "mine" }) {}
interface GeneratedEnv {
	MY_WORKFLOW: DurableObjectNamespace<MyWorkflowEngineClass>;
	COUNTER: DurableObjectNamespace<import("./workflows").CallCounter>;
	UNTYPED: DurableObjectNamespace;
	CACHE: KVNamespace;
	NAME: "prod";
}
type Mapped = WorkflowEnv<GeneratedEnv>;
expectTypeOf<Mapped["MY_WORKFLOW"]>().toEqualTypeOf<Workflow<Params>>();
expectTypeOf<Mapped["COUNTER"]>().toEqualTypeOf<GeneratedEnv["COUNTER"]>();
expectTypeOf<Mapped["UNTYPED"]>().toEqualTypeOf<DurableObjectNamespace>();
expectTypeOf<Mapped["CACHE"]>().toEqualTypeOf<KVNamespace>();
expectTypeOf<Mapped["NAME"]>().toEqualTypeOf<"prod">();
// A namespace whose class type could not be resolved (any) is left as it is, not guessed.
// biome-ignore lint/suspicious/noExplicitAny: the case under test
expectTypeOf<WorkflowEnv<{ X: DurableObjectNamespace<any> }>["X"]>().toEqualTypeOf<
	// biome-ignore lint/suspicious/noExplicitAny: the case under test
	DurableObjectNamespace<any>
>();

export const generatedEnvWorker = withWorkflows(
	{ MY_WORKFLOW: MyWorkflowEngineClass, OTHER: remoteWorkflow<{ n: number }>({ script: "other" }) },
	{
		async fetch(_request, env: WorkflowEnv<GeneratedEnv>) {
			const instance = await env.MY_WORKFLOW.create({ params: { email: "a", metadata: {} } });
			// @ts-expect-error params must match the workflow's params type
			await env.MY_WORKFLOW.create({ params: { email: 1 } });
			return Response.json({ id: instance.id });
		},
	},
);

// A WorkerEntrypoint class default export is wrapped and keeps its type.
export const EntrypointWorker = withWorkflows(
	{ MY_WORKFLOW: MyWorkflowEngineClass },
	class extends WorkerEntrypoint<WorkflowEnv<GeneratedEnv>> {
		override async fetch() {
			return Response.json({ id: (await this.env.MY_WORKFLOW.create()).id });
		}
		async ping(): Promise<string> {
			return "pong";
		}
	},
);
expectTypeOf<InstanceType<typeof EntrypointWorker>["ping"]>().toEqualTypeOf<
	() => Promise<string>
>();

// A workflow another Worker hosts: `wrangler types` types its namespace without a class, and the
// bindings object passed to withWorkflows supplies its params.
const remoteBindings = { ORDERS: remoteWorkflow<{ orderId: string }>({ script: "orders" }) };
type RemoteEnv = WorkflowEnv<
	{ ORDERS: DurableObjectNamespace; CACHE: KVNamespace },
	typeof remoteBindings
>;
expectTypeOf<RemoteEnv["ORDERS"]>().toEqualTypeOf<Workflow<{ orderId: string }>>();
expectTypeOf<RemoteEnv["CACHE"]>().toEqualTypeOf<KVNamespace>();

// An optional binding stays optional.
type WithOptional = WorkflowEnv<{ OPTIONAL?: KVNamespace; FIXED: string }>;
expectTypeOf<{ FIXED: string }>().toExtend<WithOptional>();
expectTypeOf<WithOptional["OPTIONAL"]>().toEqualTypeOf<KVNamespace | undefined>();

// The product's batch API of workers-types 5: createBatch by count or by a list of instances, with
// per-instance errors; the deprecated array form; deleteBatch.
export const batchWorker = withWorkflows<Env>(
	{ MY_WORKFLOW: MyWorkflowEngine },
	{
		async fetch(_request, env) {
			const params: Params = { email: "a@example.com", metadata: {} };
			const byCount = await env.MY_WORKFLOW.createBatch({
				count: 10,
				params,
				retention: { successRetention: "1 day", errorRetention: 60_000 },
				locationHint: "weur",
			});
			expectTypeOf(byCount).toEqualTypeOf<WorkflowBatchCreateResult>();
			expectTypeOf(byCount.created).toEqualTypeOf<WorkflowInstance[]>();
			const { created, errors } = await env.MY_WORKFLOW.createBatch({
				instances: [
					{ id: "order-1", params },
					{ params, retention: { successRetention: 1000 } },
				],
			});
			for (const error of errors) {
				expectTypeOf(error.index).toEqualTypeOf<number>();
				expectTypeOf(error.id).toEqualTypeOf<string | undefined>();
				expectTypeOf(error.code).toEqualTypeOf<number>();
				expectTypeOf(error.message).toEqualTypeOf<string>();
			}
			// @ts-expect-error count and instances do not go together
			await env.MY_WORKFLOW.createBatch({ count: 1, instances: [] });
			// @ts-expect-error params must match the workflow's params type
			await env.MY_WORKFLOW.createBatch({ count: 1, params: { wrong: true } });
			// @ts-expect-error params must match, in each instance too
			await env.MY_WORKFLOW.createBatch({ instances: [{ params: { wrong: true } }] });

			// The array form still type-checks (deprecated) and resolves to the instances created.
			const list = await env.MY_WORKFLOW.createBatch([{ id: "a", params }, { params }]);
			expectTypeOf(list).toEqualTypeOf<WorkflowInstance[]>();

			const deleted = await env.MY_WORKFLOW.deleteBatch(["a", "b", "a"]);
			expectTypeOf(deleted).toEqualTypeOf<WorkflowBatchDeleteResult>();
			expectTypeOf(deleted.deleted).toEqualTypeOf<{ id: string }[]>();
			expectTypeOf(deleted.errors).toEqualTypeOf<{ id: string; code: number; message: string }[]>();
			return Response.json({ created: created.length, deleted: deleted.deleted.length });
		},
	},
);

// The product's subscribe() of workers-types 5: a Disposable stream of WorkflowInstanceEvents.
export const subscribeWorker = withWorkflows<Env>(
	{ MY_WORKFLOW: MyWorkflowEngine },
	{
		async fetch(_request, env) {
			const instance = await env.MY_WORKFLOW.get("order-1");
			using subscription = await instance.subscribe({
				cursor: 3,
				filter: ["step_completed", "workflow_completed"],
			});
			expectTypeOf(subscription).toEqualTypeOf<WorkflowInstanceSubscription>();
			const result = await subscription.next();
			if (!result.done) {
				expectTypeOf(result.value).toEqualTypeOf<WorkflowInstanceEvent>();
				expectTypeOf(result.value.eventId).toEqualTypeOf<number>();
				if (result.value.type === "step_completed")
					expectTypeOf(result.value.stepName).toEqualTypeOf<string>();
			}
			// @ts-expect-error an event type the product does not have
			await instance.subscribe({ filter: ["step_done"] });
			return new Response("ok");
		},
	},
);
