/*
 * paging.h — demand paging inside the loaded program: what the loader
 * calls just before the jump, and what the two mechanisms share.
 */
#ifndef FAULTLINE_PAGING_H
#define FAULTLINE_PAGING_H

#include "launch.h"
#include "common/sys.h"

/* Install the fault handler on its own stack and, for dpager, enable the
 * entry point's page (fault-handler.c); or, under userfaultfd paging,
 * register the demand regions and send the descriptor to Bun over the
 * control socket (userfaultfd.c). */
__attribute__((visibility("hidden"))) sys_result fl_paging_start(struct fl_launch_spec *spec, int control_fd, int spec_fd);

/* userfaultfd paging's half of fl_paging_start (userfaultfd.c). */
__attribute__((visibility("hidden"))) sys_result fl_userfaultfd_start(struct fl_launch_spec *spec, int control_fd);

/* The return path from a signal handler installed with raw rt_sigaction
 * (fault-handler.c; the loader's --friendly uses it too). */
__attribute__((visibility("hidden"))) void fl_restore_rt(void);

#endif
