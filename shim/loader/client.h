/*
 * client.h — the loader as the installed command's client (client.c): how
 * loader.c asks the user's faultline service for the plan instead of Bun's
 * control socket.
 */
#ifndef FAULTLINE_CLIENT_H
#define FAULTLINE_CLIENT_H

#include <stdint.h>

#include "launch.h"

/* Exit statuses of the loader (the shells' "cannot execute" and "not
 * found"), for failures before the jump. */
#define FL_EXIT_LOAD_FAILED 126
#define FL_EXIT_NOT_FOUND 127

/* Connect to the user's service (starting one if none answers) and say
 * hello: the control socket, on which the plan comes as from Bun. Falls
 * back to the plain path (never returns) when no service can answer. */
__attribute__((visibility("hidden"))) int fl_client_start(uint64_t argc, const char *const *argv, const char *const *envp);

/* The service answered with a verdict instead of a plan: exit, take the
 * plain path, or (RETRY, once) a new control socket to a new service. */
__attribute__((visibility("hidden"))) int fl_client_answered(int control, const struct fl_client_answer *answer, int retried);

/* The plain path: the command through Bun (bin/faultline --no-service);
 * with say_why, one note line first. Never returns. */
__attribute__((visibility("hidden"), noreturn)) void fl_client_plain(int say_why);

/* The installed command's other commands (friendly, service, --help),
 * which Bun runs: the plain path, with nothing said. */
__attribute__((visibility("hidden"), noreturn)) void fl_client_other_command(uint64_t argc, const char *const *argv, const char *const *envp);

/* A failure before the jump under a service: tell it, wait for it to say
 * why and hang up, exit 126. */
__attribute__((visibility("hidden"), noreturn)) void fl_client_failed(int control);

#endif
