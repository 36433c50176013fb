// What the table encoders' tests share: a schema of each column kind, and strings that CSV must
// quote or that are not ASCII.

import fc from "fast-check";
import type { TableSchema } from "./table_builder.ts";

/** Columns x (f64), s (str), i (i32), u (str). */
export const SCHEMA: TableSchema = {
  name: "t",
  columns: [
    { name: "x", kind: "f64", doc: "" },
    { name: "s", kind: "str", doc: "" },
    { name: "i", kind: "i32", doc: "" },
    { name: "u", kind: "str", doc: "" },
  ],
};

/** Strings with quotes, commas, a newline, a hex word and a non-ASCII letter. */
export const text = fc.constantFrom("", "a", "b", "0x1000", "a,b", 'say "hi"', "line\nbreak", "é");
