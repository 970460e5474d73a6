/**
 * One run of the user's workflow: what `run()` receives (an ExecutionContext, the event, the step
 * context over the engine's Execution, and the env with its Workflow bindings), and its outcome
 * as it can be stored. The engine decides when a run starts and what its outcome does.
 */
import type { WorkflowEvent } from "cloudflare:workers";
import { runEnv } from "../binding/env.js";
import type { WorkflowEntrypoint } from "../entrypoint.js";
import {
	type SerializedError,
	serializeError,
	UnserializableValueError,
	ValueTooLargeError,
} from "../errors.js";
import { MAX_VALUE_BYTES } from "../limits.js";
import type { WorkflowCronSchedule } from "../schedules/cron.js";
import { unstorable } from "../schemas.js";
import { StepContext, type StepMode } from "../step/context.js";
import type { Execution } from "./execution.js";
import type { InstanceControls } from "./hooks.js";

/** A workflow class, as `createWorkflowEngine` takes it. */
export type WorkflowClass<Env = unknown, Params = unknown> = new (
	ctx: ExecutionContext,
	env: Env,
) => WorkflowEntrypoint<Env, Params>;

/** How a run ended, as it can be stored. */
export type RunOutcome = { output: unknown } | { error: SerializedError };

export interface RunInput {
	workflow: WorkflowClass;
	/** The workflow's name, `event.workflowName`. */
	name: string;
	instance: { id: string; createdAt: number };
	params: unknown;
	/** The tick that created the instance, if a cron schedule did: `event.schedule`. */
	schedule?: WorkflowCronSchedule;
	/** The engine object's state, whose waitUntil the workflow's ExecutionContext offers. */
	state: DurableObjectState;
	env: unknown;
	execution: Execution;
	controls: InstanceControls | undefined;
	/** "collect": a replay that only gathers rollback handlers (see StepMode). */
	mode?: StepMode;
}

/**
 * Runs the workflow over `input.execution` and reports its outcome to `finish`, once, in a later
 * microtask (so a run that throws synchronously is an outcome too). The outcome is as run()
 * ended: {@link storableOutcome} tells whether it can be stored. Returns the run's step context,
 * which holds the rollback handlers of the steps the run meets.
 */
export function launchRun(input: RunInput, finish: (outcome: RunOutcome) => void): StepContext {
	const { workflow: Workflow, state } = input;
	// The product hands a workflow an ExecutionContext; an engine object has a
	// DurableObjectState, which offers the same waitUntil.
	const executionContext = {
		waitUntil: (promise: Promise<unknown>) => state.waitUntil(promise),
		passThroughOnException: () => {},
		props: {},
	} as unknown as ExecutionContext;
	const event: WorkflowEvent<unknown> = {
		payload: input.params as WorkflowEvent<unknown>["payload"],
		timestamp: new Date(input.instance.createdAt),
		instanceId: input.instance.id,
		workflowName: input.name,
		// Only an instance a schedule created has it, as in the product.
		...(input.schedule ? { schedule: { ...input.schedule } } : {}),
	};
	const step = new StepContext(input.execution, input.controls, input.mode);
	Promise.resolve()
		.then(() => {
			const own = { id: input.instance.id, guard: input.execution.guard.bind(input.execution) };
			const env = runEnv(input.env, state.id, own);
			return new Workflow(executionContext, env).run(event, step);
		})
		.then(
			(output) => finish({ output }),
			(error: unknown) => finish({ error: serializeError(error) }),
		);
	return step;
}

/** The outcome as it can be stored: an output over the size limit, or not cloneable, is an error. */
export function storableOutcome(outcome: RunOutcome): RunOutcome {
	if ("error" in outcome) return outcome;
	const problem = unstorable(outcome.output);
	if (problem && "size" in problem) {
		const error = new ValueTooLargeError(
			`run() returned ${problem.size} bytes; a workflow's output must be at most ${MAX_VALUE_BYTES} bytes (1 MiB)`,
		);
		return { error: error.toJSON() };
	}
	if (problem) {
		const unserializable = new UnserializableValueError(
			`run() returned a value that cannot be stored: ${problem.unclonable} ` +
				"The output must be structured-clone serialisable.",
		);
		return { error: unserializable.toJSON() };
	}
	return outcome;
}
