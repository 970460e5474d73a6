/**
 * Rolling back (docs/lifecycle.md, "Rollback"): when run() fails with rollback handlers
 * registered, or on `terminate({ rollback: true })`, the instance is `rollingBack` and its
 * handlers run in reverse step-start order, each a journaled step (step/rollback.ts), on a run of
 * their own; then the instance ends as the stored plan says. The handlers live only in the
 * workflow's code, so an instance found rolling back with no run in memory (a crash, an eviction)
 * replays run() to collect them first.
 */
import { deserializeError, serializeError } from "../errors.js";
import { StepContext } from "../step/context.js";
import type { Rollback } from "../step/rollback.js";
import type { Execution } from "./execution.js";
import type { InstanceControls } from "./hooks.js";
import type { Journal, RollbackPlan } from "./journal.js";
import { launchRun, type RunInput } from "./run.js";
import { Status } from "./status.js";

/** What the rollback needs of the engine object that hosts it. */
export interface RollbackHost {
	readonly journal: Journal;
	/** A new run's owner (an Execution), made the one in memory, its lease renewed. */
	newExecution(id: string): Execution;
	/** True while `execution` is the run in memory: nothing abandoned it since. */
	current(execution: Execution): boolean;
	/** What run() receives, for a replay of the instance on `execution`. */
	runInput(instance: { id: string; createdAt: number }, execution: Execution): RunInput;
	/** A test's modifications of instance `id` (do-workflows/testing); undefined outside tests. */
	controls(id: string): InstanceControls | undefined;
	/** Drops the run in memory. */
	abandonRun(): void;
	/** Ends the instance as `plan` says, the rollback over. */
	end(plan: RollbackPlan): void;
}

/**
 * Runs `rollbacks` (see StepContext.rollBack) on a run of their own, then ends the instance as
 * `plan` says. A handler that fails for good stops the rollback; the instance ends as planned.
 */
export function rollBack(
	host: RollbackHost,
	id: string,
	rollbacks: Rollback[],
	plan: RollbackPlan,
): void {
	const execution = host.newExecution(id);
	const steps = new StepContext(execution, host.controls(id));
	const ended = () => {
		if (host.current(execution)) host.end(plan);
	};
	steps.rollBack(rollbacks, deserializeError(plan.error)).then(ended, (error: unknown) => {
		console.error(`do-workflows: instance "${id}": rollback failed:`, error);
		ended();
	});
}

/**
 * The instance is rollingBack but no run is in memory (a crash, an eviction, or a terminate):
 * run() is replayed to collect the handlers (every step returns its journaled result, and nothing
 * new runs), then the rollback goes on from the journal: handlers that finished are not run again.
 */
export function resumeRollback(
	host: RollbackHost,
	instance: { id: string; createdAt: number },
): void {
	const journal = host.journal;
	const plan = journal.rollbackPlan() ?? {
		end: Status.Errored,
		error: journal.instance()?.error ?? serializeError(new Error("run() failed")),
	};
	const execution = host.newExecution(instance.id);
	const ended = Promise.withResolvers<void>();
	const steps = launchRun({ ...host.runInput(instance, execution), mode: "collect" }, () =>
		ended.resolve(),
	);
	// Every handler is collected once the replay has met each journal entry, gone past them, or
	// ended.
	void Promise.race([steps.collected, ended.promise]).then(() => {
		if (!host.current(execution)) return;
		host.abandonRun();
		rollBack(host, instance.id, steps.rollbacks, plan);
	});
}
