/**
 * The cost model (issue [5/8]): cost profiles whose every number names its source, the modeled
 * CPU cost of each replayed operation, and the calibration that fits a profile to the
 * durations a capture measured.
 *
 * @example Model a strict 4 KiB unmap, then fit the profile to two measured unmaps
 * ```ts
 * import assert from "node:assert/strict";
 * import { CostCalibrator, costFeatures, DEFAULT_COST_PROFILE, modeledNs } from "./mod.ts";
 * const op = { op: "dma_unmap_page", iovaSource: "rcache", pteWrites: 1, iotlbInvalidations: 1, sgEntries: 0 };
 * assert.equal(modeledNs(DEFAULT_COST_PROFILE, op), 120 + 100 + 60 + 800);
 * const c = new CostCalibrator({ source: "calibrated from a test" });
 * c.add(costFeatures(op), 2000);
 * c.add(costFeatures({ ...op, pteWrites: 3 }), 2400);
 * assert.equal(Math.round(c.fit(DEFAULT_COST_PROFILE).profile.cpu.pte_write.value), 200);
 * ```
 *
 * @module
 */

export {
  COST_TERMS,
  type CostedOp,
  costFeatures,
  type CostFigure,
  type CostProfile,
  type CostProfileResult,
  type CostStatus,
  type CostTerm,
  DATA_PATH_TERMS,
  type DataPathTerm,
  DEFAULT_COST_PROFILE,
  modeledNs,
  modeledNsOf,
  validateCostProfile,
} from "./cost_profile.ts";
export {
  type CalibratedTerm,
  type CalibrationResult,
  CostCalibrator,
  type CostCalibratorOptions,
} from "./calibrate.ts";
