/*
 * prefetch.h — the plan's prefetch runs (--prefetch: a learned working set
 * mapped before the jump), as both mechanisms read them: the SIGSEGV
 * handler's set-up enables them (fault-handler.c), userfaultfd's places
 * them (userfaultfd.c). Freestanding.
 */
#ifndef FAULTLINE_PREFETCH_H
#define FAULTLINE_PREFETCH_H

#include "launch.h"
#include "common/sys.h"
#include "paging/regions.h"

static inline const struct fl_prefetch_run *fl_prefetch_runs(const struct fl_launch_spec *spec) {
	return (const struct fl_prefetch_run *)((const char *)spec + spec->prefetch_offset);
}

/* The demand region that holds the whole run, or 0 (TypeScript makes runs
 * inside one; a run that is not is left to demand paging). */
static inline const struct fl_region *fl_prefetch_region(const struct fl_launch_spec *spec,
							 const struct fl_prefetch_run *run) {
	const struct fl_region *region = fl_find_region(spec, run->start);
	if (!region || !(region->flags & FL_REGION_DEMAND) || run->pages == 0 ||
	    run->pages > (region->start + region->length - run->start) / FL_PAGE_SIZE)
		return 0;
	return region;
}

/* What stops the prefetching: the errno is kept in the status (the report
 * says so) and the pages not yet mapped are paged on demand as before. */
static inline void fl_prefetch_stopped(struct fl_launch_spec *spec, sys_result r) {
	spec->status.prefetch_error = (uint64_t)-r;
}

#endif
