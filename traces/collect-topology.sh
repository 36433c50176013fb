#!/bin/sh
# collect-topology.sh: gather what dmareplay's topology needs, read-only, into one text file.
# Run it on the machine where the capture was taken (root gives lspci the ACS bits):
#   sh collect-topology.sh > host.dump
#   dmareplay topology import host.dump > host.topology.json
# It reads sysfs (/sys/bus/pci/devices, /sys/kernel/iommu_groups, /sys/class/iommu),
# /proc/cpuinfo, /proc/iomem and /proc/cmdline, and runs `lspci -vvv -nn -D` and
# `lspci -b -vv -D` when lspci exists. It changes nothing.
set -u
LC_ALL=C
export LC_ALL

say() { printf '%s\n' "$*"; }
indent() { sed 's/^/  /'; }

say "# dmareplay topology dump v1"
say "# $(uname -srm 2>/dev/null)"
say "[cpu]"
grep -m1 '^vendor_id' /proc/cpuinfo 2>/dev/null | sed 's/[[:space:]]*:[[:space:]]*/=/; s/^/  /'
grep -m1 '^cpu family' /proc/cpuinfo 2>/dev/null | sed 's/[[:space:]]*:[[:space:]]*/=/; s/ /_/; s/^/  /'
grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/[[:space:]]*:[[:space:]]*/=/; s/ /_/; s/^/  /'
grep -m1 '^CPU implementer' /proc/cpuinfo 2>/dev/null | sed 's/[[:space:]]*:[[:space:]]*/=/; s/ /_/; s/^/  /'

say "[cmdline]"
indent < /proc/cmdline

have_lspci=0
command -v lspci >/dev/null 2>&1 && have_lspci=1

for d in /sys/bus/pci/devices/*; do
  [ -e "$d" ] || continue
  b=$(basename "$d")
  say "[device $b]"
  say "  path=$(readlink -f "$d")"
  for f in vendor device class revision dma_mask_bits consistent_dma_mask_bits numa_node; do
    [ -r "$d/$f" ] && say "  $f=$(cat "$d/$f" 2>/dev/null)"
  done
  [ -L "$d/driver" ] && say "  driver=$(basename "$(readlink "$d/driver")")"
  # A block device's queue limits show the DMA max segment size its driver set (NVMe: 4 GiB - 1).
  for q in "$d"/*/*/queue/max_segment_size "$d"/*/*/*/queue/max_segment_size; do
    [ -r "$q" ] && { say "  max_segment_size=$(cat "$q")"; break; }
  done
  [ -L "$d/iommu_group" ] && say "  iommu_group=$(basename "$(readlink "$d/iommu_group")")"
  [ -L "$d/iommu" ] && say "  iommu=$(basename "$(readlink "$d/iommu")")"
  if [ -r "$d/resource" ]; then
    say "  resource:"
    sed 's/^/    /' "$d/resource"
  fi
  if [ "$have_lspci" = 1 ]; then
    say "  lspci:"
    lspci -vvv -nn -D -s "$b" 2>/dev/null | sed 's/^/    /'
    say "  lspci_bus:"
    lspci -b -vv -D -s "$b" 2>/dev/null | grep -E '^[[:space:]]*Region [0-9]' | sed 's/^[[:space:]]*/    /'
  fi
done

for g in /sys/kernel/iommu_groups/*; do
  [ -e "$g" ] || continue
  say "[iommu_group $(basename "$g")]"
  [ -r "$g/type" ] && say "  type=$(cat "$g/type" 2>/dev/null)"
  say "  devices=$(ls "$g/devices" 2>/dev/null | tr '\n' ' ')"
  if [ -r "$g/reserved_regions" ]; then
    say "  reserved:"
    sed 's/^/    /' "$g/reserved_regions"
  fi
done

for i in /sys/class/iommu/*; do
  [ -e "$i" ] || continue
  say "[iommu $(basename "$i")]"
  for f in "$i"/intel-iommu/* "$i"/amd-iommu/*; do
    [ -f "$f" ] && say "  $(basename "$f")=$(cat "$f" 2>/dev/null)"
  done
done

say "[iomem]"
grep -i 'PCI Bus' /proc/iomem 2>/dev/null | indent

if [ "$have_lspci" = 0 ]; then
  say "# note: lspci not found: ACS bits and bus addresses are not in this dump"
fi
