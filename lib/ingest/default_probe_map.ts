/**
 * The default probe map (`traces/default.probes.json`): the probe names of the shared
 * captures and of kernel-spec §1.5, and every probe-able function of kernel-spec §2.4 by name.
 *
 * @module
 */

import json from "../../traces/default.probes.json" with { type: "json" };
import { type ProbeMap, validateProbeMap } from "./probe_map.ts";

function load(): ProbeMap {
  const r = validateProbeMap(json);
  if (!r.ok) {
    throw new Error(
      `Invariant violated: the default probe map is invalid at "${r.errors[0]!.pointer}"`,
    );
  }
  return r.map;
}

/** The probe map used when none is given. */
export const DEFAULT_PROBE_MAP: ProbeMap = load();
