/*
 * contract.h — the TypeScript/C contract: the launch spec TypeScript writes
 * (src/loader/spec.ts) in a memfd the loader maps, the status the loader
 * writes back into it, the regions, relocations and prefetch runs it
 * carries, and the event ring SIGSEGV paging shares with Bun.
 *
 * Every field is a 64-bit little-endian word or a pair of 32-bit ones, so the
 * layout has no padding. src/loader/spec.ts writes and reads every field by
 * its name; `fl_contract_layout()` (contract-layout.c) reports each field's
 * offset and size, and each loader stage's number, and the TypeScript side
 * compares them with its own table when it opens the shim, so a field added,
 * moved or swapped on one side only is refused before any plan is written.
 * A field added here is added to contract-layout.c's table and to spec.ts.
 */
#ifndef FAULTLINE_CONTRACT_H
#define FAULTLINE_CONTRACT_H

#include <stdint.h>

#define FL_SPEC_MAGIC 0x32656e696c746c66ull /* "fltline2" */

/* Files a region can be mapped from. */
enum fl_file { FL_FILE_PROGRAM = 0, FL_FILE_INTERPRETER = 1, FL_FILE_COUNT = 2 };

/* Region.offset of an anonymous region. */
#define FL_ANONYMOUS UINT64_MAX

/* Region.flags */
#define FL_REGION_POPULATE 1ull /* fault every page in before the jump */
#define FL_REGION_DEMAND 2ull   /* reserved PROT_NONE; pages enabled on fault */
/* Mapped from the image copy (a sealed memfd holding the file's bytes, at
 * copy_offset) rather than the file: userfaultfd paging's file pages, whose
 * bytes the kernel then has whatever happens to the pager. */
#define FL_REGION_COPY 4ull

/* Paging policies. */
enum fl_policy { FL_POLICY_EAGER = 0, FL_POLICY_DEMAND = 1, FL_POLICY_HYBRID = 2 };

/* Predictors: which pages besides the faulting one a fault maps. */
enum fl_predictor { FL_PREDICT_NONE = 0, FL_PREDICT_NEXT, FL_PREDICT_STRIDE, FL_PREDICT_READAHEAD };

/* How demand faults reach the pager: a SIGSEGV handler in the program, or
 * userfaultfd, served by a thread of Bun's (where the kernel allows it). */
enum fl_mechanism { FL_MECHANISM_SIGNAL = 0, FL_MECHANISM_USERFAULTFD = 1 };

/* Per-page state of demand regions, one byte each. */
enum fl_page_state { FL_PAGE_RESERVED = 0, FL_PAGE_ENABLING = 1, FL_PAGE_ENABLED = 2 };

/*
 * What an address in the plan is relative to. TypeScript makes the plan
 * before the loader runs, so what only the loader learns is left to it:
 * where the kernel put its [stack] (the stack image is built for a nominal
 * top, FL_NOMINAL_STACK_TOP), its vDSO, and the images the kernel places
 * where mmap puts things (static-pie programs, interpreters), planned at a
 * bias of 0. Each relocation adds the base's value to one word of the plan.
 */
enum fl_base {
	FL_BASE_FIXED = 0,
	FL_BASE_STACK = 1,
	FL_BASE_VDSO = 2,
	FL_BASE_PROGRAM = 3,
	FL_BASE_INTERPRETER = 4,
	FL_BASE_COUNT = 5,
};
#define FL_NOMINAL_STACK_TOP 0x7ff000000000ull

/* The loader's own memory, at fixed places beside its image (linked at
 * 0x200000000000, src/shim/shim-build.ts): its stack below, the plan above. */
