/**
 * A workflow with cron schedules, for tests/schedules.test.ts. Its ticks are far from any test
 * run (January 1st to 4th, February 29th), so no real alarm fires one: tests fire them (the test
 * kit's fireSchedule, or the scheduler's alarm run early) or rewind the scheduler's state.
 */
import {
	createWorkflowEngine,
	WorkflowEntrypoint,
	type WorkflowEvent,
	type WorkflowStep,
} from "../src";

/** What a scheduled run saw of its event, returned as its output. */
export interface SeenEvent {
	instanceId: string;
	workflowName: string;
	payload: unknown;
	schedule: { cron: string; scheduledTime: number } | undefined;
	hasSchedule: boolean;
}

export const SCHEDULES = [
	"0 0 1 1 *",
	"0 0 2 1 *",
	"0 0 3 1 *",
	"0 0 4 1 *",
	"0 0 6 1 *",
	"30 6 29 2 *",
];

export class ScheduledWorkflow extends WorkflowEntrypoint<unknown, unknown> {
	override async run(event: WorkflowEvent<unknown>, step: WorkflowStep): Promise<SeenEvent> {
		await step.do("tick", async () => event.instanceId);
		return {
			instanceId: event.instanceId,
			workflowName: event.workflowName,
			payload: event.payload,
			schedule: event.schedule,
			hasSchedule: "schedule" in event,
		};
	}
}

export class ScheduledEngine extends createWorkflowEngine(ScheduledWorkflow, {
	name: "scheduled",
	schedules: SCHEDULES,
}) {}
