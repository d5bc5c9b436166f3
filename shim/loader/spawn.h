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

/* struct fl_spawn_descriptor and struct fl_spawn_request, what the
 * loader is started with, are TypeScript's to write: contract.h. */
#include "launch.h"

/* Bun's side (shim/loader/launch.c). */
int64_t fl_spawn_loader(struct fl_spawn_request *request);
int64_t fl_abandon_loader(int64_t loader_pid, int64_t program_pid, int64_t control);

/* The child's side, run by clone() on a stack of its own; never returns. */
__attribute__((visibility("hidden"))) int fl_spawn_child(void *request);

#endif