#define FL_LOADER_STACK_BYTES 0x10000
#define FL_LOADER_STACK_ADDRESS 0x1fffffff0000 /* 0x200000000000 less the stack */
#define FL_PLAN_ADDRESS 0x200100000000
/* Where the loader's memory that stays in the program goes: SIGSEGV
 * paging's state and handler stack, the event ring's window, --friendly's
 * stack. Beside the loader, not where mmap's top-down choice would put them
 * (that would move every library ld.so maps afterwards from where it goes
 * natively). Hints: where the program itself is, mmap chooses. 4 GiB
 * apart, far more than any of them needs. */
#define FL_RESIDUE_PAGING_ADDRESS 0x200200000000
#define FL_RESIDUE_RING_ADDRESS 0x200300000000
#define FL_RESIDUE_FRIENDLY_ADDRESS 0x200400000000

/* The vDSO and its data pages ([vvar], [vvar_vclock]): mappings side by
 * side, which the loader moves together, each at the same distance from
 * the block's start (the vDSO's code finds its data there). */
#define FL_VDSO_PARTS 4
struct fl_vdso_part {
	uint64_t offset; /* from the block's start */
	uint64_t length;
};

/* One word of the plan to relocate: at `offset` from the spec's start, add
 * the value of `base` (enum fl_base). */
struct fl_relocation {
	uint64_t offset;
	uint64_t base;
};

/* An image the kernel places: the loader reserves its extent where mmap
 * puts it, at `alignment`. */
struct fl_placement {
	uint64_t by_kernel; /* 1: placed by the loader's mmap; 0: fixed */
	uint64_t extent_start;
	uint64_t extent_size;
	uint64_t alignment;
};

/* One mapping of the plan: page-aligned, non-overlapping; sorted by start
 * once the loader has relocated the table. */
struct fl_region {
	uint64_t start;
	uint64_t length;
	uint64_t offset;    /* file offset, or FL_ANONYMOUS */
	uint64_t file;      /* enum fl_file */
	uint64_t prot;      /* PROT_* */
	uint64_t flags;     /* FL_REGION_* */
	uint64_t zero_from; /* bytes from here to the region's end are zeroed (0: none) */
	uint64_t page_index; /* demand regions: index of the first page's state byte */
	uint64_t base;      /* enum fl_base of start and zero_from */
	uint64_t copy_offset; /* FL_REGION_COPY: where the region's bytes are in the copy */
};

/* Pages to map before the program needs them (--prefetch: a learned
 * working set): `pages` pages from `start`, all in one demand region.
 * `start` is relocated like the region's own. */
struct fl_prefetch_run {
	uint64_t start;
	uint64_t pages;
};

/* A mapping line the loader writes itself before the jump (the start
 * mappings of the mapping log, with the log's descriptor that came with the
 * plan): the text at text_offset (from the spec's start), text_length
 * bytes, with `address` written in hexadecimal ("0x...") after its first
 * head_length bytes, and a newline. `address` is relocated like a
 * region's start. */
