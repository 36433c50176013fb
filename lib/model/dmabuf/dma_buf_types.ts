/**
 * The dma-buf objects and contracts (the model's include/linux/dma-buf.h): buffer and
 * attachment state, the exporter's ops (`struct dma_buf_ops`), the importer's `move_notify`,
 * and the anomaly codes of kernel-spec §8.5.
 *
 * @module
 */

/** Buffer states (§8.5). */
export type DmaBufState = "LIVE" | "REVOKED" | "DEAD" | "RELEASED";

/** How an importer treats revocation (§8.5 importer kinds). */
export type ImporterKind = "dynamic" | "pinned" | "static";

/** The dma-buf anomaly codes (DESIGN.md "Anomalies"). */
export type DmaBufAnomalyCode =
  | "DMABUF_MAPPING_OUTLIVES_REVOKE"
  | "DMABUF_MAP_WHILE_REVOKED"
  | "DMABUF_ATTACH_WITHOUT_P2P"
  | "DMABUF_PINNED_ON_REVOCABLE"
  | "DMABUF_UNMAP_NOT_MAPPED"
  | "DMABUF_DOUBLE_UNMAP"
  | "DMABUF_DETACH_WITH_MAPPINGS"
  | "DMABUF_RELEASE_WITH_ATTACHMENTS"
  | "DMABUF_OP_AFTER_RELEASE";

/** One anomaly: a stable code, where, and why. */
export interface DmaBufAnomaly {
  /** The code. */
  readonly code: DmaBufAnomalyCode;
  /** 1-based trace line of the operation that showed it (0 at end of trace). */
  readonly line: number;
  /** Earlier lines it involves (the map, the revoke, ...). */
  readonly related: readonly number[];
  /** Buffer id. */
  readonly buf: number;
  /** Attachment id, or -1. */
  readonly attach: number;
  /** One line of explanation. */
  readonly message: string;
}

/** The exporter's side of the contract (`struct dma_buf_ops`). */
export interface DmaBufExporter {
  /** Exporter name (`exp_name`). */
  readonly name: string;
  /** It exports MMIO (P2P) memory: importers must allow peer2peer. */
  readonly p2pMemory: boolean;
  /** It can revoke (move_notify on reset, close, ...). */
  readonly revocable: boolean;
  /** `attach` op: 0 or the errno. */
  attach(buf: DmaBufInfo, att: DmaBufAttachmentInfo): 0 | string;
  /** `map_dma_buf`: 0 or the errno (the mapping itself is the exporter's business). */
  map(buf: DmaBufInfo, att: DmaBufAttachmentInfo, line: number): 0 | string;
  /** `unmap_dma_buf`. */
  unmap(buf: DmaBufInfo, att: DmaBufAttachmentInfo, line: number): void;
  /** `get_pfn` (seed 004): exporters without it refuse PFN importers. */
  getPfn?(buf: DmaBufInfo, att: DmaBufAttachmentInfo, pgoff: bigint): DmaBufPfn;
}

/** An importer's `move_notify` callback. */
export type MoveNotifyHandler = (att: number, line: number, nowNs: number) => void;

/** What `get_pfn` returns. */
export interface DmaBufPfn {
  /** 0 or the errno. */
  readonly errno: 0 | string;
  /** The page frame number (-1n on failure). */
  readonly pfn: bigint;
  /** Largest order the importer may map at that PFN. */
  readonly maxOrder: number;
}

/** What the core knows of a buffer. */
export interface DmaBufInfo {
  /** Id. */
  readonly id: number;
  /** Bytes. */
  readonly sizeBytes: bigint;
  /** State. */
  state: DmaBufState;
  /** The exporter. */
  readonly exporter: DmaBufExporter;
  /** Line of the export. */
  readonly exportLine: number;
  /** Line and time of the last revoke (-1 when none). */
  revokeLine: number;
  /** Live attachments. */
  readonly attachments: Set<number>;
  /** The BAR memory it exports, when the trace says (vfio export probe fetch-args). */
  barSource: DmaBufBarSource | null;
}

/** Which BAR memory a buffer exports: device, BAR, and ranges as offsets into the BAR. */
export interface DmaBufBarSource {
  /** The exporting function. */
  readonly device: string;
  /** The BAR (`region_index`). */
  readonly barIndex: number;
  /** Ranges into the BAR. */
  readonly ranges: readonly { readonly offsetBytes: bigint; readonly lengthBytes: bigint }[];
}

/** What the core knows of an attachment. */
export interface DmaBufAttachmentInfo {
  /** Id. */
  readonly id: number;
  /** The buffer. */
  readonly buf: number;
  /** Importing device. */
  readonly device: string;
  /** Importer kind. */
  readonly importer: ImporterKind;
  /** `attach->peer2peer`. */
  readonly peer2peer: boolean;
  /** Line of the attach. */
  readonly attachLine: number;
  /** Line of the detach (-1 while attached). */
  detachLine: number;
  /** Attached (false after detach). */
  attached: boolean;
  /** `dma_buf_pin` held. */
  pinned: boolean;
  /** Lines of the live mappings, oldest first. */
  readonly mapLines: number[];
  /** Line of the last unmap that left it unmapped (-1 when none). */
  lastUnmapLine: number;
  /** move_notify told it to unmap, and it has not yet. */
  invalidating: boolean;
  /** Time (ns) of that move_notify. */
  invalidatedAtNs: number;
}

/** One operation, as `DmaBufCoreOptions.onOp` sees it. */
export interface DmaBufOpEvent {
  /** The dma-buf function (`dma_buf_map_attachment`, ...). */
  readonly op: DmaBufOpName;
  /** The buffer. */
  readonly buf: number;
  /** The attachment, or -1. */
  readonly attach: number;
  /** Trace line. */
  readonly line: number;
  /** Trace time (NaN when the caller has none). */
  readonly nowNs: number;
  /** For move_notify: the attachments live at that moment (the state goes on changing). */
  readonly attached: readonly number[];
}

/** The operations `DmaBufCoreOptions.onOp` reports. */
export type DmaBufOpName =
  | "dma_buf_export"
  | "dma_buf_attach"
  | "dma_buf_map_attachment"
  | "dma_buf_unmap_attachment"
  | "dma_buf_move_notify"
  | "dma_buf_get_pfn"
  | "dma_buf_detach"
  | "dma_buf_release";
