/**
 * Rollback handlers: a `step.do` may register one (`{ rollback, rollbackConfig? }`); when the
 * run fails, or is terminated with `{ rollback: true }`, the engine runs them in reverse
 * step-start order, each as a journaled step of type "rollback".
 */
import type { WorkflowStepContext, WorkflowStepRollbackOptions } from "cloudflare:workers";
import type { InstanceControls } from "../engine/hooks.js";
import { StepState } from "../engine/steps.js";
import { StorageFailure } from "../engine/store.js";
import { WorkflowValidationError } from "../errors.js";
import type { ResolvedStepConfig } from "../schemas.js";
import { runAttempts } from "./attempts.js";
import type { StepHost } from "./host.js";
import { resolveStepConfig, stepConfigJson } from "./retry.js";

/** What a rollback handler receives (workers-types 5's WorkflowRollbackContext). */
export interface RollbackContext {
	ctx: WorkflowStepContext;
	error: Error;
	output: unknown;
	/** Deprecated in the product: `${ctx.step.name}-${ctx.step.count}`. */
	stepName: string;
}

/**
 * The rollback handler a `step.do` registered, kept in memory by the run that met the step (a
 * replay registers it again): the journal knows the step, only the run knows its handler.
 */
export interface Rollback {
	/** The journal position of the step it undoes: handlers run in reverse step-start order. */
	seq: number;
	name: string;
	count: number;
	handler: (context: RollbackContext) => Promise<void>;
	/** The handler's own retries and timeout (`rollbackConfig`). */
	config: ResolvedStepConfig;
	/** The config of the step it undoes, as its callback saw it. */
	stepConfig: WorkflowStepContext["config"];
}

/** A step.do's rollback options, whichever delay the step's config has (workers-types 5). */
export type StepRollbackOptions<T> =
	| WorkflowStepRollbackOptions<T>
	| WorkflowStepRollbackOptions<T, import("cloudflare:workers").WorkflowDelayFunction>;

/** A step.do's rollback options, checked. */
export interface RollbackOptions {
	handler: Rollback["handler"];
	rollbackConfig: ResolvedStepConfig;
}

/**
 * Runs `rollbacks` in reverse step-start order, each as a journaled step of type "rollback"
 * (same name and occurrence as the step it undoes): a handler that finished is not run again on
 * a replay, one cut off runs again, and each retries by its own `rollbackConfig`. Stops at the
 * first handler that fails for good. Resolves true if every handler succeeded.
 */
export async function rollBack(
	host: StepHost,
	rollbacks: Rollback[],
	error: Error,
	controls?: InstanceControls,
): Promise<boolean> {
	const journal = host.journal;
	for (const rollback of [...rollbacks].sort((a, b) => b.seq - a.seq)) {
		const { name, count } = rollback;
		await host.atStepBoundary();
		const step = journal.step("do", name, count);
		const output = step?.state === StepState.Done ? journal.stepOutput(rollback.seq) : undefined;
		const ctx = {
			step: { name, count },
			attempt: step?.attempts ?? 0,
			config: rollback.stepConfig,
		};
		let entry = journal.step("rollback", name, count);
		const created = entry === undefined;
		entry ??= journal.insertStep(
			"rollback",
			name,
			count,
			StepState.Running,
			null,
			host.now(),
			null,
			1,
			false,
			stepConfigJson(rollback.config),
		);
		const stepName = `${name}-${count}`;
		try {
			await host.guard(
				runAttempts(host, {
					type: "rollback",
					entry,
					started: created,
					name,
					config: rollback.config,
					controls,
					callback: async () => {
						await rollback.handler({ ctx: structuredClone(ctx), error, output, stepName });
					},
				}),
			);
		} catch (failure) {
			if (failure instanceof StorageFailure) throw failure;
			return false;
		}
	}
	return true;
}

/** The last argument of a step.do with rollback options: `{ rollback, rollbackConfig? }`. */
export function parseRollbackOptions(name: string, options: unknown): RollbackOptions {
	if (typeof options !== "object" || options === null) {
		throw new WorkflowValidationError(
			`step.do("${name}"): the rollback options must be an object { rollback, rollbackConfig? }`,
		);
	}
	const { rollback, rollbackConfig } = options as { rollback?: unknown; rollbackConfig?: unknown };
	if (typeof rollback !== "function") {
		throw new WorkflowValidationError(`step.do("${name}"): rollback must be a function`);
	}
	if (rollbackConfig !== undefined) {
		const keys =
			typeof rollbackConfig === "object" && rollbackConfig ? Object.keys(rollbackConfig) : [];
		const other = keys.find((key) => key !== "retries" && key !== "timeout");
		if (other !== undefined) {
			throw new WorkflowValidationError(
				`step.do("${name}"): rollbackConfig takes retries and timeout only, got "${other}"`,
			);
		}
	}
	return {
		handler: rollback as Rollback["handler"],
		rollbackConfig: resolveStepConfig(rollbackConfig),
	};
}
