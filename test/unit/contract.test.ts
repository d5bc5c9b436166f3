import { describe, expect, test } from "bun:test";
import { CONTRACT, LAUNCH_SPEC, PLACEMENT, REGION, STAGE, START_LINE, STATUS, checkContract, contractDifferences, contractText, layout, type Layout } from "../../src/loader/contract.ts";
import { PAGE_SIZE } from "../../src/loader/elf.ts";
import { NOMINAL_STACK_TOP, SPEC_MAGIC, STATUS_OFFSET, encodeSpec, readStatus, specLength, type SpecInput } from "../../src/loader/spec.ts";
import { buildStack } from "../../src/loader/stack.ts";

/** REGION with two fields of the same size in each other's place. */
const SWAPPED_REGION = layout("fl_region", [
  ["start", 8],
  ["length", 8],
  ["offset", 8],
  ["file", 8],
  ["flags", 8],
  ["prot", 8],
  ["zero_from", 8],
  ["page_index", 8],
  ["base", 8],
  ["copy_offset", 8],
]);

const withSwappedRegion: Layout[] = CONTRACT.map((s) => (s === REGION ? SWAPPED_REGION : s));

describe("the contract's layout", () => {
  test("a table read back from its own text has no differences", () => {
    expect(contractDifferences(contractText())).toEqual([]);
    expect(() => checkContract(contractText())).not.toThrow();
  });

  test("two fields of the same size swapped on one side are caught, both of them", () => {
    const differences = contractDifferences(contractText(withSwappedRegion));
    expect(differences).toEqual([
      "fl_region prot: the shim has fl_region prot at offset 40, size 8, src/loader/contract.ts fl_region prot at offset 32, size 8",
      "fl_region flags: the shim has fl_region flags at offset 32, size 8, src/loader/contract.ts fl_region flags at offset 40, size 8",
    ]);
    expect(() => checkContract(contractText(withSwappedRegion))).toThrow(/differs from src\/loader\/contract.ts/);
  });

  test("a field or stage on one side only, a resized field, a renumbered stage", () => {
    const text = contractText();
    expect(contractDifferences(`${text}fl_region extra 80 8\n`)).toEqual(["fl_region extra: in the shim, not in src/loader/contract.ts"]);
    expect(contractDifferences(text.replace("fl_region copy_offset 72 8\n", ""))).toEqual(["fl_region copy_offset: in src/loader/contract.ts, not in the shim"]);
    expect(contractDifferences(text.replace("fl_mm_map exe_fd 100 4", "fl_mm_map exe_fd 100 8"))).toHaveLength(1);
    expect(contractDifferences(text.replace("stage PROTECT 6", "stage PROTECT 7"))).toEqual(["stage PROTECT: the shim has stage PROTECT = 7, src/loader/contract.ts stage PROTECT = 6"]);
    // A struct this side does not know is none of its business.
    expect(contractDifferences(`${text}fl_private_bookkeeping pid 0 8\n`)).toEqual([]);
    // A constant both sides size by (the event ring's capacity).
    expect(contractDifferences(text.replace("constant RING_CAPACITY 1024", "constant RING_CAPACITY 512"))).toEqual(["constant RING_CAPACITY: the shim has constant RING_CAPACITY = 512, src/loader/contract.ts constant RING_CAPACITY = 1024"]);
    expect(contractDifferences(text.replace("constant RING_CAPACITY 1024\n", ""))).toEqual(["constant RING_CAPACITY: in src/loader/contract.ts, not in the shim"]);
  });
});

