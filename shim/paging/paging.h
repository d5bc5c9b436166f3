/*
 * paging.h — demand paging inside the loaded program (fault-handler.c).
 */
#ifndef FAULTLINE_PAGING_H
#define FAULTLINE_PAGING_H

#include "launch.h"
#include "common/sys.h"

/* Install the fault handler on its own stack and, for dpager, enable the
 * entry point's page; or, under userfaultfd paging, register the demand
 * regions and send the descriptor to Bun over the control socket. Runs in
 * the loader just before the jump. */
__attribute__((visibility("hidden"))) sys_result fl_paging_start(struct fl_launch_spec *spec, int control_fd, int spec_fd);

/* The return path from a signal handler installed with raw rt_sigaction. */
__attribute__((visibility("hidden"))) void fl_restore_rt(void);

/* --friendly: report genuine faults with friendly_on_fault (SIGSEGV and
 * SIGBUS), on an alternate stack of its own unless paging already set one
 * up. Under SIGSEGV paging, the fault handler calls the reporter itself for
 * the faults it does not own. */
__attribute__((visibility("hidden"))) sys_result fl_friendly_start(struct fl_launch_spec *spec);

#endif
