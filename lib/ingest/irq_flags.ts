/**
 * The irq-flags field of an event line (kernel-spec §1.2: `trace_print_lat_fmt`), decoded.
 *
 * @module
 */

/** The context an event ran in, from the flags' third column. */
export type IrqContext =
  | "task"
  | "softirq"
  | "hardirq"
  | "hardirq_in_softirq"
  | "nmi"
  | "nmi_in_hardirq";

/** A decoded irq-flags field. */
export interface IrqFlags {
  /** Interrupts off (`d` or `D`). */
  irqsOff: boolean;
  /** Bottom halves off (`b` or `D`). */
  bhOff: boolean;
  /** The CPU's irq state is not supported (`X`). */
  irqsUnsupported: boolean;
  /** Any need-resched letter in the second column. */
  needResched: boolean;
  /** The context column. */
  context: IrqContext;
  /** Preempt depth (hex digit; 0 for `.`). */
  preemptDepth: number;
  /** Migrate-disable depth (hex digit; 0 for `.` or when the column is absent, before 5.14). */
  migrateDisable: number;
}

const CONTEXTS: Readonly<Record<string, IrqContext>> = {
  ".": "task",
  s: "softirq",
  h: "hardirq",
  H: "hardirq_in_softirq",
  z: "nmi",
  Z: "nmi_in_hardirq",
};

function depth(c: string | undefined): number {
  if (c === undefined || c === ".") return 0;
  const v = Number.parseInt(c, 16);
  return Number.isNaN(v) ? 0 : v;
}

/**
 * Decode an irq-flags field of 4 to 8 characters; null when it has fewer than 4.
 *
 * @param flags The field as printed (`d.h1.`, `..s1.`, `dNh2.l`).
 * @returns The decoded flags.
 *
 * @example A softirq unmap (kernel-spec §11 test 38)
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeIrqFlags } from "./irq_flags.ts";
 * const f = decodeIrqFlags("..s1.")!;
 * assert.equal(f.context, "softirq");
 * assert.equal(f.preemptDepth, 1);
 * assert.equal(f.irqsOff, false);
 * ```
 */
export function decodeIrqFlags(flags: string): IrqFlags | null {
  if (flags.length < 4) return null;
  const irq = flags[0]!;
  return {
    irqsOff: irq === "d" || irq === "D",
    bhOff: irq === "b" || irq === "D",
    irqsUnsupported: irq === "X",
    needResched: flags[1] !== ".",
    context: CONTEXTS[flags[2]!] ?? "task",
    preemptDepth: depth(flags[3]),
    migrateDisable: flags.length >= 5 ? depth(flags[4]) : 0,
  };
}
