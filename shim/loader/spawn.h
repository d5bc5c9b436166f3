/*
 * spawn.h — spawning the loader in the program's place (shim/loader/spawn.c for
 * the child's side, shim/loader/launch.c for Bun's).
 */
#ifndef FAULTLINE_SPAWN_H
#define FAULTLINE_SPAWN_H

#include <stdint.h>

/* The loader's name, its argv[0] (and so its process name until it names
 * the process after the program). */
#define FL_LOADER_NAME "faultline-loader"

/* A descriptor the program receives: a copy of Bun's `source` at number
 * `target`. `moved` is the child's own scratch copy. */
struct fl_spawn_descriptor {
	uint64_t source;
	uint64_t target;
	uint64_t moved;
};

/* What the loader is started with; written by src/loader/launch.ts as 64-bit
 * words (the pointers are to memory Bun keeps until the spawn returns). */
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

/* Bun's side (shim/loader/launch.c). */
int64_t fl_spawn_loader(struct fl_spawn_request *request);
int64_t fl_abandon_loader(int64_t loader_pid, int64_t program_pid, int64_t control);

/* The child's side, run by clone() on a stack of its own; never returns. */
__attribute__((visibility("hidden"))) int fl_spawn_child(void *request);

#endif
