/*
 * launch.h — the contract between TypeScript and the loader: the plan (the
 * launch spec), laid out by src/loader/spec.ts in a memfd the loader maps, and the
 * messages on the control socket between Bun and the loader.
 *
 * Every field is a 64-bit little-endian word, so the layout has no padding and
 * src/loader/spec.ts can write it with plain offsets. `fl_spec_layout()` reports the
 * sizes below so the TypeScript side can refuse to run against a stale shim.
 */
#ifndef FAULTLINE_LAUNCH_H
#define FAULTLINE_LAUNCH_H

#include <stdint.h>

/* Functions Bun calls through bun:ffi; everything else stays hidden. */
#define FL_EXPORT __attribute__((visibility("default")))

#include "contract.h"

/*
 * The control socket (SOCK_SEQPACKET) between Bun and the loader, closed by
 * the loader before the jump:
 *   loader -> Bun  struct fl_hello: the pid of the process that becomes the
 *                  program, at once;
 *   Bun -> loader  struct fl_plan_delivery, with the plan's memfd and the
 *                  program's (and interpreter's) descriptors as SCM_RIGHTS
 *                  (sent as soon as the plan is made: it waits in the
 *                  socket if the loader is not there yet);
 *   loader -> Bun  struct fl_placed once the program is mapped (the bases
 *                  are in the plan's status); with wait_for_go, the loader
 *                  then waits for struct fl_go;
 *   loader -> Bun  under userfaultfd paging, struct fl_uffd_delivery with
 *                  the userfaultfd as SCM_RIGHTS.
 * The loader's end is at a descriptor number it is given as argv[1].
 */
#define FL_HELLO_MAGIC 0x6f6c6c65686c66ull   /* "flhello" */
#define FL_PLAN_MAGIC 0x6e616c706c66ull      /* "flplan" */
#define FL_PLACED_MAGIC 0x646563616c706c66ull /* "flplaced" */
#define FL_GO_MAGIC 0x6f67676c66ull           /* "flggo" */
#define FL_UFFD_MAGIC 0x64666675666cull      /* "flufd" */
/* Descriptors a plan delivery can carry, in this order, each only when its
 * bit is in file_mask: the plan, the program, the interpreter, the program's
 * image copy, the interpreter's. */
enum fl_plan_file {
	FL_PLAN_SPEC = 0,
	FL_PLAN_PROGRAM = 1,
	FL_PLAN_INTERPRETER = 2,
	FL_PLAN_PROGRAM_COPY = 3,
	FL_PLAN_INTERPRETER_COPY = 4,
	FL_PLAN_FILES = 5,
};

struct fl_hello {
	uint64_t magic;
	uint64_t pid; /* the process that becomes the program */
};

struct fl_plan_delivery {
	uint64_t magic;
	uint64_t spec_address; /* where to map the plan */
	uint64_t spec_length;
	uint64_t file_mask;    /* bit enum fl_plan_file: that descriptor is carried */
};

struct fl_placed {
	uint64_t magic;
};

struct fl_go {
	uint64_t magic;
};

struct fl_uffd_delivery {
	uint64_t magic;
};

#endif
