/*
 * fault.h — demand paging inside the loaded program (fault.c).
 */
#ifndef FAULTLINE_FAULT_H
#define FAULTLINE_FAULT_H

#include "launch.h"
#include "sys.h"

/* Install the fault handler on its own stack and, for dpager, enable the
 * entry point's page. Runs in the child just before the jump. */
__attribute__((visibility("hidden"))) sys_result fl_paging_start(struct fl_launch_spec *spec);

#endif