struct fl_start_line {
	uint64_t address;
	uint64_t text_offset;
	uint64_t head_length;
	uint64_t text_length;
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

/* Where the loader stopped, when it stopped before the jump. */
enum fl_stage {
	FL_STAGE_NONE = 0,
	FL_STAGE_STARTING,
	FL_STAGE_MAPPING_PLAN,
	FL_STAGE_PLACING,
	FL_STAGE_MAP_REGION,
	FL_STAGE_ZERO_TAIL,
	FL_STAGE_PROTECT,
	FL_STAGE_STACK,
	FL_STAGE_PROCESS_NAME,
	FL_STAGE_EXECUTABLE,
	FL_STAGE_CLOSE_FILES,
	FL_STAGE_PAGING,
	FL_STAGE_FRIENDLY,
	FL_STAGE_SIGNAL_MASK,
	FL_STAGE_INTERVAL_TIMERS,
	FL_STAGE_LAUNCHED,
};

/*
 * Written by the loader in the plan's memory, which Bun maps too, and read
 * by Bun once the program has ended. `stage` is the last step begun;
 * `launched` becomes 1 just before the jump, so a process that ends with it
 * still 0 died in the loader, not the program.
 */
struct fl_status {
	uint64_t launched;
	uint64_t stage;
	uint64_t error;  /* positive errno of the failed step */
	uint64_t detail; /* region index or address the failure concerns */
	uint64_t mm_map_error; /* errno of PR_SET_MM_MAP, 0 when it took effect */
	uint64_t exe_error;    /* errno of naming the program /proc/self/exe, 0 when done */
	uint64_t faults;       /* demand faults resolved */
	uint64_t pages_enabled; /* demand pages made accessible, predicted ones included */
	uint64_t handler_error; /* first errno a fault handler met (the program then died) */
	uint64_t events_dropped; /* events the log had no room for */
	uint64_t genuine_faults; /* faults the handler left to end the program */
	uint64_t bases[FL_BASE_COUNT]; /* the value of each base, once placed */
	uint64_t tampered; /* 1: what the program could write of the pager's was not what its handler writes */
	uint64_t prefetched;     /* pages the loader mapped from the prefetch runs */
	uint64_t prefetch_error; /* errno that stopped the prefetching (the rest stays on demand), 0: none */
};

/* What a fault (or the start) did, for the log and --trace; written by the
 * program's fault handler into a ring buffer in the plan's memory, read by
 * Bun's drainer. */
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

/* Events the ring holds (TypeScript sizes it so: spec.ts RING_CAPACITY). */
#define FL_RING_CAPACITY 1024

/* What the SIGSEGV mechanism's handler counts, for the report. Each count
 * has a check word that holds its complement (TypeScript writes all ones
 * into each at start): the program can write both, so a program that forges
 * counts is not caught, but one that scribbles over them is. */
enum fl_count {
	FL_COUNT_FAULTS = 0,         /* demand faults resolved */
	FL_COUNT_PAGES_ENABLED = 1,  /* demand pages made accessible, predicted ones included */
	FL_COUNT_HANDLER_ERROR = 2,  /* first errno the handler met (the program then died) */
	FL_COUNT_EVENTS_DROPPED = 3, /* events the ring had no room for */
	FL_COUNT_GENUINE_FAULTS = 4, /* faults the handler left to end the program */
	FL_COUNTS = 5,
};
struct fl_counters {
	uint64_t value[FL_COUNTS];
	uint64_t check[FL_COUNTS]; /* ~value */
};

/*
 * The ring: head counts events reserved by writers, tail events consumed.
 * With the counters, the only memory of the pager's the program can write
 * (SIGSEGV paging maps this window of the plan's memfd, and nothing else of
 * it, into the program): Bun reads it as untrusted (events.c).
 */
struct fl_ring {
	uint32_t head_wake; /* futex word: bumped after each published event */
	uint32_t tail_wake; /* futex word: bumped after the reader consumes */
	uint64_t head;
	uint64_t tail;
	uint64_t capacity;
	uint32_t reader_sleeping; /* the reader waits on head_wake: wake it */
	uint32_t writers_waiting; /* writers wait on tail_wake: wake them */
	struct fl_counters counters;
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

/*
 * The plan: everything the loader (shim/loader/loader.c) does to turn itself into
 * the program, as TypeScript decided it (src/loader/spec.ts) from the loader's own
 * address space. Every address in it is final.
 */
struct fl_launch_spec {
	uint64_t magic;
	uint64_t spec_size;

	/* The regions to map, the images the kernel places, and the words to
	 * relocate once the loader knows where things are. */
	uint64_t region_count;
	uint64_t region_offset; /* from the spec's start: struct fl_region[] */
	struct fl_placement program;
	struct fl_placement interpreter;
	uint64_t relocation_count;
	uint64_t relocation_offset; /* from the spec's start: struct fl_relocation[] */
	uint64_t wait_for_go; /* 1: report the placement and wait for Bun's go (--gdb attaches, --prefetch's end look) */

