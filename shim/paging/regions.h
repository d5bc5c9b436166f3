/*
 * regions.h — looking up the plan's regions: a sorted, disjoint table
 * searched with half-open bounds. Used by the fault handler (freestanding)
 * and by the parent's log drainer alike.
 */
#ifndef FAULTLINE_REGIONS_H
#define FAULTLINE_REGIONS_H

#include <stdint.h>

#include "launch.h"

#define FL_PAGE_SIZE 4096ull

static inline uint64_t fl_page_down(uint64_t address) {
	return address & ~(FL_PAGE_SIZE - 1);
}

static inline uint64_t fl_page_up(uint64_t n) {
	return (n + FL_PAGE_SIZE - 1) & ~(FL_PAGE_SIZE - 1);
}

static inline const struct fl_region *fl_regions(const struct fl_launch_spec *spec) {
	return (const struct fl_region *)((const char *)spec + spec->region_offset);
}

/* The region holding address, or 0: binary search over [start, start+length). */
static inline const struct fl_region *fl_find_region(const struct fl_launch_spec *spec, uint64_t address) {
	const struct fl_region *table = fl_regions(spec);
	uint64_t low = 0, high = spec->region_count;
	while (low < high) {
		uint64_t mid = low + (high - low) / 2;
		const struct fl_region *r = &table[mid];
		if (address < r->start)
			high = mid;
		else if (address - r->start >= r->length)
			low = mid + 1;
		else
			return r;
	}
	return 0;
}

#endif
