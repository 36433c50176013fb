/**
 * Every counter the ingest stage (and later the replay) may increment, declared once.
 *
 * Mirrors Perfetto's `stats.h`: a counter has a name, a severity and a description, and code
 * can only increment a declared name (the `StatName` type enforces it). `error` counters make
 * the command line exit 1; `dataLoss` counters say the trace itself is incomplete; `info`
 * counters describe well-formed input that is not modelled.
 *
 * @module
 */

/** How bad a counted condition is. */
export type StatSeverity = "info" | "dataLoss" | "error";

/** One declared counter. */
export interface StatDef {
  /** The counter's name, also the diagnostic code. */
  readonly name: string;
  /** How bad it is. */
  readonly severity: StatSeverity;
  /** Who counts it. */
  readonly source: "trace" | "replay";
  /** One line for the stats table. */
  readonly description: string;
}

/** All counters of the ingest stage, in the order the stats table prints them. */
export const STATS = [
  {
    name: "bad_line",
    severity: "error",
    source: "trace",
    description: "a line that is neither a comment, a marker, an event line nor function_graph",
  },
  {
    name: "bad_timestamp",
    severity: "error",
    source: "trace",
    description: "an event line whose timestamp is not seconds.fraction nor a tick count",
  },
  {
    name: "bad_field_value",
    severity: "error",
    source: "trace",
    description: "a field whose value does not have the type its format prints",
  },
  {
    name: "missing_field",
    severity: "error",
    source: "trace",
    description: "an event line without a field its format always prints",
  },
  {
    name: "unexpected_token",
    severity: "error",
    source: "trace",
    description: "a word in an event payload that its format does not print",
  },
  {
    name: "bad_kprobe",
    severity: "error",
    source: "trace",
    description: "a probe line whose (symbol+off/size) part is malformed",
  },
  {
    name: "bad_function_graph",
    severity: "error",
    source: "trace",
    description: "a function_graph line whose duration or call text is malformed",
  },
  {
    name: "line_too_long",
    severity: "error",
    source: "trace",
    description: "a line longer than the line limit (cut off, the rest of the line skipped)",
  },
  {
    name: "gzip_truncated",
    severity: "dataLoss",
    source: "trace",
    description: "the gzip stream ended early or is corrupt; events before the break are kept",
  },
  {
    name: "lost_events",
    severity: "dataLoss",
    source: "trace",
    description: "events the ring buffer dropped (CPU:N [LOST M EVENTS]); M summed when known",
  },
  {
    name: "lost_event_markers",
    severity: "dataLoss",
    source: "trace",
    description: "CPU:N [LOST ...] markers seen",
  },
  {
    name: "buffer_started",
    severity: "dataLoss",
    source: "trace",
    description: "##### CPU N buffer started #### markers: older events of that CPU overwritten",
  },
  {
    name: "unbalanced_return",
    severity: "info",
    source: "trace",
    description: "a function_graph exit or kretprobe line with no open entry (trace began inside)",
  },
  {
    name: "unknown_event",
    severity: "info",
    source: "trace",
    description: "an event whose name has no schema and whose payload is not a probe's",
  },
  {
    name: "unexpected_field",
    severity: "info",
    source: "trace",
    description: "a key=value field a known format does not print (kept in the event's args)",
  },
  {
    name: "unknown_attr_name",
    severity: "info",
    source: "trace",
    description: "a DMA attribute name not in the catalogue (kept as text)",
  },
] as const satisfies readonly StatDef[];

/** The name of a declared counter. */
export type StatName = typeof STATS[number]["name"];

/** Severity of each declared counter, by name. */
export const STAT_SEVERITY: Readonly<Record<StatName, StatSeverity>> = Object.fromEntries(
  STATS.map((s) => [s.name, s.severity]),
) as Record<StatName, StatSeverity>;
