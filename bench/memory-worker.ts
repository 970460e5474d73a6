/**
 * The bench Worker of bench/memory-parts.mjs: bench/worker.ts, plus a floor shape that stores
 * what a waiting instance of ours stores, written through the engine's own Journal (an internal
 * module, which worker.ts does not import, so that bench/compare.mjs can still run it over the
 * src/ of older commits).
 */
import { Journal } from "../src/engine/journal";
import { Status } from "../src/engine/status";
import { StepState } from "../src/engine/steps";
import { Floor } from "./worker";

/**
 * "journal": the instance row, the done step that counted the instance in, the event wait with
 * its timeout (so the index of due times), and an alarm an hour ahead; no engine running.
 */
Floor.shapes.journal = async (ctx, id, counter) => {
	const now = Date.now();
	const journal = new Journal(ctx.storage);
	journal.createInstance(id, "bench", Status.Running, { kind: "idle", counter }, now);
	const arrive = journal.insertStep("do", "arrive", 1, StepState.Running, null, now, null, 1);
	journal.succeed(arrive.seq, 1, now);
	journal.insertStep("wait", "go", 1, StepState.Waiting, now + 3_600_000, now, "go");
	journal.setStatus(Status.Waiting, now);
	await ctx.storage.setAlarm(now + 3_600_000);
};

export * from "./worker";
export { default } from "./worker";
