/**
 * The TypeScript half of shim/contract.h: every struct the launch spec is
 * made of, as a table of its fields by C's own names, with each field's
 * offset and size; and the loader's stages by C's names (enum fl_stage).
 * src/loader/spec.ts writes and reads the spec through these names only.
 *
 * The offsets are laid out here in declaration order, as C lays out structs
 * of 64-bit words and pairs of 32-bit ones (no padding). Whether C agrees is
 * checked, not assumed: when the shim is opened, `checkContract` compares
 * every field's offset and size, and every stage's number, with the text
 * shim/contract-layout.c makes from the compiled structs, and refuses the
 * shim on any difference (a field added, resized, moved, or two swapped).
 * Pure.
 */

const WORD = 8;
const HALF = 4;

/** A field's place in its struct. */
interface Field {
  offset: number;
  size: number;
}

/** A struct: its name in C, its fields by name, and its size. */
export interface Layout<Name extends string = string> {
  struct: string;
  fields: Record<Name, Field>;
  size: number;
}

/** Lay out `fields` one after the other, in the order given (C's). */
export function layout<const Name extends string>(struct: string, fields: ReadonlyArray<readonly [Name, number]>): Layout<Name> {
  const table = {} as Record<Name, Field>;
  let offset = 0;
  for (const [name, size] of fields) {
    table[name] = { offset, size };
    offset += size;
  }
  return { struct, fields: table, size: offset };
}

/** struct fl_placement: an image the kernel places. */
export const PLACEMENT = layout("fl_placement", [
  ["by_kernel", WORD],
  ["extent_start", WORD],
  ["extent_size", WORD],
  ["alignment", WORD],
]);

/** struct fl_vdso_part: one mapping of the vDSO block. */
export const VDSO_PART = layout("fl_vdso_part", [
  ["offset", WORD],
  ["length", WORD],
]);
/** Mappings a vDSO block may have (FL_VDSO_PARTS). */
export const VDSO_PARTS = 4;

/** struct fl_interval_timer: one of setitimer's timers. */
export const INTERVAL_TIMER = layout("fl_interval_timer", [
  ["interval_seconds", WORD],
  ["interval_micros", WORD],
  ["value_seconds", WORD],
  ["value_micros", WORD],
]);
/** setitimer's three timers (FL_INTERVAL_TIMERS). */
export const INTERVAL_TIMERS = 3;

/** The bases a relocation adds (enum fl_base, FL_BASE_COUNT). */
const BASE_COUNT = 5;

/** struct fl_status: what the loader writes back. */
export const STATUS = layout("fl_status", [
  ["launched", WORD],
  ["stage", WORD],
  ["error", WORD],
  ["detail", WORD],
  ["mm_map_error", WORD],
  ["exe_error", WORD],
  ["faults", WORD],
  ["pages_enabled", WORD],
  ["handler_error", WORD],
  ["events_dropped", WORD],
  ["genuine_faults", WORD],
  ["bases", BASE_COUNT * WORD],
  ["tampered", WORD],
  ["prefetched", WORD],
  ["prefetch_error", WORD],
]);

/** Bytes of the process name (NUL-padded, at most 15 and the NUL). */
export const PROCESS_NAME_BYTES = 16;

/** struct fl_launch_spec: the plan's header, its status last. */
export const LAUNCH_SPEC = layout("fl_launch_spec", [
  ["magic", WORD],
  ["spec_size", WORD],
  ["region_count", WORD],
  ["region_offset", WORD],
  ["program", PLACEMENT.size],
  ["interpreter", PLACEMENT.size],
  ["relocation_count", WORD],
  ["relocation_offset", WORD],
  ["wait_for_go", WORD],
  ["stack_low", WORD],
  ["stack_top", WORD],
  ["stack_image_offset", WORD],
  ["stack_image_size", WORD],
  ["entry", WORD],
  ["initial_sp", WORD],
  ["process_name", PROCESS_NAME_BYTES],
  ["mm_map_offset", WORD],
  ["replace_exe", WORD],
  ["timers_set", WORD],
  ["timers", INTERVAL_TIMERS * INTERVAL_TIMER.size],
  ["policy", WORD],
  ["predictor", WORD],
  ["predict_pages", WORD],
  ["demand_pages", WORD],
  ["altstack_size", WORD],
  ["ring_offset", WORD],
  ["events_wanted", WORD],
  ["mechanism", WORD],
  ["friendly_seed", WORD],
  ["friendly_reraise", WORD],
  ["uffd_user_mode_only", WORD],
  ["prefetch_count", WORD],
  ["prefetch_offset", WORD],
  ["start_line_count", WORD],
  ["start_lines_sorted", WORD],
  ["start_line_offset", WORD],
  ["start_log_offset", WORD],
  ["start_log_size", WORD],
  ["stack_prot", WORD],
  ["read_implies_exec", WORD],
  ["vdso_part_count", WORD],
  ["vdso_offset", WORD],
  ["vdso_parts", VDSO_PARTS * VDSO_PART.size],
  ["status", STATUS.size],
]);