describe("encoding by field name", () => {
  const stack = buildStack({ top: NOMINAL_STACK_TOP, argv: ["prog"], envp: ["A=1"], execfn: "/bin/prog", platform: "x86_64", random: new Uint8Array(16), auxv: [], alignGap: 0, stackLimit: Infinity });
  const input: SpecInput = {
    regions: [{ start: 0x400000, length: 2 * PAGE_SIZE, offset: 0x1000, file: "program", prot: 5, populate: false, demand: true, zeroFrom: 0, base: "fixed" } as SpecInput["regions"][number]],
    program: { bias: 0, byKernel: { extent: { start: 0, end: 0x3000 }, alignment: 0x1000 } } as SpecInput["program"],
    interpreter: null,
    stack,
    entry: { at: 0x401000, base: "program" },
    programBase: "program",
    interpreterBase: "fixed",
    brkBase: "program",
    waitForGo: true,
    processName: "a-name-longer-than-fifteen",
    memory: null,
    replaceExe: true,
    timers: [
      { intervalMicros: 1_500_000, valueMicros: 2_000_001 },
      { intervalMicros: 0, valueMicros: 0 },
      { intervalMicros: 0, valueMicros: 0 },
    ],
    policy: "demand",
    predictor: "none",
    predictPages: 1,
    eventsWanted: false,
    mechanism: "userfaultfd",
    friendlySeed: 0x1234567890abcdefn,
    friendlyReraise: false,
    userModeOnly: true,
    prefetch: [],
    startLines: [
      { address: 0x400000, base: "fixed", head: "dpager: reserve addr=", tail: " size=0x2000 off=0x1000 prot=r-x (pages on demand) file=/bin/prog" },
      { address: 0x7fefff000, base: "stack", head: "dpager: map addr=", tail: " size=0x1000 off=- prot=rwx anon=stack" },
    ],
    startLinesSorted: 1,
    stackProt: 7,
    readImpliesExec: true,
    vdso: { parts: [{ offset: 0, length: 0x4000 }, { offset: 0x4000, length: 0x2000 }, { offset: 0x6000, length: 0x2000 }], vdsoOffset: 0x6000 },
  };
  const memory = new Uint8Array(specLength({ regionCount: 1, relocationCount: 64, stackImageBytes: stack.bytes.length, eventRing: false, startLines: 2, startTextBytes: 256 }));
  encodeSpec(input, memory);
  const view = new DataView(memory.buffer);
  const specWord = (field: keyof typeof LAUNCH_SPEC.fields, plus = 0) => view.getBigUint64(LAUNCH_SPEC.fields[field].offset + plus, true);

  test("the header's fields are where C reads them, nested structs and arrays included", () => {
    expect(specWord("magic")).toBe(SPEC_MAGIC);
    expect(specWord("region_count")).toBe(1n);
    expect(specWord("wait_for_go")).toBe(1n);
    expect(specWord("replace_exe")).toBe(1n);
    expect(specWord("uffd_user_mode_only")).toBe(1n);
    expect(specWord("mechanism")).toBe(1n);
    expect(specWord("policy")).toBe(1n);
    expect(specWord("friendly_seed")).toBe(0x1234567890abcdefn);
    expect(specWord("stack_prot")).toBe(7n);
    expect(specWord("read_implies_exec")).toBe(1n);
    expect(specWord("vdso_part_count")).toBe(3n);
    expect(specWord("vdso_offset")).toBe(0x6000n);
    expect(specWord("vdso_parts", 2 * 16)).toBe(0x6000n);
    expect(specWord("vdso_parts", 2 * 16 + 8)).toBe(0x2000n);
    expect(specWord("entry")).toBe(0x401000n);
    expect(specWord("program", PLACEMENT.fields.by_kernel.offset)).toBe(1n);
    expect(specWord("program", PLACEMENT.fields.extent_size.offset)).toBe(0x3000n);
    expect(specWord("timers_set")).toBe(1n);
    expect(specWord("timers")).toBe(1n);
    expect(specWord("timers", 8)).toBe(500_000n);
    expect(specWord("timers", 16)).toBe(2n);
    expect(specWord("timers", 24)).toBe(1n);
    const name = memory.subarray(LAUNCH_SPEC.fields.process_name.offset, LAUNCH_SPEC.fields.process_name.offset + 16);
    expect(new TextDecoder().decode(name.subarray(0, name.indexOf(0)))).toBe("a-name-longer-t");
  });

  test("a region's fields by name, and the relocations that name them", () => {
    const at = Number(specWord("region_offset"));
    const regionWord = (field: keyof typeof REGION.fields) => view.getBigUint64(at + REGION.fields[field].offset, true);
    expect(regionWord("start")).toBe(0x400000n);
    expect(regionWord("length")).toBe(BigInt(2 * PAGE_SIZE));
    expect(regionWord("offset")).toBe(0x1000n);
    expect(regionWord("prot")).toBe(5n);
    expect(regionWord("flags")).toBe(2n);
    const relocations = Number(specWord("relocation_count"));
    const relocationAt = Number(specWord("relocation_offset"));
    const relocated = Array.from({ length: relocations }, (_, i) => Number(view.getBigUint64(relocationAt + i * 16, true)));
    expect(relocated).toContain(LAUNCH_SPEC.fields.entry.offset);
    expect(relocated).toContain(LAUNCH_SPEC.fields.stack_low.offset);
    expect(relocated).not.toContain(at + REGION.fields.start.offset);
  });

  test("the start lines the loader writes: each text with its address's place, its address relocated by its base", () => {
    expect(specWord("start_line_count")).toBe(2n);
    expect(specWord("start_lines_sorted")).toBe(1n);
    const at = Number(specWord("start_line_offset"));
    const lineWord = (i: number, field: keyof typeof START_LINE.fields) => Number(view.getBigUint64(at + i * START_LINE.size + START_LINE.fields[field].offset, true));
    const text = (i: number) => new TextDecoder().decode(memory.subarray(lineWord(i, "text_offset"), lineWord(i, "text_offset") + lineWord(i, "text_length")));
    expect(text(0)).toBe("dpager: reserve addr= size=0x2000 off=0x1000 prot=r-x (pages on demand) file=/bin/prog");
    expect(lineWord(0, "head_length")).toBe("dpager: reserve addr=".length);
    expect(lineWord(1, "address")).toBe(0x7fefff000);
    expect(text(1).slice(lineWord(1, "head_length"))).toBe(" size=0x1000 off=- prot=rwx anon=stack");
    // Room for each line's text, "0x", sixteen digits and a newline.
    const room = Number(specWord("start_log_size"));
    expect(room).toBe(lineWord(0, "text_length") + lineWord(1, "text_length") + 2 * 19);
    expect(Number(specWord("start_log_offset")) + room).toBeLessThanOrEqual(Number(specWord("stack_image_offset")));
    const relocations = Number(specWord("relocation_count"));
    const relocationAt = Number(specWord("relocation_offset"));
    const relocated = Array.from({ length: relocations }, (_, i) => Number(view.getBigUint64(relocationAt + i * 16, true)));
    expect(relocated).toContain(at + START_LINE.size + START_LINE.fields.address.offset);
    expect(relocated).not.toContain(at + START_LINE.fields.address.offset);
  });

  test("the status starts cleared, and reads back field by field", () => {
    expect(readStatus(view)).toMatchObject({ launched: false, stage: 0, faults: 0, bases: [0, 0, 0, 0, 0] });
    const put = (field: keyof typeof STATUS.fields, value: bigint, plus = 0) => view.setBigUint64(STATUS_OFFSET + STATUS.fields[field].offset + plus, value, true);
    put("launched", 1n);
    put("stage", BigInt(STAGE.LAUNCHED));
    put("faults", 7n);
    put("pages_enabled", 9n);
    put("genuine_faults", 1n);
    put("bases", 0x7ffd0000n, 8);
    put("bases", 0xffffffffffffffffn, 32);
    put("tampered", 1n);
    put("prefetch_error", 12n);
    expect(readStatus(view)).toMatchObject({ launched: true, stage: STAGE.LAUNCHED, faults: 7, pagesEnabled: 9, genuineFaults: 1, bases: [0, 0x7ffd0000, 0, 0, -1], tampered: true, prefetchError: 12 });
  });
});
