/// <reference types="node" />
/**
 * Which of workerd's log messages `npm test` leaves out (runtime-logs.ts): those the tests provoke
 * on purpose, as workerd wrote them in a run of the suite; never one with a frame of ours.
 */
import { describe, expect, it } from "vitest";
import { isExpectedRuntimeLog } from "./runtime-logs";

const WORKERD =
	"/repo/node_modules/@cloudflare/vitest-plugin/node_modules/@cloudflare/workerd-linux-64/bin/workerd";
const ENGINE =
	"file:///repo/node_modules/@cloudflare/vitest-plugin/node_modules/miniflare/dist/src/workers/workflows/binding.worker.js";
const PLUGIN =
	"repo/node_modules/@cloudflare/vitest-plugin/dist/worker/lib/cloudflare/test-internal.mjs";

const lines = (...list: string[]) => `${list.join("\n")}\n`;

describe("the runtime log messages left out", () => {
	it.for([
		{
			label: "the crash() helper's abort",
			text: lines(
				"uncaught exception; exception = workerd/api/actor-state.c++:1249: failed: broken.outputGateBroken; jsg.Error: simulated crash",
				`stack: ${WORKERD}@3a4d6a0 ${WORKERD}@3a4d9d0`,
			),
		},
		{
			label: "the built-in engine's abort on terminate",
			text: lines(
				"uncaught exception; exception = workerd/api/actor-state.c++:1249: failed: broken.outputGateBroken; jsg.Error: Aborting engine: User called terminate",
				`stack: ${WORKERD}@3cf53e4`,
			),
		},
		{
			label: "a compat scenario's error, thrown across RPC by the built-in engine",
			text: lines(
				"uncaught exception; source = Uncaught (in promise); stack = RangeError: run failed outside any step",
				"    at uncaught (/repo/tests/compat/scenarios.ts:200:9)",
				"    at dispatch (/repo/tests/compat/worker.ts:59:9)",
				"    at NativeWorkflow.run (/repo/tests/compat/worker.ts:73:10)",
				`    at ${PLUGIN}:595:100`,
			),
		},
		{
			label: "the built-in engine's own error",
			text: lines(
				"uncaught exception; source = Uncaught (in promise); stack = Error: [WorkflowIntrospector] The Workflow instance x has reached status 'errored'.",
				`    at Engine.rejectUnreachableStatus (${ENGINE}:4078:13)`,
				`    at ${ENGINE}:4034:73`,
				"    at new Promise (<anonymous>)",
			),
		},
	])("leaves out $label", ({ text }) => {
		expect(isExpectedRuntimeLog(text)).toBe(true);
	});

	it.for([
		{
			label: "an RPC method of ours that threw",
			text: lines(
				"uncaught exception; source = Uncaught (in promise); stack = Error: no such table: listing: SQLITE_ERROR",
				"    at ListingShard.put (/repo/src/listing/shard.ts:134:13)",
				"    at ScenarioEngine.listingPut (/repo/src/engine/engine.ts:376:24)",
				`    at ${PLUGIN}:369:47`,
			),
		},
		{
			label: "a compat scenario's error that went through our code",
			text: lines(
				"uncaught exception; source = Uncaught (in promise); stack = Error: always",
				"    at AsyncFunction.<anonymous> (/repo/tests/compat/scenarios.ts:71:19)",
				"    at StepContext.do (/repo/src/step/context.ts:120:5)",
			),
		},
		{
			label: "an exception thrown in a timer",
			text: lines(
				"uncaught exception; source = Uncaught; stack = Error: boom",
				"    at /repo/tests/compat/scenarios.ts:12:30",
			),
		},
		{
			label: "an error without a stack",
			text: lines(
				"uncaught exception; source = Uncaught (in promise); stack = TypeError: only once",
			),
		},
		{
			label: "another abort of an object",
			text: lines(
				"uncaught exception; exception = workerd/api/actor-state.c++:1249: failed: broken.outputGateBroken; jsg.Error: out of memory",
				`stack: ${WORKERD}@3cf53e4`,
			),
		},
		{
			label: "a request the runtime cancelled as hung",
			text: lines(
				"uncaught exception; exception = workerd/io/io-context.c++:1972: failed: jsg.Error: The Workers runtime canceled this request because it detected that your Worker's code had hung and would never generate a response.",
				`stack: ${WORKERD}@3cf53e4`,
			),
		},
		{
			label: "an expected message followed by another in the same write",
			text: lines(
				"uncaught exception; exception = workerd/api/actor-state.c++:1249: failed: broken.outputGateBroken; jsg.Error: simulated crash",
				"uncaught exception; source = Uncaught (in promise); stack = Error: unexpected",
				"    at /repo/src/engine/engine.ts:1:1",
			),
		},
		{ label: "a test's own output", text: lines("[crash]", "  seed 1: 500 instances") },
	])("writes $label", ({ text }) => {
		expect(isExpectedRuntimeLog(text)).toBe(false);
	});
});