/** struct fl_region: one mapping of the plan. */
export const REGION = layout("fl_region", [
  ["start", WORD],
  ["length", WORD],
  ["offset", WORD],
  ["file", WORD],
  ["prot", WORD],
  ["flags", WORD],
  ["zero_from", WORD],
  ["page_index", WORD],
  ["base", WORD],
  ["copy_offset", WORD],
]);

/** struct fl_relocation: one word of the plan to add a base's value to. */
export const RELOCATION = layout("fl_relocation", [
  ["offset", WORD],
  ["base", WORD],
]);

/** struct fl_prefetch_run: pages mapped before the jump. */
export const PREFETCH_RUN = layout("fl_prefetch_run", [
  ["start", WORD],
  ["pages", WORD],
]);

/** struct fl_start_line: a start mapping line the loader writes, its
 * address put in after the text's head. */
export const START_LINE = layout("fl_start_line", [
  ["address", WORD],
  ["text_offset", WORD],
  ["head_length", WORD],
  ["text_length", WORD],
]);

/** struct fl_mm_map: the kernel's struct prctl_mm_map. */
export const MM_MAP = layout("fl_mm_map", [
  ["start_code", WORD],
  ["end_code", WORD],
  ["start_data", WORD],
  ["end_data", WORD],
  ["start_brk", WORD],
  ["brk", WORD],
  ["start_stack", WORD],
  ["arg_start", WORD],
  ["arg_end", WORD],
  ["env_start", WORD],
  ["env_end", WORD],
  ["auxv", WORD],
  ["auxv_size", HALF],
  ["exe_fd", HALF],
]);

/** The SIGSEGV handler's counts (FL_COUNTS). */
const COUNTS = 5;

/** struct fl_counters: each count and its check word (its complement). */
export const COUNTERS = layout("fl_counters", [
  ["value", COUNTS * WORD],
  ["check", COUNTS * WORD],
]);

/** struct fl_ring: the event ring's header, its slots after it. */
export const RING = layout("fl_ring", [
  ["head_wake", HALF],
  ["tail_wake", HALF],
  ["head", WORD],
  ["tail", WORD],
  ["capacity", WORD],
  ["reader_sleeping", HALF],
  ["writers_waiting", HALF],
  ["counters", COUNTERS.size],
]);

/** Pages one event names (FL_EVENT_PAGES). */
const EVENT_PAGES = 16;

/** struct fl_event: one slot of the ring. */
export const EVENT = layout("fl_event", [
  ["sequence", WORD],
  ["time_ns", WORD],
  ["fault_address", WORD],
  ["kind", WORD],
  ["decision", WORD],
  ["count", WORD],
  ["pages", EVENT_PAGES * WORD],
]);

/** Every struct of the contract, as the check walks them. */
/** struct fl_spawn_descriptor: a descriptor a spawned program receives. */
export const SPAWN_DESCRIPTOR = layout("fl_spawn_descriptor", [
  ["source", WORD],
  ["target", WORD],
  ["moved", WORD],
]);

/** struct fl_spawn_request: what the loader Bun spawns is started with
 * (the pointers are words). */
