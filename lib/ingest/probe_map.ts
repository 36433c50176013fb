/**
 * Probe maps: JSON that binds probe names (user-chosen) or probed functions to kernel meanings
 * (`probe_meanings.ts`) and renames printed arguments to the meaning's argument names.
 *
 * ```json
 * { "version": 1,
 *   "probes": [
 *     { "name": "iova_alloc", "kind": "return", "meaning": "alloc_iova_fast", "args": { "pfn": "ret" } },
 *     { "function": "free_iova_fast", "kind": "entry", "meaning": "free_iova_fast" } ] }
 * ```
 *
 * A probe line matches the first entry whose `name` equals its event name (and `kind`, when
 * given); failing that, the first entry without `name` whose `function` equals the probed
 * function and whose `kind` matches.
 *
 * @module
 */

import { PROBE_MEANINGS } from "./probe_meanings.ts";

/** Entry or return side of a probe. */
export type ProbeKind = "entry" | "return";

/** One binding of a probe map. */
export interface ProbeBinding {
  /** Probe (event) name, as the trace prints it. */
  readonly name?: string;
  /** Probed function. */
  readonly function?: string;
  /** Entry (kprobe, fprobe entry) or return (kretprobe, fprobe exit); both when absent. */
  readonly kind?: ProbeKind;
  /** The kernel function it stands for (a key of `PROBE_MEANINGS`). */
  readonly meaning: string;
  /** Meaning's argument name → printed argument name. */
  readonly args?: Readonly<Record<string, string>>;
}

/** A validated probe map. */
export interface ProbeMap {
  /** Format version (1). */
  readonly version: 1;
  /** Bindings, tried in order. */
  readonly probes: readonly ProbeBinding[];
}

/** A problem in a JSON input, with its JSON pointer. */
export interface JsonError {
  /** RFC 6901 pointer to the value (`/probes/3/meaning`). */
  readonly pointer: string;
  /** What was expected. */
  readonly message: string;
}

/** Result of {@linkcode validateProbeMap}. */
export type ProbeMapResult =
  | { readonly ok: true; readonly map: ProbeMap }
  | { readonly ok: false; readonly errors: readonly JsonError[] };

const BINDING_KEYS = new Set(["name", "function", "kind", "meaning", "args", "comment"]);

/**
 * Check a parsed JSON value against the probe map format.
 *
 * @param json The parsed JSON.
 * @returns The map, or every error with its pointer.
 *
 * @example A map with a wrong meaning
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateProbeMap } from "./probe_map.ts";
 * const r = validateProbeMap({ version: 1, probes: [{ name: "p1", meaning: "no_such_fn" }] });
 * assert.equal(r.ok, false);
 * if (!r.ok) assert.equal(r.errors[0]!.pointer, "/probes/0/meaning");
 * ```
 */
export function validateProbeMap(json: unknown): ProbeMapResult {
  const errors: JsonError[] = [];
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return {
      ok: false,
      errors: [{ pointer: "", message: 'expected an object with "version" and "probes"' }],
    };
  }
  const o = json as Record<string, unknown>;
  if (o.version !== 1) errors.push({ pointer: "/version", message: "expected 1" });
  if (!Array.isArray(o.probes)) {
    errors.push({ pointer: "/probes", message: "expected an array of bindings" });
    return { ok: false, errors };
  }
  const probes: ProbeBinding[] = [];
  o.probes.forEach((p: unknown, i: number) => {
    const at = `/probes/${i}`;
    if (typeof p !== "object" || p === null || Array.isArray(p)) {
      errors.push({ pointer: at, message: "expected an object" });
      return;
    }
    const b = p as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      if (!BINDING_KEYS.has(k)) {
        errors.push({
          pointer: `${at}/${k}`,
          message: `unknown key; expected one of ${[...BINDING_KEYS].join(", ")}`,
        });
      }
    }
    if (b.name !== undefined && (typeof b.name !== "string" || b.name === "")) {
      errors.push({ pointer: `${at}/name`, message: "expected a non-empty string" });
    }
    if (b.function !== undefined && (typeof b.function !== "string" || b.function === "")) {
      errors.push({ pointer: `${at}/function`, message: "expected a non-empty string" });
    }
    if (b.name === undefined && b.function === undefined) {
      errors.push({ pointer: at, message: 'expected "name" or "function" to match on' });
    }
    if (b.kind !== undefined && b.kind !== "entry" && b.kind !== "return") {
      errors.push({ pointer: `${at}/kind`, message: 'expected "entry" or "return"' });
    }
    const meaning = typeof b.meaning === "string" ? PROBE_MEANINGS[b.meaning] : undefined;
    if (meaning === undefined) {
      errors.push({
        pointer: `${at}/meaning`,
        message: "expected a known kernel function (see README, probe maps)",
      });
    }
    if (b.args !== undefined) {
      if (typeof b.args !== "object" || b.args === null || Array.isArray(b.args)) {
        errors.push({
          pointer: `${at}/args`,
          message: "expected an object: meaning argument → printed name",
        });
      } else {
        for (const [k, v] of Object.entries(b.args)) {
          if (typeof v !== "string" || v === "") {
            errors.push({
              pointer: `${at}/args/${k}`,
              message: "expected the printed argument name",
            });
          }
          if (
            meaning !== undefined && !meaning.entryArgs.includes(k) && k !== "retval" &&
            k !== meaning.returns && !(meaning.fetchArgs ?? []).includes(k)
          ) {
            errors.push({
              pointer: `${at}/args/${k}`,
              message: `not an argument of ${String(b.meaning)}; expected one of ${
                [...meaning.entryArgs, ...(meaning.fetchArgs ?? []), "retval"].join(", ")
              }`,
            });
          }
        }
      }
    }
    const binding: Record<string, unknown> = { meaning: b.meaning };
    for (const k of ["name", "function", "kind", "args"] as const) {
      if (b[k] !== undefined) binding[k] = b[k];
    }
    probes.push(binding as unknown as ProbeBinding);
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, map: { version: 1, probes } };
}

/**
 * Index of the binding a probe line matches, or -1.
 *
 * @param map The probe map.
 * @param name The probe (event) name.
 * @param fn The probed function.
 * @param kind Entry or return.
 * @returns The binding's index in `map.probes`.
 */
export function resolveProbe(map: ProbeMap, name: string, fn: string, kind: ProbeKind): number {
  const probes = map.probes;
  for (let i = 0; i < probes.length; ++i) {
    const p = probes[i]!;
    if (p.name === name && (p.kind === undefined || p.kind === kind)) return i;
  }
  for (let i = 0; i < probes.length; ++i) {
    const p = probes[i]!;
    if (p.name === undefined && p.function === fn && (p.kind === undefined || p.kind === kind)) {
      return i;
    }
  }
  return -1;
}

/**
 * The printed name of a meaning's argument under a binding (the binding's `args`, else the
 * same name).
 *
 * @param binding The matched binding.
 * @param arg The meaning's argument name (`retval` for the return value).
 * @returns The name to look for in the probe's printed arguments.
 */
export function printedArgName(binding: ProbeBinding, arg: string): string {
  return binding.args?.[arg] ?? arg;
}
