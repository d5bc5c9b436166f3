import { describe, expect, test } from "bun:test";
import type { ElfImage } from "../../src/loader/elf.ts";
import { LoadError } from "../../src/loader/errors.ts";
import { TAMPERED, describeFailure, endBeforeLaunch, killedBeforeStart, originNote, outcomeOf, type RunFacts } from "../../src/loader/outcome.ts";
import { STAGE, type LaunchStatus } from "../../src/loader/spec.ts";

/** A run's rusage counters, none of which these tests read. */
const NO_COUNTS = { voluntarySwitches: 0, involuntarySwitches: 0, inBlocks: 0, outBlocks: 0, messagesSent: 0, messagesReceived: 0, signals: 0, swaps: 0, sharedKiB: 0 };

const SIGSEGV = 11;
const SIGKILL = 9;

function status(fields: Partial<LaunchStatus> = {}): LaunchStatus {
  return {
    launched: true,
    stage: STAGE.LAUNCHED,
    error: 0,
    detail: 0,
    mmMapError: 0,
    exeError: 0,
    faults: 0,
    pagesEnabled: 0,
    handlerError: 0,
    eventsDropped: 0,
    genuineFaults: 0,
    bases: [0, 0, 0, 0, 0],
    tampered: false,
    prefetched: 0,
    prefetchError: 0,
    ...fields,
  };
}

/** A run's facts with `waitStatus` as wait(2) gives it. */
function facts(waitStatus: number, fields: Partial<RunFacts> = {}, launchStatus: Partial<LaunchStatus> = {}): RunFacts {
  return {
    pager: "dpager",
    mechanism: "signal",
    predictor: "none",
    predictPages: 1,
    image: { file: "/bin/prog" } as ElfImage,
    argv: ["prog"],
    notes: [],
    status: status(launchStatus),
    exit: { waitStatus, maxRssKiB: 1234, userMicros: 2000, systemMicros: 3000, counts: NO_COUNTS, execvedAs: null },
    wallMs: 5,
    mappings: [{ address: 0x400000, size: 0x2000, offset: 0, prot: 5, source: "file=/bin/prog", demand: false }],
    delivery: { eventsUndelivered: 0, traceError: 0, eventsNotLogged: 0 },
    prefetch: null,
    placedRegions: [],
    images: [],
    ...fields,
  };
}