export const SPAWN_REQUEST = layout("fl_spawn_request", [
  ["loader", WORD],
  ["argv", WORD],
  ["descriptor_count", WORD],
  ["descriptors", WORD],
  ["signals_ignored", WORD],
  ["signal_mask", WORD],
  ["open_files_set", WORD],
  ["open_files_soft", WORD],
  ["cwd", WORD],
  ["control_source", WORD],
  ["control_target", WORD],
  ["error", WORD],
  ["pid", WORD],
  ["control", WORD],
]);

/** A process's command name as the kernel keeps it (FL_COMMAND_NAME_BYTES). */
export const COMMAND_NAME_BYTES = 16;

/** struct fl_notice: what a launch's waiter tells TypeScript. */
export const NOTICE = layout("fl_notice", [
  ["kind", WORD],
  ["pid", WORD],
  ["error", WORD],
  ["wait_status", WORD],
  ["max_rss_kib", WORD],
  ["user_usec", WORD],
  ["system_usec", WORD],
  ["events_undelivered", WORD],
  ["trace_error", WORD],
  ["pin", WORD],
  ["pagemap_fd", WORD],
  ["voluntary_switches", WORD],
  ["involuntary_switches", WORD],
  ["in_blocks", WORD],
  ["out_blocks", WORD],
  ["messages_sent", WORD],
  ["messages_received", WORD],
  ["signals", WORD],
  ["swaps", WORD],
  ["shared_kib", WORD],
  ["execed", WORD],
  ["exec_name", COMMAND_NAME_BYTES],
]);

/** Room for a client's auxiliary vector (FL_REQUEST_AUXV_WORDS). */
const REQUEST_AUXV_WORDS = 128;

/** struct fl_service_request: a client of the user's service, accepted. */
export const SERVICE_REQUEST = layout("fl_service_request", [
  ["control", WORD],
  ["pid", WORD],
  ["uid", WORD],
  ["gid", WORD],
  ["loader_device", WORD],
  ["loader_inode", WORD],
  ["loader_change_ns", WORD],
  ["stderr_fd", WORD],
  ["personality", WORD],
  ["again", WORD],
  ["stack_limit", WORD],
  ["capabilities", WORD],
  ["auxv_words", WORD],
  ["auxv", REQUEST_AUXV_WORDS * WORD],
]);

/**
 * The address space the pager needs, in KiB as `ulimit -v` counts: Bun,
 * which runs it, reserves its heap and its JIT's memory up front, and under
 * a smaller limit crashes or starts without the JIT that bun:ffi needs. 2.5
 * GiB: the smallest limit under which every pager ran python3 under both
 * mechanisms here was about 2.4 GB, and some just above failed (docs/differences.md,
 * Limits). bin/faultline checks the same figure before Bun starts.
 * Shared with C: the installed command's client (shim/loader/client.c) is
 * built with it, and starts no service under a smaller hard limit. */
export const PAGER_ADDRESS_SPACE_KIB = 2_621_440;

/** The event ring's capacity in events (FL_RING_CAPACITY). */
export const RING_CAPACITY = 1024;

/** The constants both sides size things by that no field's size shows,
 * as the shim reports them (without their FL_ prefix). */
const CONSTANTS: Readonly<Record<string, number>> = { RING_CAPACITY };

export const CONTRACT: readonly Layout[] = [SPAWN_DESCRIPTOR, SPAWN_REQUEST, NOTICE, SERVICE_REQUEST, LAUNCH_SPEC, STATUS, PLACEMENT, VDSO_PART, INTERVAL_TIMER, REGION, RELOCATION, PREFETCH_RUN, START_LINE, MM_MAP, RING, COUNTERS, EVENT];

/** Where the loader stopped, when it stopped before the jump: enum
 * fl_stage, by C's names without the FL_STAGE_ prefix. */
export const STAGE = {
  NONE: 0,
  STARTING: 1,
  MAPPING_PLAN: 2,
  PLACING: 3,
  MAP_REGION: 4,
  ZERO_TAIL: 5,
  PROTECT: 6,
  STACK: 7,
  PROCESS_NAME: 8,
  EXECUTABLE: 9,
  CLOSE_FILES: 10,
  PAGING: 11,
  FRIENDLY: 12,
  SIGNAL_MASK: 13,
  INTERVAL_TIMERS: 14,
  LAUNCHED: 15,
} as const;
export type StageName = keyof typeof STAGE;

