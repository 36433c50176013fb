// The ingest pieces the capture-prediction test reads events with.
export { parseTrace, u64AsNumber, u64At as u64As } from "../../ingest/mod.ts";
