// Writes a deterministic ftrace `trace` text of dma:/iommu: lines and iova kprobes, in the
// kernel's exact widths, to stdout: `deno run bench/gen_trace.ts BYTES [SEED]`.
// The mix follows the shared a_strict capture (per 100 lines: ~72 iommu:map, 5 unmap,
// 3+3 dma_map/unmap_page, 2+2 dma_map/unmap_sg, 5+5 iova_alloc/iova_free probes... rounded).
// (The workload synthesizer of lib/synth replaces this once it exists.)

const target = Number(Deno.args[0] ?? 1e9);
let seed = Number(Deno.args[1] ?? 1) >>> 0;
function rand(): number {
  // xorshift32: deterministic for a seed
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 4294967296;
}

const hex16 = (v: number) => v.toString(16).padStart(16, "0");
const TASKS = [
  "              dd-494     ",
  "          <idle>-0       ",
  "     kworker/1:2-77      ",
  "       fio job 3-1201    ",
];
const FLAGS = [".....", "d.h1.", "..s1.", "dNh2."];
const header = `# tracer: nop
#
# entries-in-buffer/entries-written: 0/0   #P:8
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;
const enc = new TextEncoder();
const out = Deno.stdout.writable.getWriter();
let written = 0;
let usecs = 8_000_000;
const parts: string[] = [header];
let partBytes = header.length;
while (written + partBytes < target) {
  usecs += 1 + Math.floor(rand() * 3);
  const cpu = Math.floor(rand() * 8);
  const t = Math.floor(rand() * TASKS.length);
  const ts = `${String(Math.floor(usecs / 1e6)).padStart(5)}.${
    String(usecs % 1e6).padStart(6, "0")
  }`;
  const pre = `${TASKS[t]}[${String(cpu).padStart(3, "0")}] ${FLAGS[t]} ${ts}: `;
  const iova = 0xfff00000 + Math.floor(rand() * 0xf0000) * 0x1000 % 0xfffff000;
  const phys = 0x2000000 + Math.floor(rand() * 0x100000) * 0x1000;
  const pages = 1 + Math.floor(rand() * 32);
  const size = pages * 4096;
  const k = rand();
  let line: string;
  if (k < 0.72) {
    line = `map: IOMMU: iova=0x${hex16(iova)} - 0x${hex16(iova + size)} paddr=0x${
      hex16(phys)
    } size=${size}`;
  } else if (k < 0.77) {
    line = `unmap: IOMMU: iova=0x${hex16(iova)} - 0x${
      hex16(iova + size)
    } size=${size} unmapped_size=${size}`;
  } else if (k < 0.80) {
    line = `dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=${
      iova.toString(16)
    } size=${size} phys_addr=${phys.toString(16)} attrs=`;
  } else if (k < 0.83) {
    line = `dma_unmap_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=${
      iova.toString(16)
    } size=${size} attrs=`;
  } else if (k < 0.85) {
    const n = 1 + Math.floor(rand() * 8);
    const ph = Array.from({ length: n }, (_, i) => "0x" + (phys + i * 0x3000).toString(16)).join(
      ",",
    );
    line = `dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=${n}/${n} ents=1/1 dma_addrs={0x${
      iova.toString(16)
    }} sizes={0x${(n * 4096).toString(16)}} phys_addrs={${ph}} attrs=NO_WARN`;
  } else if (k < 0.87) {
    line = `dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x${phys.toString(16)},0x${
      (phys + 0x3000).toString(16)
    }} attrs=`;
  } else if (k < 0.935) {
    line = `iova_alloc: (iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=${
      Math.floor(iova / 4096)
    }`;
  } else {
    line = `iova_free: (free_iova_fast+0x4/0x140) pfn=0x${
      Math.floor(iova / 4096).toString(16)
    } size=0x${pages.toString(16)}`;
  }
  const full = pre + line + "\n";
  parts.push(full);
  partBytes += full.length;
  if (partBytes > 1 << 20) {
    const bytes = enc.encode(parts.join(""));
    await out.write(bytes);
    written += bytes.length;
    parts.length = 0;
    partBytes = 0;
  }
}
if (parts.length > 0) await out.write(enc.encode(parts.join("")));
await out.close();
