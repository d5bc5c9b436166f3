/*
 * contract-layout.c — the contract's layout as this build of the shim sees
 * it, for src/loader/spec.ts to compare with its own field table when it
 * opens the library: one line per field of every struct in contract.h,
 * "<struct> <field> <offsetof> <sizeof>", then one per loader stage,
 * "stage <NAME> <value>" (enum fl_stage without its FL_STAGE_ prefix), then
 * one per constant, "constant <NAME> <value>" (without its FL_ prefix).
 */
#include <stddef.h>
#include <stdio.h>
#include "launch.h"

struct field {
	const char *type;
	const char *name;
	size_t offset;
	size_t size;
};

#define FIELD(type, name) { #type, #name, offsetof(struct type, name), sizeof(((struct type *)0)->name) }

static const struct field FIELDS[] = {
	FIELD(fl_launch_spec, magic),
	FIELD(fl_launch_spec, spec_size),
	FIELD(fl_launch_spec, region_count),
	FIELD(fl_launch_spec, region_offset),
	FIELD(fl_launch_spec, program),
	FIELD(fl_launch_spec, interpreter),
	FIELD(fl_launch_spec, relocation_count),
	FIELD(fl_launch_spec, relocation_offset),
	FIELD(fl_launch_spec, wait_for_go),
	FIELD(fl_launch_spec, stack_low),
	FIELD(fl_launch_spec, stack_top),
	FIELD(fl_launch_spec, stack_image_offset),
	FIELD(fl_launch_spec, stack_image_size),
	FIELD(fl_launch_spec, entry),
	FIELD(fl_launch_spec, initial_sp),
	FIELD(fl_launch_spec, process_name),
	FIELD(fl_launch_spec, mm_map_offset),
	FIELD(fl_launch_spec, replace_exe),
	FIELD(fl_launch_spec, timers_set),
	FIELD(fl_launch_spec, timers),
	FIELD(fl_launch_spec, policy),
	FIELD(fl_launch_spec, predictor),
	FIELD(fl_launch_spec, predict_pages),
	FIELD(fl_launch_spec, demand_pages),
	FIELD(fl_launch_spec, altstack_size),
	FIELD(fl_launch_spec, ring_offset),
	FIELD(fl_launch_spec, events_wanted),
	FIELD(fl_launch_spec, mechanism),
	FIELD(fl_launch_spec, friendly_seed),
	FIELD(fl_launch_spec, friendly_reraise),
	FIELD(fl_launch_spec, uffd_user_mode_only),
	FIELD(fl_launch_spec, prefetch_count),
	FIELD(fl_launch_spec, prefetch_offset),
	FIELD(fl_launch_spec, start_line_count),
	FIELD(fl_launch_spec, start_lines_sorted),
	FIELD(fl_launch_spec, start_line_offset),
	FIELD(fl_launch_spec, start_log_offset),
	FIELD(fl_launch_spec, start_log_size),
	FIELD(fl_launch_spec, stack_prot),
	FIELD(fl_launch_spec, read_implies_exec),
	FIELD(fl_launch_spec, vdso_part_count),
	FIELD(fl_launch_spec, vdso_offset),
	FIELD(fl_launch_spec, vdso_parts),
	FIELD(fl_launch_spec, status),

	FIELD(fl_spawn_descriptor, source),
	FIELD(fl_spawn_descriptor, target),
	FIELD(fl_spawn_descriptor, moved),

	FIELD(fl_spawn_request, loader),
	FIELD(fl_spawn_request, argv),
	FIELD(fl_spawn_request, descriptor_count),
	FIELD(fl_spawn_request, descriptors),
	FIELD(fl_spawn_request, signals_ignored),
	FIELD(fl_spawn_request, signal_mask),
	FIELD(fl_spawn_request, open_files_set),
	FIELD(fl_spawn_request, open_files_soft),
	FIELD(fl_spawn_request, cwd),
	FIELD(fl_spawn_request, control_source),
	FIELD(fl_spawn_request, control_target),
	FIELD(fl_spawn_request, error),
	FIELD(fl_spawn_request, pid),
	FIELD(fl_spawn_request, control),

	FIELD(fl_notice, kind),
	FIELD(fl_notice, pid),
	FIELD(fl_notice, error),
	FIELD(fl_notice, wait_status),
	FIELD(fl_notice, max_rss_kib),
	FIELD(fl_notice, user_usec),
	FIELD(fl_notice, system_usec),
	FIELD(fl_notice, events_undelivered),
	FIELD(fl_notice, trace_error),
	FIELD(fl_notice, pin),
	FIELD(fl_notice, pagemap_fd),
	FIELD(fl_notice, voluntary_switches),
	FIELD(fl_notice, involuntary_switches),
	FIELD(fl_notice, in_blocks),
	FIELD(fl_notice, out_blocks),
	FIELD(fl_notice, messages_sent),
	FIELD(fl_notice, messages_received),
	FIELD(fl_notice, signals),
	FIELD(fl_notice, swaps),
	FIELD(fl_notice, shared_kib),
	FIELD(fl_notice, execed),
	FIELD(fl_notice, exec_name),

	FIELD(fl_service_request, control),
	FIELD(fl_service_request, pid),
	FIELD(fl_service_request, uid),
	FIELD(fl_service_request, gid),
	FIELD(fl_service_request, loader_device),
	FIELD(fl_service_request, loader_inode),
	FIELD(fl_service_request, loader_change_ns),
	FIELD(fl_service_request, stderr_fd),
	FIELD(fl_service_request, personality),
	FIELD(fl_service_request, again),
	FIELD(fl_service_request, stack_limit),
	FIELD(fl_service_request, capabilities),
	FIELD(fl_service_request, auxv_words),
	FIELD(fl_service_request, auxv),

	FIELD(fl_status, launched),
	FIELD(fl_status, stage),
	FIELD(fl_status, error),
	FIELD(fl_status, detail),
	FIELD(fl_status, mm_map_error),
	FIELD(fl_status, exe_error),
	FIELD(fl_status, faults),
	FIELD(fl_status, pages_enabled),
	FIELD(fl_status, handler_error),
	FIELD(fl_status, events_dropped),
	FIELD(fl_status, genuine_faults),
	FIELD(fl_status, bases),
	FIELD(fl_status, tampered),
	FIELD(fl_status, prefetched),
	FIELD(fl_status, prefetch_error),

	FIELD(fl_vdso_part, offset),
	FIELD(fl_vdso_part, length),

	FIELD(fl_placement, by_kernel),
	FIELD(fl_placement, extent_start),
	FIELD(fl_placement, extent_size),
	FIELD(fl_placement, alignment),

	FIELD(fl_interval_timer, interval_seconds),
	FIELD(fl_interval_timer, interval_micros),
	FIELD(fl_interval_timer, value_seconds),
	FIELD(fl_interval_timer, value_micros),

	FIELD(fl_region, start),
	FIELD(fl_region, length),
	FIELD(fl_region, offset),
	FIELD(fl_region, file),
	FIELD(fl_region, prot),
	FIELD(fl_region, flags),
	FIELD(fl_region, zero_from),
	FIELD(fl_region, page_index),
	FIELD(fl_region, base),
	FIELD(fl_region, copy_offset),

	FIELD(fl_relocation, offset),
	FIELD(fl_relocation, base),

	FIELD(fl_prefetch_run, start),
	FIELD(fl_prefetch_run, pages),

	FIELD(fl_start_line, address),
	FIELD(fl_start_line, text_offset),
	FIELD(fl_start_line, head_length),
	FIELD(fl_start_line, text_length),

	FIELD(fl_mm_map, start_code),
	FIELD(fl_mm_map, end_code),
	FIELD(fl_mm_map, start_data),
	FIELD(fl_mm_map, end_data),
	FIELD(fl_mm_map, start_brk),
	FIELD(fl_mm_map, brk),
	FIELD(fl_mm_map, start_stack),
	FIELD(fl_mm_map, arg_start),
	FIELD(fl_mm_map, arg_end),
	FIELD(fl_mm_map, env_start),
	FIELD(fl_mm_map, env_end),
	FIELD(fl_mm_map, auxv),
	FIELD(fl_mm_map, auxv_size),
	FIELD(fl_mm_map, exe_fd),

	FIELD(fl_ring, head_wake),
	FIELD(fl_ring, tail_wake),
	FIELD(fl_ring, head),
	FIELD(fl_ring, tail),
	FIELD(fl_ring, capacity),
	FIELD(fl_ring, reader_sleeping),
	FIELD(fl_ring, writers_waiting),
	FIELD(fl_ring, counters),

	FIELD(fl_counters, value),
	FIELD(fl_counters, check),

	FIELD(fl_event, sequence),
	FIELD(fl_event, time_ns),
	FIELD(fl_event, fault_address),
	FIELD(fl_event, kind),
	FIELD(fl_event, decision),
	FIELD(fl_event, count),
	FIELD(fl_event, pages),
};

