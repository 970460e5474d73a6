/**
 * Step outputs returned as a `ReadableStream` (the product's streamed step outputs, beyond the
 * 1 MiB of a structured output): the attempt reads the stream to its end, writing its bytes to
 * storage in chunks of OUTPUT_CHUNK_BYTES as they come (so a stream of hundreds of MiB never sits
 * in memory), and the step completes only once the last chunk is written, in the move that names
 * them (Journal.succeedChunked). run() then gets a new stream of the stored bytes, on its first run
 * as on every replay.
 */
import type { Journal } from "../engine/journal.js";
import { UnserializableValueError, ValueTooLargeError } from "../errors.js";
import { OUTPUT_CHUNK_BYTES } from "../limits.js";

/** A stream a step returned, once its bytes are all stored. */
export class SpooledStream {
	constructor(
		readonly chunks: number,
		readonly bytes: number,
	) {}
}

/** Stops a spool that nothing waits for any more (its attempt timed out, its run was abandoned). */
export interface SpoolControl {
	stopped(): boolean;
}

/** Thrown into a spool that was stopped: its attempt's outcome is decided elsewhere. */
class SpoolStopped extends Error {}

/** A chunk as bytes, or an error: the product takes ArrayBuffer and typed-array chunks only. */
function bytesOf(name: string, chunk: unknown): Uint8Array {
	if (chunk instanceof Uint8Array) return chunk;
	if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
	if (ArrayBuffer.isView(chunk) && !(chunk instanceof DataView)) {
		return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
	}
	throw new UnserializableValueError(
		`step "${name}" returned a ReadableStream with a chunk that is not bytes (${describe(chunk)}); ` +
			"a streamed step output must yield ArrayBuffer or typed-array chunks",
	);
}

function describe(chunk: unknown): string {
	if (chunk === null) return "null";
	if (typeof chunk !== "object") return typeof chunk;
	return (chunk as object).constructor?.name ?? "an object";
}

/**
 * Reads `stream` to its end and stores its bytes as step `seq`'s pending chunks (deleting any a
 * cut-off attempt left). Throws ValueTooLargeError past `limit` bytes, UnserializableValueError
 * for a locked stream or a chunk that is not bytes; a read that fails throws its error. Whatever
 * it throws, the chunks it wrote are left for the caller to delete.
 */
export async function spoolStream(
	journal: Journal,
	seq: number,
	name: string,
	stream: ReadableStream,
	limit: number,
	control: SpoolControl,
): Promise<SpooledStream> {
	if (stream.locked) {
		throw new UnserializableValueError(
			`step "${name}" returned a ReadableStream that is locked (being read already); return a fresh stream`,
		);
	}
	const reader = stream.getReader();
	const pending: Uint8Array[] = [];
	let pendingBytes = 0;
	let chunks = 0;
	let bytes = 0;
	// Every write checks first, synchronously, that the spool is still wanted: once its attempt
	// has ended (and its caller deleted the chunks) or its run was abandoned, it writes nothing.
	const flush = (size: number) => {
		if (control.stopped()) throw new SpoolStopped();
		const chunk = new Uint8Array(size);
		let offset = 0;
		while (offset < size) {
			const head = pending[0] as Uint8Array;
			const take = Math.min(head.byteLength, size - offset);
			chunk.set(head.subarray(0, take), offset);
			offset += take;
			if (take === head.byteLength) pending.shift();
			else pending[0] = head.subarray(take);
		}
		pendingBytes -= size;
		journal.chunks.write(seq, chunks++, chunk);
	};
	try {
		if (control.stopped()) throw new SpoolStopped();
		journal.chunks.clear(seq);
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			if (control.stopped()) throw new SpoolStopped();
			const chunk = bytesOf(name, value);
			if (chunk.byteLength === 0) continue;
			bytes += chunk.byteLength;
			if (bytes > limit) {
				throw new ValueTooLargeError(
					`step "${name}" returned a ReadableStream of more than ${limit} bytes; a streamed step output must be at most ${limit} bytes`,
				);
			}
			// Copied: the stream's producer may reuse its buffer once it has been read.
			pending.push(chunk.slice());
			pendingBytes += chunk.byteLength;
			while (pendingBytes >= OUTPUT_CHUNK_BYTES) flush(OUTPUT_CHUNK_BYTES);
		}
		if (pendingBytes > 0) flush(pendingBytes);
		return new SpooledStream(chunks, bytes);
	} catch (error) {
		reader.cancel(error).catch(() => {});
		throw error;
	} finally {
		try {
			reader.releaseLock();
		} catch {
			// A read still pending (the spool was stopped mid-read): the lock goes with the reader.
		}
	}
}
