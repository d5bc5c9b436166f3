/*
 * launch.h — the messages on the control socket between a launch's Bun
 * (or the user's service) and the loader, and FL_EXPORT, which marks the
 * shim's functions that Bun calls (each is defined, and said, where it
 * lives). The records TypeScript writes or reads are in contract.h, which
 * contract-layout.c reports field by field for src/loader/contract.ts to
 * check when the shim is opened; the messages here are C's alone.
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
 *                  are in the plan's status) and its start mappings logged
 *                  (by the loader itself); with wait_for_go, the loader
 *                  then waits for struct fl_go;
 *   loader -> Bun  under userfaultfd paging, struct fl_uffd_delivery with
 *                  the userfaultfd as SCM_RIGHTS.
 * The loader's end is at a descriptor number it is given as argv[1].
 *
 * The loader as the installed command's client (shim/loader/client.c):
 * started by the caller's shell as `faultline PAGER ...`, it connects to
 * the user's faultline service (SOCK_SEQPACKET, the service's socket) and
 * speaks the same protocol as above, from its own process, which becomes
 * the program:
 *   client -> service  struct fl_client_hello, with the client's standard
 *                      error as SCM_RIGHTS (when it has one), in place of
 *                      struct fl_hello;
 *   service -> client  struct fl_plan_delivery as above, or struct
 *                      fl_client_answer: take the plain path (the command
 *                      through Bun), retry with a new service (this one is
 *                      of another build and goes), or exit with a status
 *                      (the service said why on the client's standard
 *                      error);
 *   client -> service  after the plan, as the loader does; a failure before
 *                      the jump is struct fl_failed, after which the client
 *                      waits for the service to hang up (it has said why)
 *                      and exits with the shells' "cannot execute".
 */
#define FL_HELLO_MAGIC 0x6f6c6c65686c66ull   /* "flhello" */
#define FL_PLAN_MAGIC 0x6e616c706c66ull      /* "flplan" */
#define FL_PLACED_MAGIC 0x646563616c706c66ull /* "flplaced" */
#define FL_GO_MAGIC 0x6f67676c66ull           /* "flggo" */
#define FL_UFFD_MAGIC 0x64666675666cull      /* "flufd" */
/* Descriptors a plan delivery can carry, in this order, each only when its
 * bit is in file_mask: the plan, the program, the interpreter, the program's
 * image copy, the interpreter's, and the mapping log's (where the loader
 * writes the start mappings' lines: the plan's start lines). */
enum fl_plan_file {
	FL_PLAN_SPEC = 0,
	FL_PLAN_PROGRAM = 1,
	FL_PLAN_INTERPRETER = 2,
	FL_PLAN_PROGRAM_COPY = 3,
	FL_PLAN_INTERPRETER_COPY = 4,
	FL_PLAN_LOG = 5,
	FL_PLAN_FILES = 6,
};
/* Room for a plan delivery's descriptors in its message's control data:
 * CMSG_SPACE(FL_PLAN_FILES * sizeof(int)) on x86-64 (a 16-byte header, then
 * the descriptors rounded up to 8 bytes), written out for the loader, which
 * has no libc; launch.c checks it against libc's CMSG_SPACE. */
#define FL_CMSG_HEADER_BYTES 16
#define FL_CMSG_ALIGNMENT 8
#define FL_PLAN_CONTROL_BYTES \
	(FL_CMSG_HEADER_BYTES + (FL_PLAN_FILES * sizeof(int) + FL_CMSG_ALIGNMENT - 1) / FL_CMSG_ALIGNMENT * FL_CMSG_ALIGNMENT)

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

#define FL_CLIENT_MAGIC 0x746e65696c636c66ull /* "flclient" */
#define FL_ANSWER_MAGIC 0x7265777361666cull   /* "flaswer" */
#define FL_FAILED_MAGIC 0x64656c6961666cull   /* "flailed" */
/* Room for the client's auxiliary vector in its hello: the kernel gives
 * about 25 entries (two words each) on x86-64. The service's request
 * (contract.h) has the same room. */
#define FL_HELLO_AUXV_WORDS FL_REQUEST_AUXV_WORDS
/* The client's build: its loader file's identity, which the service
 * compares with the loader it would plan for. */
struct fl_client_hello {
	uint64_t magic;
	uint64_t loader_device;
	uint64_t loader_inode;
	uint64_t loader_change_ns; /* st_ctime, in nanoseconds */
	uint64_t has_stderr;       /* its standard error is carried */
	uint64_t personality;      /* personality(2): ADDR_NO_RANDOMIZE and the rest */
	uint64_t again;            /* not a command: a program the service ran ran
				    * the loader again through /proc/self/exe */
	/* What the program's plan depends on, as this process has it (the
	 * program is to be this process): */
	uint64_t stack_limit;      /* RLIMIT_STACK's soft limit (~0: none) */
	uint64_t capabilities;     /* effective capabilities, bit n: capability n */
	uint64_t auxv_words;       /* the auxiliary vector's words in auxv, AT_NULL's included */
	uint64_t auxv[FL_HELLO_AUXV_WORDS];
};

enum fl_client_verdict {
	FL_ANSWER_PLAIN = 1, /* run the command through Bun (FL_PLAIN_MARK) */
	FL_ANSWER_RETRY = 2, /* this service is going: start a new one */
	FL_ANSWER_EXIT = 3,  /* exit with `status` */
};

struct fl_client_answer {
	uint64_t magic;
	uint64_t verdict; /* enum fl_client_verdict */
	uint64_t status;
};

struct fl_failed {
	uint64_t magic;
};

#endif