describe("a run's outcome", () => {
  test("an exit: its code, the pages mapped at start and on demand, nothing to explain", () => {
    const outcome = outcomeOf(facts(3 << 8, {}, { faults: 4, pagesEnabled: 6, prefetched: 1 }));
    expect(outcome).toMatchObject({ exitCode: 3, signal: null, signalNumber: null, faults: 4, pagesMapped: 2 + 6 + 1, maxRssKiB: 1234, userMs: 2, systemMs: 3 });
    expect(outcome.differences).toEqual([]);
    expect(outcome.unseenFault).toBeNull();
    expect(outcome.pagerFailure).toBeNull();
  });

  test("pages mapped at start are those of every region not left to demand", () => {
    const region = (address: number, pages: number, demand: boolean) => ({ address, size: pages * 0x1000, offset: 0, prot: 5, source: "file=/bin/prog", demand });
    const mappings = [region(0x400000, 1, false), region(0x401000, 4, false), region(0x405000, 16, true), region(0x7ffc00000000, 33, false)];
    expect(outcomeOf(facts(0, { mappings }, { pagesEnabled: 3 })).pagesMapped).toBe(1 + 4 + 33 + 3);
  });

  test("a SIGSEGV the SIGSEGV handler never saw is explained, and is a difference", () => {
    const outcome = outcomeOf(facts(SIGSEGV, {}, { pagesEnabled: 3, genuineFaults: 0 }));
    expect(outcome.signal).toBe("SIGSEGV");
    expect(outcome.unseenFault).toContain("had SIGSEGV blocked");
    expect(outcome.unseenFault).toContain("use apager or hpager");
    expect(outcome.differences).toContain(outcome.unseenFault!);
  });

  test("a genuine fault, or userfaultfd paging, is no unseen fault", () => {
    expect(outcomeOf(facts(SIGSEGV, {}, { pagesEnabled: 3, genuineFaults: 1 })).unseenFault).toBeNull();
    expect(outcomeOf(facts(SIGSEGV, { mechanism: "userfaultfd" }, { pagesEnabled: 3 })).unseenFault).toBeNull();
  });

  test("a handler's error ends the program: said as the pager's failure, ENOMEM with its likely cause", () => {
    const outcome = outcomeOf(facts(SIGKILL, {}, { handlerError: 12 }));
    expect(outcome.pagerFailure).toBe("the fault handler could not map a page (ENOMEM: vm.max_map_count or memory exhausted); the program was ended");
    const served = outcomeOf(facts(SIGKILL, { mechanism: "userfaultfd" }, { handlerError: 14 }));
    expect(served.pagerFailure).toBe("the userfaultfd server could not map a page (EFAULT); the program was ended");
  });

  test("notes, the memory layout the kernel refused, dropped events and tampering, in that order", () => {
    const outcome = outcomeOf(facts(0, { notes: ["a note"] }, { mmMapError: 1, eventsDropped: 7, tampered: true }));
    expect(outcome.differences[0]).toBe("a note");
    expect(outcome.differences[1]).toContain("PR_SET_MM_MAP: EPERM");
    expect(outcome.differences.slice(2)).toEqual(["7 fault events were not logged (the log fell behind)", TAMPERED]);
    expect(outcome.tampered).toBe(true);
  });

  test("/proc/self/exe is named a difference only when the memory layout took effect", () => {
    expect(outcomeOf(facts(0, {}, { exeError: 1 })).differences).toEqual(["/proc/self/exe names faultline's loader (naming the program needs CAP_SYS_RESOURCE: EPERM)"]);
  });

  test("killed before it started: the signal, nothing mapped or faulted", () => {
    const outcome = killedBeforeStart(facts(SIGKILL, { notes: ["a note"] }, { launched: false, faults: 9 }));
    expect(outcome).toMatchObject({ exitCode: null, signal: "SIGKILL", signalNumber: SIGKILL, faults: 0, pagesMapped: 0, mappings: [], differences: ["a note"] });
  });
});

describe("a loader that ended before the jump", () => {
  test("killed by a signal sent to it, or failed", () => {
    const exit = (waitStatus: number) => ({ waitStatus, maxRssKiB: 0, userMicros: 0, systemMicros: 0, counts: NO_COUNTS, execvedAs: null });
    expect(endBeforeLaunch(exit(SIGKILL), false)).toBe("killed");
    expect(endBeforeLaunch(exit(SIGSEGV), false)).toBe("failed");
    expect(endBeforeLaunch(exit(SIGSEGV), true)).toBe("killed");
    expect(endBeforeLaunch(exit(1 << 8), true)).toBe("failed");
  });

  test("a failure names the stage, the region and the errno", () => {
    const mapping = STAGE.MAP_REGION;
    const error = describeFailure("/bin/prog", status({ launched: false, stage: mapping, error: 12, detail: 2 }), { waitStatus: 1 << 8, maxRssKiB: 0, userMicros: 0, systemMicros: 0, counts: NO_COUNTS, execvedAs: null });
    expect(error).toBeInstanceOf(LoadError);
    expect(error.message).toContain("the loader failed while mapping a region (region 2): ENOMEM");
    const killed = describeFailure("/bin/prog", status({ launched: false, stage: mapping }), { waitStatus: SIGSEGV, maxRssKiB: 0, userMicros: 0, systemMicros: 0, counts: NO_COUNTS, execvedAs: null });
    expect(killed.message).toContain("the loader was killed by SIGSEGV while mapping a region");
  });
});

describe("the note for a program that finds libraries through $ORIGIN", () => {
  test("names the program and its paths, and what ld.so will read", () => {
    const note = originNote("/usr/bin/java", ["$ORIGIN:$ORIGIN/../lib"])!;
    expect(note).toContain("/usr/bin/java finds libraries through $ORIGIN ($ORIGIN:$ORIGIN/../lib)");
    expect(note).toContain("/proc/self/exe");
    expect(note).toContain("CAP_SYS_RESOURCE");
    expect(note).not.toContain("\n");
  });
  test("none without such paths; a path that would break the line is shown printable", () => {
    expect(originNote("/bin/true", [])).toBeNull();
    expect(originNote("/x", ["$ORIGIN\n/lib"])!).not.toContain("\n");
  });
});
