/// <reference types="node" />
/**
 * workerd's log messages that the tests provoke on purpose, kept out of `npm test`'s output.
 *
 * The vitest plugin runs workerd in verbose mode and writes each of its log messages to the test
 * process's stderr in one write: "uncaught exception; ..." and, on the lines after it, the stack.
 * Verbose mode logs every exception a handler or an RPC method throws, though its caller catches
 * it, and every abort of a Durable Object: the compat suite's scenarios fail on purpose on the
 * built-in engine, which throws their errors across RPC and aborts its objects to pause or
 * terminate, and the tests' crash() helper aborts objects. That was ~140 stack traces per run.
 *
 * A write is dropped only when it is one such message as a whole: its first line says which kind,
 * and every line after it is a stack frame from where that kind comes from. Anything else (an
 * exception in the engine's own code, a timer's, any message with a frame in src/) is written.
 */

/** A stack frame of code that fails on purpose: the built-in engine, the compat scenarios. */
const EXPECTED_FRAME =
	/^ {4}at .*(\/miniflare\/dist\/src\/workers\/workflows\/|\/tests\/compat\/(scenarios|worker)\.ts:|\/@cloudflare\/vitest-plugin\/dist\/worker\/|\(<anonymous>\)$)/;
/** A frame of the built-in engine or the compat scenarios, one of which the message must have. */
const COMPAT_FRAME = /^ {4}at .*(\/miniflare\/dist\/src\/workers\/workflows\/|\/tests\/compat\/)/;
/** workerd's native stack line after an exception it logs with its C++ location. */
const NATIVE_STACK = /^stack: /;

const EXPECTED: { first: RegExp; rest: (lines: string[]) => boolean }[] = [
	// tests/helpers.ts crash(): state.abort("simulated crash"), a crash of one engine object.
	{
		first:
			/^uncaught exception; exception = \S+ failed: broken\.outputGateBroken; jsg\.Error: simulated crash$/,
		rest: (lines) => lines.every((line) => NATIVE_STACK.test(line)),
	},
	// The built-in engine aborts its own object on pause, terminate, restart and a NonRetryableError.
	{
		first:
			/^uncaught exception; exception = \S+ failed: broken\.outputGateBroken; jsg\.Error: Aborting engine: /,
		rest: (lines) => lines.every((line) => NATIVE_STACK.test(line)),
	},
	// An error a compat scenario throws on the built-in engine, which passes it across RPC (its
	// stack has no frame of ours: on our engine, the scenarios' errors never cross RPC).
	{
		first: /^uncaught exception; source = Uncaught \(in promise\); stack = /,
		rest: (lines) =>
			lines.length > 0 &&
			lines.every((line) => EXPECTED_FRAME.test(line)) &&
			lines.some((line) => COMPAT_FRAME.test(line)),
	},
];

/** Whether `text` (one write) is exactly one log message the tests provoke on purpose. */
export function isExpectedRuntimeLog(text: string): boolean {
	const [first = "", ...rest] = text.replace(/\n$/, "").split("\n");
	return EXPECTED.some((kind) => kind.first.test(first) && kind.rest(rest));
}

/** Drops the expected runtime log messages from this process's stdout and stderr. */
export function quietExpectedRuntimeLogs(): void {
	for (const stream of [process.stdout, process.stderr]) {
		const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
		stream.write = ((chunk: unknown, ...rest: unknown[]) => {
			if (typeof chunk === "string" && isExpectedRuntimeLog(chunk)) {
				// Honour a callback, as a write that happened would.
				const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
				callback?.();
				return true;
			}
			return write(chunk, ...rest);
		}) as typeof stream.write;
	}
}