struct stage {
	const char *name;
	int value;
};

#define STAGE(name) { #name, FL_STAGE_##name }

static const struct stage STAGES[] = {
	STAGE(NONE),
	STAGE(STARTING),
	STAGE(MAPPING_PLAN),
	STAGE(PLACING),
	STAGE(MAP_REGION),
	STAGE(ZERO_TAIL),
	STAGE(PROTECT),
	STAGE(STACK),
	STAGE(PROCESS_NAME),
	STAGE(EXECUTABLE),
	STAGE(CLOSE_FILES),
	STAGE(PAGING),
	STAGE(FRIENDLY),
	STAGE(SIGNAL_MASK),
	STAGE(INTERVAL_TIMERS),
	STAGE(LAUNCHED),
};

/* The constants both sides size things by that no field's size shows. */
struct constant {
	const char *name;
	long value;
};

#define CONSTANT(name) { #name, FL_##name }

static const struct constant CONSTANTS[] = {
	CONSTANT(RING_CAPACITY),
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
/* Room for every line: a struct's and a field's name (under 32 bytes
 * each) and two numbers (under 8 digits each). */
#define LINE_BYTES 96
static char text[(COUNT(FIELDS) + COUNT(STAGES) + COUNT(CONSTANTS)) * LINE_BYTES + 1];

/* The layout as text, made on the first call (Bun's thread, when it opens
 * the library); NUL-terminated. */
FL_EXPORT const char *fl_contract_layout(void) {
	if (text[0] != '\0')
		return text;
	size_t used = 0;
	for (size_t i = 0; i < COUNT(FIELDS); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s %s %zu %zu\n", FIELDS[i].type, FIELDS[i].name, FIELDS[i].offset, FIELDS[i].size);
	for (size_t i = 0; i < COUNT(STAGES); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "stage %s %d\n", STAGES[i].name, STAGES[i].value);
	for (size_t i = 0; i < COUNT(CONSTANTS); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "constant %s %ld\n", CONSTANTS[i].name, CONSTANTS[i].value);
	return text;
}
