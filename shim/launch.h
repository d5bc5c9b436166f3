/*
 * launch.h — the launch spec: everything the child needs, laid out by
 * TypeScript (src/spec.ts) in kept memory before the fork.
 *
 * Every field is a 64-bit little-endian word, so the layout has no padding and
 * src/spec.ts can write it with plain offsets. `fl_spec_layout()` reports the
 * sizes below so the TypeScript side can refuse to run against a stale shim.
 */
#ifndef FAULTLINE_LAUNCH_H
#define FAULTLINE_LAUNCH_H

#include <stdint.h>

/* Functions Bun calls through bun:ffi; everything else stays hidden. */
#define FL_EXPORT __attribute__((visibility("default")))

#define FL_SPEC_MAGIC 0x31656e696c746c66ull /* "fltline1" */

/* Files a region can be mapped from. */
enum fl_file { FL_FILE_PROGRAM = 0, FL_FILE_INTERPRETER = 1, FL_FILE_COUNT = 2 };

/* Region.offset of an anonymous region. */
#define FL_ANONYMOUS UINT64_MAX

/* Region.flags */
#define FL_REGION_POPULATE 1ull /* fault every page in before the jump */
#define FL_REGION_DEMAND 2ull   /* reserved PROT_NONE; pages enabled on fault */

/* Paging policies. */
enum fl_policy { FL_POLICY_EAGER = 0, FL_POLICY_DEMAND = 1, FL_POLICY_HYBRID = 2 };

/* Predictors: which pages besides the faulting one a fault maps. */
enum fl_predictor { FL_PREDICT_NONE = 0, FL_PREDICT_NEXT, FL_PREDICT_STRIDE, FL_PREDICT_READAHEAD };

/* How demand faults reach the pager: a SIGSEGV handler in the program, or
 * userfaultfd, served by a thread of the parent (where the kernel allows it). */
enum fl_mechanism { FL_MECHANISM_SIGNAL = 0, FL_MECHANISM_USERFAULTFD = 1 };

/* Handing the child's userfaultfd to the parent (status.uffd_handoff). */
enum fl_handoff { FL_HANDOFF_NONE = 0, FL_HANDOFF_READY = 1, FL_HANDOFF_TAKEN = 2, FL_HANDOFF_REFUSED = 3 };

/* Per-page state of demand regions, one byte each. */
enum fl_page_state { FL_PAGE_RESERVED = 0, FL_PAGE_ENABLING = 1, FL_PAGE_ENABLED = 2 };

/* One mapping of the plan: page-aligned, non-overlapping, sorted by start. */
struct fl_region {
	uint64_t start;
	uint64_t length;
	uint64_t offset;    /* file offset, or FL_ANONYMOUS */
	uint64_t file;      /* enum fl_file */
	uint64_t prot;      /* PROT_* */
	uint64_t flags;     /* FL_REGION_* */
	uint64_t zero_from; /* bytes from here to the region's end are zeroed (0: none) */
	uint64_t page_index; /* demand regions: index of the first page's state byte */
};

/* An address range the cleanup must leave alone: [start, end). */
struct fl_range {
	uint64_t start;
	uint64_t end;
};

/* A descriptor the program receives: a copy of this process's `source` at
 * number `target`, without close-on-exec, as execve would have left it. */
struct fl_descriptor {
	uint64_t source;
	uint64_t target;
};

/* One of setitimer's timers, as the program is to find it. */
struct fl_interval_timer {
	uint64_t interval_seconds;
	uint64_t interval_micros;
	uint64_t value_seconds;
	uint64_t value_micros;
};

/* setitimer's three timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF. */
#define FL_INTERVAL_TIMERS 3

