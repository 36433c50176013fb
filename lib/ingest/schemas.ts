/**
 * The event catalogue: every tracepoint of kernel-spec §2 and `shared/kernel-formats/` (kernels
 * 6.1, 6.12, 6.18, 7.3), as field lists the generic payload parser walks.
 *
 * A field has the key its `TP_printk` text prints (`textKey`), the name of the format's field
 * that `trace-cmd report -R` prints instead (`rawKey`), and a kind that says how its value is
 * written. Bare words of the text form (the device name before the first key, `IOMMU:`, the
 * `- 0x...` end address of `iommu:map`, ` [TRUNCATED]`) are matched in order against `bare`.
 *
 * @module
 */

/**
 * How a field's value is printed and stored:
 * - `str` interned text (device names), one `Int32Array` column of string ids;
 * - `hex` a u64 printed `%llx` or `0x%016llx` (`Uint32Array` lo/hi pairs);
 * - `dec` a `%zu`/`%lu` number (`Float64Array`);
 * - `int` a `%d` number (`Int32Array`);
 * - `dir` `enum dma_data_direction`, symbolic or hex (`Int32Array`, -1 when absent);
 * - `attrs` DMA attribute names joined by `|` (bit mask column plus a `_text` column);
 * - `gfp` gfp flag names, kept as interned text;
 * - `frac` `shown/full` (`Int32Array` column plus a `_full` column);
 * - `u64s` a `{0x..,0x..}` array (`_start`/`_len` columns into the batch's u64 pool);
 * - `flag` a bare word that is present or not (`Int32Array` 0/1);
 * - `sym` a bare word out of `symbols` (`Int32Array` index).
 */
export type FieldKind =
  | "str"
  | "hex"
  | "dec"
  | "int"
  | "dir"
  | "attrs"
  | "gfp"
  | "frac"
  | "u64s"
  | "flag"
  | "sym";

/** One field of an event format. */
export interface FieldDef {
  /** Our name for it (the format's field name where it has one). */
  readonly name: string;
  /** How its value is written and stored. */
  readonly kind: FieldKind;
  /** The key `TP_printk` prints (`dma_addr` in `dma_addr=%llx`); `""` for a bare word. */
  readonly textKey: string;
  /** The format's field name, as `trace-cmd report -R` prints it. */
  readonly rawKey: string;
  /** Present in every line of the current format (missing → `missing_field`). */
  readonly required: boolean;
  /** For `sym`: the words, index = stored value. For `flag`: the one word. Else undefined. */
  readonly symbols: readonly string[] | undefined;
}

/** A bare word of the text form, matched in order. */
export interface BareDef {
  /** The exact word (e.g. `IOMMU:`, `-`); a word that only has to start with `prefix` when absent. */
  readonly literal?: string;
  /** The word must start with this; the rest is the field's value. */
  readonly prefix?: string;
  /** The field that takes the word (or the rest after `prefix`); none for a literal. */
  readonly field?: string;
  /** May be missing. */
  readonly optional?: boolean;
}

/** One event format. */
export interface EventSchema {
  /** Event name as a trace line prints it (`dma_map_phys`, `map`). */
  readonly name: string;
  /** Trace system. */
  readonly system: "dma" | "iommu" | "dma_buf" | "swiotlb";
  /** Its fields, in the order the text form prints them. */
  readonly fields: readonly FieldDef[];
  /** Bare words of the text form, in order. */
  readonly bare: readonly BareDef[];
  /** Keys printed `key:value` instead of `key=value` (`attachment:%p`). */
  readonly colonKeys: readonly string[];
  /**
   * Words that start a text-form payload and never a raw one: when the first word has an `=`
   * and the schema's text form starts with a bare word, the line is `-R` raw output.
   */
  readonly startsBare: boolean;
}

/** The dma_data_direction names, index = value (kernel-spec §2.1). */
export const DMA_DIRECTIONS = ["BIDIRECTIONAL", "TO_DEVICE", "FROM_DEVICE", "NONE"] as const;

/** The dma:* tracepoints of a DMA-API map that can take an IOVA (all kernel generations). */
export const DMA_MAP_EVENTS: ReadonlySet<string> = new Set([
  "dma_map_page",
  "dma_map_sg",
  "dma_alloc",
  "dma_map_resource",
  "dma_map_phys",
]);

/**
 * DMA attribute names and their bits as the 6.12–7.3 formats print them (kernel-spec §2.1).
 * The newer names' bits differ between trees; these are those of `linux-7.3.4`.
 */
