// The TraceParse object both parsers hand out: its facts, and batches that can be iterated once
// (the input stream is read as they are).

import type { EventBatch } from "./event_batch.ts";
import type { TraceParse } from "./parse_types.ts";

/** What a parser has besides its batches. */
export type TraceParseParts = Omit<TraceParse, typeof Symbol.asyncIterator>;

/** A TraceParse of `parts` whose batches come from `run`, called at most once. */
export function traceParseOf(
  parts: TraceParseParts,
  run: () => AsyncGenerator<EventBatch>,
): TraceParse {
  let used = false;
  return {
    ...parts,
    [Symbol.asyncIterator]() {
      if (used) throw new TypeError("Cannot iterate a trace parse twice: parse the stream again");
      used = true;
      return run();
    },
  };
}