	/* The program's stack: the kernel's [stack] of the loader, the image
	 * copied to its top, the mapping grown down to stack_low as the kernel
	 * grows a new program's (both relocated, FL_BASE_STACK). */
	uint64_t stack_low;
	uint64_t stack_top;
	uint64_t stack_image_offset; /* from the spec's start */
	uint64_t stack_image_size;

	/* The jump. */
	uint64_t entry;
	uint64_t initial_sp;

	/* Process state set before the jump. */
	uint64_t process_name[2]; /* NUL-padded, at most 15 bytes and the NUL */
	uint64_t mm_map_offset;   /* from the spec's start: struct fl_mm_map, or 0 */
	uint64_t replace_exe;     /* 1: the loader may name the program's file /proc/self/exe */
	uint64_t timers_set;      /* 1: arm the interval timers below before the jump */
	struct fl_interval_timer timers[FL_INTERVAL_TIMERS];

	/* Paging (dpager, hpager). The per-page states, the predictor's state
	 * and the handler's stack are private to the program's process (a fork
	 * copies them along with the pages they describe); they live in memory
	 * the loader maps for them, not here. */
	uint64_t policy;          /* enum fl_policy */
	uint64_t predictor;       /* enum fl_predictor */
	uint64_t predict_pages;   /* pages per fault, the faulting one included */
	uint64_t demand_pages;    /* pages in demand regions (0: nothing to page) */
	uint64_t altstack_size;   /* the fault handler's stack */
	uint64_t ring_offset;     /* from the spec's start: struct fl_ring, then events */
	uint64_t events_wanted;   /* 1: Bun logs or traces faults; 0: publish nothing */
	uint64_t mechanism;       /* enum fl_mechanism */

	/* --friendly: a genuine SIGSEGV or SIGBUS ends with an encouraging
	 * message and a diagnosis (shim/friendly/friendly-report.c). 0: off. */
	uint64_t friendly_seed;
	uint64_t friendly_reraise; /* 1: re-raise after the message, not exit 139 */
	/* userfaultfd paging with a descriptor that serves the program's own
	 * accesses only (UFFD_USER_MODE_ONLY: no privilege needed). */
	uint64_t uffd_user_mode_only;

	/* --prefetch: pages mapped at start, before the jump (shim/paging/prefetch.h). */
	uint64_t prefetch_count;  /* struct fl_prefetch_run entries */
	uint64_t prefetch_offset; /* from the spec's start, or 0 */

	/* The start mappings' lines (struct fl_start_line), written by the
	 * loader to the log's descriptor just before it reports the program
	 * placed: the first start_lines_sorted in the order of their final
	 * addresses, the rest after them as they are. Formatted into the
	 * start_log_size bytes at start_log_offset (from the spec's start).
	 * 0 lines: nothing to write. */
	uint64_t start_line_count;
	uint64_t start_lines_sorted;
	uint64_t start_line_offset;
	uint64_t start_log_offset;
	uint64_t start_log_size;

	/* The program's [stack] protection (PROT_*), executable where
	 * PT_GNU_STACK asks, and whether it runs with READ_IMPLIES_EXEC in its
	 * personality (src/loader/plan.ts stackExecution). */
	uint64_t stack_prot;
	uint64_t read_implies_exec;

	/* The vDSO block as this kernel lays it out (parts sorted, the first at
	 * offset 0), and the vDSO's offset in it: the loader moves it to where
	 * the kernel maps it for a program, below the images it places. 0
	 * parts: left where the kernel mapped it for the loader. */
	uint64_t vdso_part_count;
	uint64_t vdso_offset;
	struct fl_vdso_part vdso_parts[FL_VDSO_PARTS];

