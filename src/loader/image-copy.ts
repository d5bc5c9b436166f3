/**
 * Image copies: under userfaultfd paging, a demand region's file pages are
 * mapped from a sealed memfd holding the file's bytes (shim/loader/image-copy.c)
 * and served as minor faults. Their bytes are then in the kernel's page
 * cache from the start, so whatever happens to the pager (killed, crashed,
 * out of memory), a page the program touches has the file's bytes: the
 * kernel maps it itself once nobody serves the fault.
 *
 * Pure: the regions a plan maps, in; which file bytes each copy must hold
 * and the regions as the loader maps them, out.
 */
import { PAGE_SIZE } from "./elf.ts";
import { mergeRanges, type FileRole, type Region } from "./plan.ts";

/** File bytes a copy must hold, at the same offset: page-aligned. */
export interface CopyPiece {
  offset: number;
  length: number;
}

/** A region as the loader maps it: from the copy (at the same offset as in
 * the file) or as the plan says. */
interface MappedRegion extends Region {
  fromCopy: boolean;
}

interface CopyLayout {
  regions: MappedRegion[];
  /** What each file's copy must hold; no entry: no copy is needed. */
  pieces: Partial<Record<FileRole, CopyPiece[]>>;
}

/**
 * The regions of a plan as the loader maps them under userfaultfd paging,
 * and the copies they need. A demand region with file bytes maps from the
 * copy, except the page where its file bytes end and the bss begins: that
 * page is mapped from the file and its tail zeroed at start, as the kernel's
 * padzero writes it at exec (so natively too it is never a later fault).
 * The copies hold the file's bytes only where some region maps them, each
 * clipped to the file's size (pages past it give SIGBUS, as the file's
 * would), so a copy costs what the program can touch, not the whole file.
 */
export function copyLayout(regions: readonly Region[], fileSizes: Partial<Record<FileRole, number>>): CopyLayout {
  const mapped: MappedRegion[] = [];
  const pieces: Partial<Record<FileRole, CopyPiece[]>> = {};
  for (const region of regions) {
    if (!region.demand || region.offset === null) {
      mapped.push({ ...region, fromCopy: false });
      continue;
    }
    let demandLength = region.length;
    if (region.zeroFrom) {
      const tailPage = region.zeroFrom - (region.zeroFrom % PAGE_SIZE);
      demandLength = tailPage - region.start;
      mapped.push(
        ...(demandLength > 0 ? [{ ...region, length: demandLength, zeroFrom: 0, fromCopy: true }] : []),
        {
          ...region,
          start: tailPage,
          length: region.start + region.length - tailPage,
          offset: region.offset + (tailPage - region.start),
          demand: false,
          populate: true,
          fromCopy: false,
        },
      );
    } else {
      mapped.push({ ...region, fromCopy: true });
    }
    const size = fileSizes[region.file] ?? Infinity;
    const end = Math.min(region.offset + demandLength, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
    if (demandLength > 0 && end > region.offset) (pieces[region.file] ??= []).push({ offset: region.offset, length: end - region.offset });
  }
  for (const role of Object.keys(pieces) as FileRole[]) pieces[role] = mergePieces(pieces[role]!);
  return { regions: mapped, pieces };
}

/** Pieces sorted and joined where they meet or overlap. */
function mergePieces(pieces: readonly CopyPiece[]): CopyPiece[] {
  const ranges = mergeRanges(pieces.map((p) => ({ start: p.offset, end: p.offset + p.length, name: "" })));
  return ranges.map((r) => ({ offset: r.start, length: r.end - r.start }));
}
