/**
 * What the tick-hold Worker (worker.ts) and its Node test (tests/e2e/schedule-crash.test.ts) say
 * to each other. Types only, no platform types, so both sides (workerd and Node) compile it.
 */

/** A point the scheduler reached for a tick's instance, or a run of the workflow's step. */
export interface LogRecord {
	seq: number;
	kind: "beforeCreate" | "afterCreate" | "step";
	instance: string;
	/** The runtime (isolate) that wrote it. */
	boot: string;
	/** A step's run: its `event.schedule` and the token it returned, as JSON. */
	data: string | null;
}