/* Where a launch stopped, when it stopped before the jump. */
enum fl_stage {
	FL_STAGE_NONE = 0,
	FL_STAGE_STARTING,
	FL_STAGE_RSEQ,
	FL_STAGE_ALTERNATE_STACK,
	FL_STAGE_SIGNALS,
	FL_STAGE_DESCRIPTORS,
	FL_STAGE_UNMAP,
	FL_STAGE_RSS_RESET,
	FL_STAGE_MAP_REGION,
	FL_STAGE_ZERO_TAIL,
	FL_STAGE_PROTECT,
	FL_STAGE_MAP_STACK,
	FL_STAGE_PROCESS_NAME,
	FL_STAGE_CLOSE_FILES,
	FL_STAGE_PAGING,
	FL_STAGE_FRIENDLY,
	FL_STAGE_OPEN_FILES_LIMIT,
	FL_STAGE_SIGNAL_MASK,
	FL_STAGE_INTERVAL_TIMERS,
	FL_STAGE_LAUNCHED,
};

/*
 * Written by the child in shared memory, read by the parent after wait.
 * `stage` is the last step begun; `launched` becomes 1 just before the jump,
 * so a child that ends with it still 0 died in the loader, not the program.
 */
struct fl_status {
	uint64_t launched;
	uint64_t stage;
	uint64_t error;  /* positive errno of the failed step */
	uint64_t detail; /* region index or address the failure concerns */
	uint64_t mm_map_error; /* errno of PR_SET_MM_MAP, 0 when it took effect */
	uint64_t exe_error;    /* errno of setting /proc/self/exe, 0 when set */
	uint64_t rss_reset_error; /* errno of the peak-RSS reset, 0 when done */
	uint64_t faults;       /* demand faults resolved */
	uint64_t pages_enabled; /* demand pages made accessible, predicted ones included */
	uint64_t handler_error; /* first errno a fault handler met (the program then died) */
	uint64_t events_dropped; /* events the log had no room for */
	uint64_t genuine_faults; /* faults the handler left to end the program */
	uint32_t uffd_handoff;   /* futex word: enum fl_handoff */
	uint32_t uffd_fd;        /* the child's userfaultfd, for pidfd_getfd */
};

/* What a fault (or the start) did, for the log and --trace; written by the
 * child into a ring buffer in kept memory, read by the parent's drainer. */
#define FL_EVENT_PAGES 16
enum fl_event_kind { FL_EVENT_START = 1, FL_EVENT_FAULT = 2 };
enum fl_decision {
	FL_DECIDE_NONE = 0,       /* no predictor */
	FL_DECIDE_NEXT,           /* the following pages */
	FL_DECIDE_STRIDE_LEARNING, /* stride not yet seen twice */
	FL_DECIDE_STRIDE,         /* stride confirmed */
	FL_DECIDE_READAHEAD_HIT,  /* sequential: window grew */
	FL_DECIDE_READAHEAD_MISS, /* not sequential: window reset */
};
struct fl_event {
	uint64_t sequence; /* 1-based; written last, so a reader sees a whole event */
	uint64_t time_ns;  /* CLOCK_MONOTONIC */
	uint64_t fault_address;
	uint64_t kind;
	uint64_t decision;
	uint64_t count; /* pages mapped: pages[0] is the faulting page */
	uint64_t pages[FL_EVENT_PAGES];
};

/* The ring: head counts events reserved by writers, tail events consumed. */
struct fl_ring {
	uint32_t head_wake; /* futex word: bumped after each published event */
	uint32_t tail_wake; /* futex word: bumped after the reader consumes */
	uint64_t head;
	uint64_t tail;
	uint64_t capacity;
	uint32_t reader_sleeping; /* the reader waits on head_wake: wake it */
	uint32_t writers_waiting; /* writers wait on tail_wake: wake them */
};

/* Predictor state, shared by the program's threads (races only blur hints). */
struct fl_predictor_state {
	uint64_t last_page;
	int64_t last_delta;
	uint64_t window;
	uint64_t next_expected;
};

