/*
 * predict.h — hpager's predictors, as rules over the page numbers of
 * successive faults. Pure: a fault page and the predictor's state in, the
 * candidate pages (beside the faulting one) and the decision out. Callers
 * map only candidates inside the same region that are not mapped yet. Used
 * by the SIGSEGV handler (fault-handler.c) and the userfaultfd server (serve.c).
 *
 *   next       the pages that follow the faulting one;
 *   stride     the distance between the last two faults, once seen twice in
 *              a row, repeated; the next stride is measured from the last
 *              page predicted, where a strided scan faults next;
 *   readahead  a window of following pages that doubles while faults come
 *              sequentially (each at the end of the previous window) and
 *              falls back to the faulting page alone on a miss, capped at
 *              the pages per fault, like Linux's readahead at its maximum.
 */
#ifndef FAULTLINE_PREDICT_H
#define FAULTLINE_PREDICT_H

#include <stdint.h>

#include "launch.h"
#include "paging/regions.h"

/* Returns how many candidates it wrote to `out` (at most pages - 1). */
static inline uint64_t fl_predict(struct fl_predictor_state *state, uint64_t predictor, uint64_t pages,
				  uint64_t page, uint64_t *out, uint64_t *decision) {
	uint64_t extra = pages > 1 ? pages - 1 : 0;
	uint64_t count = 0;
	switch (predictor) {
	case FL_PREDICT_NEXT:
		*decision = FL_DECIDE_NEXT;
		for (uint64_t i = 1; i <= extra; i++)
			out[count++] = page + i * FL_PAGE_SIZE;
		return count;
	case FL_PREDICT_STRIDE: {
		int64_t delta = (int64_t)(page - state->last_page) / (int64_t)FL_PAGE_SIZE;
		int confirmed = state->last_page != 0 && delta != 0 && delta == state->last_delta;
		*decision = confirmed ? FL_DECIDE_STRIDE : FL_DECIDE_STRIDE_LEARNING;
		uint64_t last = page;
		for (uint64_t i = 1; confirmed && i <= extra; i++) {
			last = page + (uint64_t)(delta * (int64_t)i * (int64_t)FL_PAGE_SIZE);
			out[count++] = last;
		}
		state->last_delta = delta;
		state->last_page = last;
		return count;
	}
	case FL_PREDICT_READAHEAD: {
		int hit = state->next_expected != 0 && page == state->next_expected;
		uint64_t window = hit ? state->window * 2 : 1;
		if (window > pages)
			window = pages;
		if (window == 0)
			window = 1;
		*decision = hit ? FL_DECIDE_READAHEAD_HIT : FL_DECIDE_READAHEAD_MISS;
		for (uint64_t i = 1; i < window; i++)
			out[count++] = page + i * FL_PAGE_SIZE;
		state->window = window;
		state->next_expected = page + window * FL_PAGE_SIZE;
		return count;
	}
	default:
		*decision = FL_DECIDE_NONE;
		return 0;
	}
}

/* Is candidate a page of region? */
static inline int fl_in_region(const struct fl_region *region, uint64_t page) {
	return page >= region->start && page - region->start < region->length;
}

#endif
