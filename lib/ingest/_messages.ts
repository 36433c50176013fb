// Message texts of the ingest stage, as small functions: tests compare against these.

export function badLine(excerpt: string): string {
  return `Expected an event line "comm-pid [cpu] ts: event: ...", a comment or a marker; got "${excerpt}"`;
}
export function badTimestamp(text: string): string {
  return `Expected a timestamp "secs.usecs:" or a tick count; got "${text}"`;
}
export function badFieldValue(event: string, field: string, want: string, got: string): string {
  return `Event "${event}" field "${field}": expected ${want}; got "${got}"`;
}
export function missingField(event: string, field: string): string {
  return `Event "${event}" lacks field "${field}"`;
}
export function unexpectedToken(event: string, token: string): string {
  return `Event "${event}": unexpected word "${token}"`;
}
export function badKprobe(text: string): string {
  return `Expected a probe location "(symbol+0xoff/0xsize)" or "(caller+0xoff/0xsize <- symbol)"; got "${text}"`;
}
export function badFunctionGraph(text: string): string {
  return `Expected a function_graph line "cpu) duration | call"; got "${text}"`;
}
export function lineTooLong(limitBytes: number): string {
  return `Line longer than ${limitBytes} bytes: cut off, the rest of the line skipped`;
}
export function gzipTruncated(reason: string): string {
  return `The gzip input ends early or is corrupt (${reason}); events before this point are kept`;
}
export function lostEvents(cpu: number, lost: number): string {
  return lost < 0
    ? `CPU ${cpu} lost an unknown number of events here`
    : `CPU ${cpu} lost ${lost} events here`;
}
export function bufferStarted(cpu: number): string {
  return `CPU ${cpu} buffer started here: its older events were overwritten`;
}
export function unbalancedReturn(fn: string): string {
  return `Return from "${fn}" with no open entry on this CPU (the trace began inside the call)`;
}

/** Cut a piece of input for a message: at most 80 characters, no control characters. */
export function excerpt(text: string): string {
  const cut = text.length > 80 ? text.slice(0, 77) + "..." : text;
  // deno-lint-ignore no-control-regex -- replacing control characters is the point
  return cut.replace(/[\u0000-\u001f\u007f]/g, "?");
}