export const DMA_ATTR_BITS: Readonly<Record<string, number>> = {
  WEAK_ORDERING: 1 << 1,
  WRITE_COMBINE: 1 << 2,
  NO_KERNEL_MAPPING: 1 << 4,
  SKIP_CPU_SYNC: 1 << 5,
  FORCE_CONTIGUOUS: 1 << 6,
  ALLOC_SINGLE_PAGES: 1 << 7,
  NO_WARN: 1 << 8,
  PRIVILEGED: 1 << 9,
  MMIO: 1 << 10,
  CACHELINES_OVERLAP: 1 << 11,
  REQUIRE_COHERENT: 1 << 12,
  CC_SHARED: 1 << 13,
  ALLOC_CC_SHARED: 1 << 14,
};

function f(
  name: string,
  kind: FieldKind,
  opts: { text?: string; raw?: string; required?: boolean; symbols?: readonly string[] } = {},
): FieldDef {
  // Every field definition has the same properties in the same order (one hidden class): the
  // payload walker reads them on every field of every line.
  return {
    name,
    kind,
    textKey: opts.text ?? name,
    rawKey: opts.raw ?? name,
    required: opts.required ?? false,
    symbols: opts.symbols,
  };
}

function schema(
  name: string,
  system: EventSchema["system"],
  fields: FieldDef[],
  bare: BareDef[],
  colonKeys: string[] = [],
): EventSchema {
  return {
    name,
    system,
    fields,
    bare,
    colonKeys,
    startsBare: bare.length > 0 && !bare[0]!.optional,
  };
}

const DEVICE = f("device", "str", { text: "", required: true });
const DEVICE_BARE: BareDef = { field: "device" };
const DIR = f("dir", "dir");
const DMA_ADDR = f("dma_addr", "hex", { required: true });
const SIZE = f("size", "dec", { required: true });
const ATTRS = f("attrs", "attrs");

function dmaMapSingle(name: string): EventSchema {
  return schema(name, "dma", [
    DEVICE,
    DIR,
    DMA_ADDR,
    SIZE,
    f("phys_addr", "hex", { required: true }),
    ATTRS,
  ], [DEVICE_BARE]);
}

function dmaUnmapSingle(name: string): EventSchema {
  return schema(name, "dma", [
    DEVICE,
    DIR,
    f("dma_addr", "hex", { raw: "addr", required: true }),
    SIZE,
    ATTRS,
  ], [
    DEVICE_BARE,
  ]);
}

function dmaAlloc(name: string): EventSchema {
  return schema(name, "dma", [
    DEVICE,
    DIR,
    DMA_ADDR,
    SIZE,
    f("virt_addr", "hex"),
    f("flags", "gfp"),
    ATTRS,
  ], [DEVICE_BARE]);
}

function dmaFree(name: string): EventSchema {
  return schema(name, "dma", [DEVICE, DIR, DMA_ADDR, SIZE, f("virt_addr", "hex"), ATTRS], [
    DEVICE_BARE,
  ]);
}

function dmaSyncSingle(name: string): EventSchema {
  return schema(name, "dma", [DEVICE, DIR, DMA_ADDR, SIZE], [DEVICE_BARE]);
}

function dmaSyncSg(name: string): EventSchema {
  return schema(name, "dma", [
    DEVICE,
    DIR,
    f("dma_addrs", "u64s", { required: true }),
    f("sizes", "u64s", { raw: "lengths", required: true }),
  ], [DEVICE_BARE]);
}

function iommuGroup(name: string): EventSchema {
  return schema(name, "iommu", [
    f("group_id", "int", { text: "groupID", raw: "gid" }),
    f("device", "str"),
  ], [
    { literal: "IOMMU:" },
  ]);
}

function iommuDevice(name: string): EventSchema {
  return schema(name, "iommu", [f("device", "str", { required: true })], [{ literal: "IOMMU:" }]);
}

function dmaBufSimple(name: string, withFd: boolean): EventSchema {
  const fields = [f("exp_name", "str", { required: true }), f("size", "dec"), f("ino", "dec")];
  if (withFd) fields.push(f("fd", "int"));
  return schema(name, "dma_buf", fields, []);
}

function dmaBufAttach(name: string): EventSchema {
  return schema(
    name,
    "dma_buf",
    [
      f("exp_name", "str", { required: true }),
      f("size", "dec"),
      f("ino", "dec"),
      f("attach", "hex", { text: "attachment" }),
      f("is_dynamic", "int"),
      f("dev_name", "str"),
    ],
    [],
    ["attachment"],
  );
}