	struct fl_status status;
};

/* A descriptor a program spawned by Bun (shim/loader/spawn.c) receives: a
 * copy of Bun's `source` at number `target`. `moved` is the child's own
 * scratch copy. */
struct fl_spawn_descriptor {
	uint64_t source;
	uint64_t target;
	uint64_t moved;
};

/* What the loader is started with (shim/loader/spawn.c), written by
 * src/shim/shim.ts field by field (the pointers are to memory Bun keeps
 * until the spawn returns). */
struct fl_spawn_request {
	const char *loader;          /* the loader's path */
	const char *const *argv;     /* set by fl_spawn_loader */
	uint64_t descriptor_count;
	struct fl_spawn_descriptor *descriptors;
	uint64_t signals_ignored;    /* bit (sig - 1): ignored; the others at their defaults */
	uint64_t signal_mask;        /* bit (sig - 1): blocked */
	uint64_t open_files_set;     /* 1: set the soft RLIMIT_NOFILE to open_files_soft */
	uint64_t open_files_soft;
	const char *cwd;             /* the working directory, or 0 to keep Bun's */
	uint64_t control_source;     /* set by fl_spawn_loader: the loader's end, here */
	uint64_t control_target;     /* its number in the loader (argv[1]) */
	int64_t error;               /* out: why the child could not execute the loader */
	int64_t pid;                 /* out: the loader's pid */
	int64_t control;             /* out: Bun's end of the control socket */
};

/*
 * What a launch's waiter thread (shim/loader/launch.c) tells TypeScript
 * (src/shim/shim.ts startWaiter), one whole record at a time, on a stream
 * socket it alone writes: the program has started (its pid), is placed
 * (when it waits for Bun's go), or has ended.
 */
enum fl_notice_kind { FL_NOTICE_STARTED = 1, FL_NOTICE_PLACED = 2, FL_NOTICE_ENDED = 3 };
/* A process's command name as the kernel keeps it (TASK_COMM_LEN). */
#define FL_COMMAND_NAME_BYTES 16
struct fl_notice {
	int64_t kind;
	int64_t pid;
	int64_t error;       /* negative errno of wait4, or 0 */
	int64_t wait_status; /* as from wait4 */
	int64_t max_rss_kib;
	int64_t user_usec;
	int64_t system_usec;
	int64_t events_undelivered; /* live events the event pipe had no room for */
	int64_t trace_error;        /* the first errno a trace write met, or 0 */
	/* Placed, when the waiter took the end look's hold itself: the handle
	 * (fl_pin_release) and the program's pagemap, open; -1 when not. */
	int64_t pin;
	int64_t pagemap_fd;
	/* Ended: the rest of the program's rusage, as wait4 gave it (what
	 * Bun.spawn's resourceUsage() reports). */
	int64_t voluntary_switches;
	int64_t involuntary_switches;
	int64_t in_blocks;
	int64_t out_blocks;
	int64_t messages_sent;
	int64_t messages_received;
	int64_t signals;
	int64_t swaps;
	int64_t shared_kib;
	/* Ended: 1 when the program replaced itself by execve, with the name
	 * it last ran as (its comm, NUL-terminated); 0 when it never did. */
	int64_t execed;
	char exec_name[FL_COMMAND_NAME_BYTES];
};

/*
 * One client of the user's service, as the service's acceptor
 * (shim/loader/service.c) hands it to TypeScript (src/shim/shim.ts
 * serviceRequests): accepted, checked to be the service's user, its hello
 * read. The client's own facts are its hello's (struct fl_client_hello,
 * launch.h).
 */
#define FL_REQUEST_AUXV_WORDS 128
struct fl_service_request {
	uint64_t control;   /* the connection (close-on-exec) */
	uint64_t pid;       /* from SO_PEERCRED */
	uint64_t uid;
	uint64_t gid;
	uint64_t loader_device; /* the client's build */
	uint64_t loader_inode;
	uint64_t loader_change_ns;
	uint64_t stderr_fd; /* its standard error, open here; ~0: none */
	uint64_t personality;
	uint64_t again;     /* run again through /proc/self/exe, not a command */
	uint64_t stack_limit;
	uint64_t capabilities;
	uint64_t auxv_words;
	uint64_t auxv[FL_REQUEST_AUXV_WORDS];
};

#endif