/* The kernel's struct prctl_mm_map (include/uapi/linux/prctl.h), spelled out
 * so the shim does not depend on the installed kernel headers' version. */
struct fl_mm_map {
	uint64_t start_code, end_code;
	uint64_t start_data, end_data;
	uint64_t start_brk, brk;
	uint64_t start_stack;
	uint64_t arg_start, arg_end;
	uint64_t env_start, env_end;
	uint64_t auxv; /* pointer */
	uint32_t auxv_size;
	uint32_t exe_fd;
};

struct fl_launch_spec {
	uint64_t magic;
	uint64_t spec_size;

	/* Kept memory: the cleanup unmaps everything else below address_limit. */
	uint64_t kept_count;
	uint64_t kept_offset; /* from the spec's start: struct fl_range[] */
	uint64_t address_limit;

	/* The plan. */
	uint64_t region_count;
	uint64_t region_offset; /* from the spec's start: struct fl_region[] */
	int64_t files[FL_FILE_COUNT]; /* descriptors, -1 when absent */

	/* The program's stack: mapped [stack_start, stack_end), grows down;
	 * the image is copied to its top. */
	uint64_t stack_start;
	uint64_t stack_end;
	uint64_t stack_prot;
	uint64_t stack_image_offset; /* from the spec's start */
	uint64_t stack_image_size;

	/* The jump. */
	uint64_t entry;
	uint64_t initial_sp;

	/* Process state set before the jump: what the pager's caller handed
	 * over, as execve would hand it to the program (src/caller.ts). */
	uint64_t process_name[2]; /* NUL-padded, at most 15 bytes and the NUL */
	uint64_t signals_ignored; /* bit (sig - 1): ignored; every other one at its default */
	uint64_t signal_mask;     /* bit (sig - 1): blocked */
	uint64_t descriptor_count;
	uint64_t descriptor_offset; /* from the spec's start: struct fl_descriptor[] */
	uint64_t open_files_set;  /* 1: set the soft RLIMIT_NOFILE to open_files_soft */
	uint64_t open_files_soft;
	uint64_t timers_set;      /* 1: arm the interval timers below */
	struct fl_interval_timer timers[FL_INTERVAL_TIMERS];
	uint64_t mm_map_offset; /* from the spec's start: struct fl_mm_map, or 0 */
	uint64_t rss_reset;     /* 1: reset the peak-RSS counter after the cleanup */
	uint64_t unmap_spec_at_jump; /* 1: the spec's memory is not needed by the program */
	uint64_t spec_length;   /* bytes of kept memory holding the spec */

	/* The child's own stack while it works (inside the spec's memory). */
	uint64_t child_stack_top;

	/* Filled in by the shim before the fork (the forking thread's rseq area). */
	uint64_t rseq_area;
	uint64_t rseq_length;
	uint64_t rseq_signature;

	/* Paging (dpager, hpager). The per-page states, the predictor's state
	 * and the handler's stack are private to the program's process (a fork
	 * copies them along with the pages they describe); they live in memory
	 * the child maps for them, not here. */
	uint64_t policy;          /* enum fl_policy */
	uint64_t predictor;       /* enum fl_predictor */
	uint64_t predict_pages;   /* pages per fault, the faulting one included */
	uint64_t demand_pages;    /* pages in demand regions (0: nothing to page) */
	uint64_t altstack_size;   /* the fault handler's stack */
	uint64_t ring_offset;     /* from the spec's start: struct fl_ring, then events */
	uint64_t events_wanted;   /* 1: the parent logs or traces faults; 0: publish nothing */
	uint64_t mechanism;       /* enum fl_mechanism */

	/* --friendly: a genuine SIGSEGV or SIGBUS ends with an encouraging
	 * message and a diagnosis (shim/friendly-report.c). 0: off. */
	uint64_t friendly_seed;
	uint64_t friendly_reraise; /* 1: re-raise after the message, not exit 139 */

	struct fl_status status;
};

#endif