/** Every known tracepoint schema. */
export const EVENT_SCHEMAS: readonly EventSchema[] = [
  // dma: 6.12 generation (dma_map_page / dma_map_resource) and 6.18+ (dma_map_phys).
  dmaMapSingle("dma_map_phys"),
  dmaMapSingle("dma_map_page"),
  dmaMapSingle("dma_map_resource"),
  dmaUnmapSingle("dma_unmap_phys"),
  dmaUnmapSingle("dma_unmap_page"),
  dmaUnmapSingle("dma_unmap_resource"),
  dmaAlloc("dma_alloc"),
  dmaAlloc("dma_alloc_pages"),
  dmaAlloc("dma_alloc_sgt_err"),
  schema("dma_alloc_sgt", "dma", [
    DEVICE,
    DIR,
    DMA_ADDR,
    SIZE,
    f("phys_addrs", "u64s"),
    f("flags", "gfp"),
    ATTRS,
  ], [DEVICE_BARE]),
  dmaFree("dma_free"),
  dmaFree("dma_free_pages"),
  schema("dma_free_sgt", "dma", [DEVICE, DIR, DMA_ADDR, SIZE, f("phys_addrs", "u64s")], [
    DEVICE_BARE,
  ]),
  schema("dma_map_sg", "dma", [
    DEVICE,
    DIR,
    f("nents", "frac", { raw: "full_nents" }),
    f("ents", "frac", { raw: "full_ents" }),
    f("truncated", "flag", { text: "", symbols: ["[TRUNCATED]"] }),
    f("dma_addrs", "u64s", { required: true }),
    f("sizes", "u64s", { raw: "lengths", required: true }),
    f("phys_addrs", "u64s", { required: true }),
    ATTRS,
  ], [DEVICE_BARE, { literal: "[TRUNCATED]", field: "truncated", optional: true }]),
  // The array printed as dma_addrs= holds the input entries' physical addresses (kernel-spec §2.1).
  schema("dma_map_sg_err", "dma", [
    DEVICE,
    DIR,
    f("phys_addrs", "u64s", { text: "dma_addrs", required: true }),
    f("err", "int", { required: true }),
    ATTRS,
  ], [DEVICE_BARE]),
  schema("dma_unmap_sg", "dma", [
    DEVICE,
    DIR,
    f("phys_addrs", "u64s", { raw: "addrs", required: true }),
    ATTRS,
  ], [DEVICE_BARE]),
  dmaSyncSingle("dma_sync_single_for_cpu"),
  dmaSyncSingle("dma_sync_single_for_device"),
  dmaSyncSg("dma_sync_sg_for_cpu"),
  dmaSyncSg("dma_sync_sg_for_device"),
  // iommu: (kernel-spec §2.3; formats unchanged since 2013).
  iommuGroup("add_device_to_group"),
  iommuGroup("remove_device_from_group"),
  iommuDevice("attach_device_to_domain"),
  iommuDevice("detach_device_from_domain"),
  schema("map", "iommu", [
    f("iova", "hex", { required: true }),
    f("iova_end", "hex", { text: "" }),
    f("paddr", "hex", { required: true }),
    f("size", "dec", { required: true }),
  ], [{ literal: "IOMMU:" }, { literal: "-", optional: true }, {
    field: "iova_end",
    optional: true,
  }]),
  schema("unmap", "iommu", [
    f("iova", "hex", { required: true }),
    f("iova_end", "hex", { text: "" }),
    f("size", "dec", { required: true }),
    f("unmapped_size", "dec", { required: true }),
  ], [{ literal: "IOMMU:" }, { literal: "-", optional: true }, {
    field: "iova_end",
    optional: true,
  }]),
  schema("io_page_fault", "iommu", [
    f("driver", "str", { text: "" }),
    f("device", "str", { text: "", required: true }),
    f("iova", "hex", { required: true }),
    f("flags", "hex"),
  ], [{ prefix: "IOMMU:", field: "driver" }, { field: "device" }]),
  // dma_buf: (7.x).
  dmaBufSimple("dma_buf_export", false),
  dmaBufSimple("dma_buf_mmap", false),
  dmaBufSimple("dma_buf_mmap_internal", false),
  dmaBufSimple("dma_buf_put", false),
  dmaBufSimple("dma_buf_fd", true),
  dmaBufSimple("dma_buf_get", true),
  dmaBufAttach("dma_buf_dynamic_attach"),
  dmaBufAttach("dma_buf_detach"),
  // swiotlb:
  schema("swiotlb_bounced", "swiotlb", [
    f("dev_name", "str", { text: "", required: true }),
    f("dma_mask", "hex"),
    f("dev_addr", "hex", { required: true }),
    f("size", "dec", { required: true }),
    f("force", "sym", { text: "", symbols: ["NORMAL", "FORCE"] }),
  ], [{ literal: "dev_name:" }, { field: "dev_name" }, { field: "force", optional: true }]),
];

/** Schemas by event name. */
export const SCHEMA_BY_NAME: ReadonlyMap<string, EventSchema> = new Map(
  EVENT_SCHEMAS.map((s) => [s.name, s]),
);