/** What the loader was doing at each stage, as a failure says it. */
export const STAGE_WORDS: Record<StageName, string> = {
  NONE: "none",
  STARTING: "starting",
  MAPPING_PLAN: "mapping its plan",
  PLACING: "placing the program",
  MAP_REGION: "mapping a region",
  ZERO_TAIL: "zeroing the end of a file page",
  PROTECT: "protecting a region",
  STACK: "placing the stack",
  PROCESS_NAME: "naming the process",
  EXECUTABLE: "naming the program's file /proc/self/exe",
  CLOSE_FILES: "closing the program's files",
  PAGING: "starting demand paging",
  FRIENDLY: "installing the friendly fault reporter",
  SIGNAL_MASK: "setting the signal mask",
  INTERVAL_TIMERS: "arming interval timers",
  LAUNCHED: "launched",
};

/** The stage a status's number names, or null for one this side does not know. */
export function stageNamed(value: number): StageName | null {
  for (const [name, number] of Object.entries(STAGE)) if (number === value) return name as StageName;
  return null;
}

/** The layout as shim/contract-layout.c writes it, from these tables: what
 * a shim built from the same contract reports, line for line. */
export function contractText(structs: readonly Layout[] = CONTRACT, stages: Readonly<Record<string, number>> = STAGE, constants: Readonly<Record<string, number>> = CONSTANTS): string {
  const lines = structs.flatMap((s) => Object.entries<Field>(s.fields).map(([name, f]) => `${s.struct} ${name} ${f.offset} ${f.size}`));
  for (const [name, value] of Object.entries(stages)) lines.push(`stage ${name} ${value}`);
  for (const [name, value] of Object.entries(constants)) lines.push(`constant ${name} ${value}`);
  return `${lines.join("\n")}\n`;
}

/**
 * The differences between these tables and a shim's layout text (see
 * shim/contract-layout.c), one line each; empty when they agree. Every
 * field and stage of either side must be on the other, at the same offset
 * with the same size, or with the same number.
 */
export function contractDifferences(cText: string, structs: readonly Layout[] = CONTRACT, stages: Readonly<Record<string, number>> = STAGE, constants: Readonly<Record<string, number>> = CONSTANTS): string[] {
  const c = new Map<string, string>();
  for (const line of cText.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words.length < 3) continue;
    c.set(`${words[0]} ${words[1]}`, words.slice(2).join(" "));
  }
  const ts = new Map<string, string>();
  for (const s of structs) for (const [name, f] of Object.entries<Field>(s.fields)) ts.set(`${s.struct} ${name}`, `${f.offset} ${f.size}`);
  for (const [name, value] of Object.entries(stages)) ts.set(`stage ${name}`, String(value));
  for (const [name, value] of Object.entries(constants)) ts.set(`constant ${name}`, String(value));
  const numbered = (key: string) => key.startsWith("stage ") || key.startsWith("constant ");
  const describe = (key: string, value: string) => (numbered(key) ? `${key} = ${value}` : `${key} at offset ${value.replace(" ", ", size ")}`);
  const differences: string[] = [];
  for (const [key, value] of ts) {
    const theirs = c.get(key);
    if (theirs === undefined) differences.push(`${key}: in src/loader/contract.ts, not in the shim`);
    else if (theirs !== value) differences.push(`${key}: the shim has ${describe(key, theirs)}, src/loader/contract.ts ${describe(key, value)}`);
  }
  const known = new Set(structs.map((s) => s.struct));
  for (const key of c.keys()) {
    if (ts.has(key)) continue;
    const [struct] = key.split(" ");
    if (struct === "stage" || struct === "constant" || known.has(struct!)) differences.push(`${key}: in the shim, not in src/loader/contract.ts`);
  }
  return differences;
}

/** Refuse a shim whose contract differs from this side's (a stale build, or
 * one side changed without the other). */
export function checkContract(cText: string): void {
  const differences = contractDifferences(cText);
  if (differences.length > 0) {
    throw new Error(`faultline: the shim's contract (shim/contract.h) differs from src/loader/contract.ts:\n  ${differences.join("\n  ")}\nrebuild with 'bun run build:shim --force', or bring the two into step`);
  }
}
