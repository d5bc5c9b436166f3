/**
 * Live events from trace lines: each fault and each page it mapped, placed
 * in the plan's region that holds it, as onFault and onMapping receive
 * them. Pure.
 */
import { describe, expect, test } from "bun:test";
import { MappingIndex, eventsOfLine, pagesMappedBy, startMappingEvents } from "../../src/run/events.ts";
import type { Mapping } from "../../src/loader/launch.ts";
import { PROT_EXEC, PROT_READ, PROT_WRITE } from "../../src/loader/plan.ts";

const MAPPINGS: Mapping[] = [
  { address: 0x401000, size: 0x3000, offset: 0x1000, prot: PROT_READ | PROT_EXEC, source: "file=/prog", demand: true },
  { address: 0x400000, size: 0x1000, offset: 0, prot: PROT_READ, source: "file=/prog", demand: false },
  { address: 0x4a7000, size: 0x10000, offset: null, prot: PROT_READ | PROT_WRITE, source: "anon=bss(prog)", demand: true },
  { address: 0x7ffc00000000, size: 0x21000, offset: null, prot: PROT_READ | PROT_WRITE, source: "anon=stack", demand: false },
];

describe("the mappings made at start", () => {
  test("are events of their own: reserved regions map no page yet", () => {
    const events = startMappingEvents(MAPPINGS, 1.5);
    expect(events[0]).toEqual({ timeMs: 1.5, address: 0x401000, size: 0x3000, offset: 0x1000, protection: "r-x", source: "file=/prog", cause: "reserve", fault: null });
    expect(events[3]).toMatchObject({ cause: "start", protection: "rw-", source: "anon=stack" });
    expect(events.map(pagesMappedBy)).toEqual([0, 1, 0, 0x21]);
  });
});

describe("a trace line", () => {
  const index = new MappingIndex(MAPPINGS);
  test("a fault: the fault, then each page mapped, in the region that holds it", () => {
    const line = '{"t_ms":3.670000,"kind":"fault","fault":"0x4ab220","page":"0x4ab000","mapped":["0x4ab000","0x4ac000","0x4ad000"],"predicted":2,"decision":"stride"}';
    const { fault, mappings } = eventsOfLine(line, index);
    expect(fault).toEqual({ timeMs: 3.67, address: 0x4ab220, page: 0x4ab000, mapped: [0x4ab000, 0x4ac000, 0x4ad000], predicted: 2, decision: "stride" });
    expect(mappings.map((m) => [m.address, m.cause, m.fault, m.offset, m.protection, m.source, m.size])).toEqual([
      [0x4ab000, "fault", 0x4ab220, null, "rw-", "anon=bss(prog)", 4096],
      [0x4ac000, "predicted", 0x4ab220, null, "rw-", "anon=bss(prog)", 4096],
      [0x4ad000, "predicted", 0x4ab220, null, "rw-", "anon=bss(prog)", 4096],
    ]);
  });
  test("a file page's offset is its region's plus its distance into it", () => {
    const { mappings } = eventsOfLine('{"t_ms":1,"kind":"fault","fault":"0x402010","page":"0x402000","mapped":["0x402000"],"predicted":0,"decision":"none"}', index);
    expect(mappings[0]).toMatchObject({ offset: 0x2000, protection: "r-x", source: "file=/prog", cause: "fault" });
  });
  test("dpager's start: the entry point's page, mapped as the program starts, no fault", () => {
    const { fault, mappings } = eventsOfLine('{"t_ms":0.5,"kind":"start","mapped":["0x401000"]}', index);
    expect(fault).toBeNull();
    expect(mappings).toEqual([{ timeMs: 0.5, address: 0x401000, size: 4096, offset: 0x1000, protection: "r-x", source: "file=/prog", cause: "start", fault: null }]);
  });
  test("a page no region holds is left out (as the log leaves it); unknown decisions read as none; other kinds give nothing", () => {
    const { fault, mappings } = eventsOfLine('{"t_ms":1,"kind":"fault","fault":"0x10","page":"0x0","mapped":["0x0"],"predicted":0,"decision":"clairvoyant"}', index);
    expect(fault!.decision).toBe("none");
    expect(mappings).toEqual([]);
    expect(eventsOfLine('{"t_ms":9,"kind":"look","events":1,"seen":"touched","touched":[]}', index)).toEqual({ fault: null, mappings: [] });
    expect(eventsOfLine('{"t_ms":9,"kind":"later-kind"}', index)).toEqual({ fault: null, mappings: [] });
    expect(() => eventsOfLine("not json", index)).toThrow(/not a JSON object/);
  });
  test("the index finds the region holding an address, and none between or past them", () => {
    expect(index.holding(0x400fff)?.address).toBe(0x400000);
    expect(index.holding(0x401000)?.address).toBe(0x401000);
    expect(index.holding(0x404000)).toBeNull();
    expect(index.holding(0x4b6fff)?.address).toBe(0x4a7000);
    expect(index.holding(0)).toBeNull();
  });
});
