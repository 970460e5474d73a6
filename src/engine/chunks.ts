/**
 * Step outputs stored in parts, as rows of `output_chunks` (created as first needed): a
 * `ReadableStream`'s bytes, written as the stream is read (step/streams.ts) and read back as a
 * stream, or the UTF-8 JSON text of a structured output over 1 MiB (the engine's opt-in
 * `maxStepOutputBytes`), read back as its value. The step's row says how: its `output_json`
 * holds a marker (chunkedMarker) in place of the value.
 */
import { OUTPUT_CHUNK_BYTES } from "../limits.js";
import type { Schema } from "./schema.js";
import type { Store } from "./store.js";
import { fromJsonText } from "./values.js";

/** How a step's output is stored in chunks. */
export interface ChunkedOutput {
	kind: "stream" | "json";
	chunks: number;
	/** The bytes stored. */
	bytes: number;
	/** For "json": the value's size as the output limits measure it (its structured-clone encoding). */
	size?: number;
}

/**
 * What a step row's `output_json` starts with when its output is in chunks (the rest is the
 * ChunkedOutput as JSON): JSON text never starts with a NUL, so no stored value reads as one.
 */
const CHUNKED = "\u0000";

/** The `output_json` of a step whose output is stored as `output` says. */
export const chunkedMarker = (output: ChunkedOutput): string => CHUNKED + JSON.stringify(output);

/** How a step's output is stored in chunks, from its row's `output_json`; undefined if it is not. */
export const chunkedOutput = (json: SqlStorageValue | undefined): ChunkedOutput | undefined =>
	typeof json === "string" && json.startsWith(CHUNKED)
		? (JSON.parse(json.slice(CHUNKED.length)) as ChunkedOutput)
		: undefined;

export class OutputChunks {
	readonly #store: Store;
	readonly #schema: Schema;

	constructor(store: Store, schema: Schema) {
		this.#store = store;
		this.#schema = schema;
	}

	/** Deletes step `seq`'s chunks, if any: those of an attempt that did not complete. */
	clear(seq: number): void {
		if (this.#schema.has("chunks")) this.#store.run("DELETE FROM output_chunks WHERE seq = ?", seq);
	}

	/**
	 * Writes chunk `idx` of step `seq`'s output. It counts only once the step's completion names
	 * it (Journal.succeedChunked): a crash before that leaves rows that nothing reads, and the
	 * step's next attempt deletes them.
	 */
	write(seq: number, idx: number, bytes: Uint8Array): void {
		this.#schema.ensure("chunks");
		const buffer =
			bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
				? (bytes.buffer as ArrayBuffer)
				: (bytes.slice().buffer as ArrayBuffer);
		this.#store.run(
			"INSERT OR REPLACE INTO output_chunks (seq, idx, bytes) VALUES (?, ?, ?)",
			seq,
			idx,
			buffer,
		);
	}

	/** Replaces step `seq`'s chunks with `text` cut in chunks of OUTPUT_CHUNK_BYTES. */
	writeText(seq: number, text: Uint8Array): void {
		this.clear(seq);
		for (let idx = 0; idx * OUTPUT_CHUNK_BYTES < text.byteLength; idx++) {
			this.write(seq, idx, text.subarray(idx * OUTPUT_CHUNK_BYTES, (idx + 1) * OUTPUT_CHUNK_BYTES));
		}
	}

	/** Step `seq`'s output stored as `output` says: a stream of its bytes, or its JSON value. */
	read(seq: number, output: ChunkedOutput): unknown {
		if (output.kind === "stream") return this.#stream(seq, output);
		const text = new Uint8Array(output.bytes);
		let offset = 0;
		for (let idx = 0; idx < output.chunks; idx++) {
			const chunk = this.#chunk(seq, idx);
			text.set(chunk, offset);
			offset += chunk.byteLength;
		}
		return fromJsonText(new TextDecoder().decode(text));
	}

	#chunk(seq: number, idx: number): Uint8Array {
		const bytes = this.#store.one(
			"SELECT bytes FROM output_chunks WHERE seq = ? AND idx = ?",
			seq,
			idx,
		)?.bytes;
		if (!(bytes instanceof ArrayBuffer)) {
			throw new Error(
				`chunk ${idx} of step ${seq}'s output is missing (the instance was restarted or deleted)`,
			);
		}
		return new Uint8Array(bytes);
	}

	/** A stream of step `seq`'s stored bytes, read a chunk at a time as it is pulled. */
	#stream(seq: number, output: ChunkedOutput): ReadableStream<Uint8Array> {
		let idx = 0;
		return new ReadableStream<Uint8Array>({
			pull: (controller) => {
				if (idx >= output.chunks) {
					controller.close();
					return;
				}
				controller.enqueue(this.#chunk(seq, idx++));
			},
		});
	}
}
