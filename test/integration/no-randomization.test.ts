/**
 * Without address randomization (`setarch -R`), the kernel's placement is
 * deterministic, so a loaded program's whole address map can be compared
 * with its native run's: the program, its heap, the interpreter, the vDSO
 * and its data pages, the libraries ld.so maps and the stack, each at the
 * same addresses with the same permissions, under every pager and both
 * paging mechanisms. What may differ is what the README's differences list:
 * the loader's own mappings (and its paging state, beside it), file pages
 * mapped from faultline's copies under userfaultfd (`/memfd:faultline:…`),
 * and, under SIGSEGV paging, reserved pages not yet touched (`---p`).
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { basename } from "node:path";
import { ROOT, buildProgram, type Variant } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

setDefaultTimeout(60_000);

const RUNS: Array<{ pager: string; flags: string[] }> = [
  { pager: "apager", flags: [] },
  { pager: "dpager", flags: ["--paging", "signal"] },
  { pager: "dpager", flags: ["--paging", "userfaultfd"] },
  { pager: "hpager", flags: ["--paging", "signal"] },
  { pager: "hpager", flags: ["--paging", "userfaultfd"] },
];

/** The loader's own part of the address space: its stack, image and plan,
 * and the memory SIGSEGV paging keeps beside them (shim/contract.h). */
const LOADER_AREA = { start: 0x1fffffff0000, end: 0x200500000000 };

interface Area {
  start: number;
  end: number;
  permissions: string;
  name: string;
}

/**
 * /proc/PID/maps as areas: the loader's left out, a file named by its base
 * name (a faultline copy by the file's), neighbours of the same name and
 * permissions merged (a page mapped apart from the rest of its segment).
 * `reservedUntouched`: under SIGSEGV paging, compare names only.
 */
function areas(maps: string, reservedUntouched: boolean): Area[] {
  const merged: Area[] = [];
  for (const line of maps.trim().split("\n")) {
    const [range, permissions, , , , ...rest] = line.split(/\s+/);
    const [start, end] = range!.split("-").map((n) => parseInt(n, 16));
    if (start! >= LOADER_AREA.start && end! <= LOADER_AREA.end) continue;
    const path = rest.join(" ").replace(/^\/memfd:faultline:/, "").replace(/ \(deleted\)$/, "");
    const name = path.startsWith("/") || !path.startsWith("[") ? basename(path) : path;
    const area = { start: start!, end: end!, permissions: reservedUntouched ? "" : permissions!, name };
    const last = merged[merged.length - 1];
    if (last && last.end === area.start && last.name === area.name && last.permissions === area.permissions) last.end = area.end;
    else merged.push(area);
  }
  return merged;
}

const hex = (a: Area) => `${a.start.toString(16)}-${a.end.toString(16)} ${a.permissions} ${a.name}`;

describe("without address randomization (setarch -R), the whole address map is the native one", () => {
  const variants: Variant[] = ["pie", "no-pie", "static-pie", "static"];
  const built = new Map<Variant, string>();
  beforeAll(async () => {
    for (const variant of variants) built.set(variant, await buildProgram("maps_dump.c", variant));
  }, 120_000);

  for (const variant of variants) {
    test(`maps_dump (${variant}) under every pager and mechanism`, async () => {
      const program = built.get(variant)!;
      const native = await runProcess(["setarch", "-R", program]);
      expect(native.exitCode).toBe(0);
      // Two native runs agree: nothing here is random.
      expect((await runProcess(["setarch", "-R", program])).stdout).toBe(native.stdout);
      for (const run of RUNS) {
        const loaded = await runProcess(["setarch", "-R", `${ROOT}/bin/faultline`, run.pager, "-q", ...run.flags, program]);
        expect(loaded.exitCode).toBe(0);
        const signal = run.flags.includes("signal");
        const label = [run.pager, ...run.flags].join(" ");
        expect({ run: label, maps: areas(loaded.stdout, signal).map(hex) }).toEqual({ run: label, maps: areas(native.stdout, signal).map(hex) });
      }
    });
  }
});
