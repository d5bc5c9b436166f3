/*
 * chunk.c — lazy copy, the bookkeeping half: chunks allocated, copied
 * (eagerly and lazily), made writable ahead of kernel writes, and freed,
 * on behalf of JavaScript (src/chunks/chunks.ts). Runs on Bun's threads, never in
 * a signal handler, so it may use libc; the fault path is chunk-fault.c.
 *
 * Rules shared with the handler are in chunk.h. In short: records are
 * recycled, never unmapped; everything about a chunk changes under its
 * lineage lock; the registry mutex below guards only the record pools and
 * the chunk table, and is taken after a lineage lock, never before.
 *
 * Mappings: every chunk costs the kernel at least one mapping (vma), and a
 * process has at most vm.max_map_count of them. The shim counts what it
 * holds (fl_shim_vmas, an estimate) and samples what the rest of the
 * process holds; new chunks and copies are refused with FL_EMAPLIMIT while
 * fewer than API_MAP_RESERVE mappings would be left, so that writes to
 * chunks already shared always find room for their splits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chunks/chunk.h"
#include "launch.h"

/* Larger chunks would make per-unit arrays of page-split chunks large; 1 TiB
 * is far beyond what a process here can populate. */
#define CHUNK_MAX_BYTES (1ull << 40)
/* Mappings left free for Bun and for splits; see the file comment. */
#define API_MAP_RESERVE 1024
/* Copying a writable chunk that is one kernel mapping and at least this
 * large moves its page tables aside instead of write-protecting them one
 * entry at a time (park_page_tables); below it, write-protecting a few
 * entries costs less than the moves. */
#define PARK_MIN_BYTES (128ull << 10)
/* Records come from slabs of this size, which are never unmapped. */
#define SLAB_BYTES (64u * 1024u)
#define MAPS_READ_BYTES 65536
#define MAX_MAP_COUNT_PATH "/proc/sys/vm/max_map_count"
#define SELF_MAPS_PATH "/proc/self/maps"

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static struct fl_chunk *free_chunks;
static struct fl_lineage *free_lineages;
static uint64_t *free_nodes; /* table nodes not yet used */
static uint64_t free_node_count;
static uint64_t next_chunk_id = 1;
static int started;

/* --- the record pools (registry mutex held) ------------------------------ */

static void *slab(void) {
	void *at = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return at == MAP_FAILED ? NULL : at;
}

static struct fl_chunk *chunk_record_take(void) {
	if (!free_chunks) {
		struct fl_chunk *records = slab();
		if (!records)
			return NULL;
		for (size_t i = 0; i < SLAB_BYTES / sizeof *records; i++) {
			records[i].next_free = free_chunks;
			free_chunks = &records[i];
		}
	}
	struct fl_chunk *record = free_chunks;
	free_chunks = record->next_free;
	return record;
}

static void chunk_record_give_back(struct fl_chunk *record) {
	__atomic_store_n(&record->state, FL_CHUNK_UNUSED, __ATOMIC_RELEASE);
	record->next_free = free_chunks;
	free_chunks = record;
}

static struct fl_lineage *lineage_take(void) {
	if (!free_lineages) {
		struct fl_lineage *records = slab();
		if (!records)
			return NULL;
		for (size_t i = 0; i < SLAB_BYTES / sizeof *records; i++) {
			records[i].next_free = free_lineages;
			free_lineages = &records[i];
		}
	}
	struct fl_lineage *lineage = free_lineages;
	free_lineages = lineage->next_free;
	lineage->chunks = 0;
	lineage->graveyard = NULL;
	return lineage;
}

static void lineage_give_back(struct fl_lineage *lineage) {
	lineage->next_free = free_lineages;
	free_lineages = lineage;
}

/* Table nodes are zeroed pages from a slab; once used they stay in the
 * table for the process's life (the handler may be reading them). */
static uint64_t *node_take(void) {
	const uint64_t node_bytes = FL_TABLE_FANOUT * sizeof(uint64_t);
	if (free_node_count == 0) {
		free_nodes = slab();
		if (!free_nodes)
			return NULL;
		free_node_count = SLAB_BYTES / node_bytes;
	}
	uint64_t *node = free_nodes;
	free_nodes += FL_TABLE_FANOUT;
	free_node_count--;
	return node;
}

/* --- the chunk table (registry mutex held) ------------------------------- */

static uint64_t block_bytes(int level) {
	return 1ull << (12 + FL_TABLE_BITS * level);
}

/*
 * Point every entry covering [start, end) below `node` at `value` (a chunk
 * with FL_TABLE_CHUNK_BIT, or 0 to remove). A block the range covers whole
 * gets one entry, as a page table maps a huge page, so a chunk of any size
 * takes at most a few thousand entries. Entries are stored with release
 * semantics: the handler reads them without a lock.
 */
static int table_set(uint64_t *node, int level, uint64_t base, uint64_t start, uint64_t end, uint64_t value) {
	uint64_t block = block_bytes(level);
	for (uint64_t at = start; at < end;) {
		uint64_t index = fl_table_index(at, level);
		uint64_t block_start = base + index * block;
		uint64_t stop = block_start + block < end ? block_start + block : end;
		uint64_t entry = __atomic_load_n(&node[index], __ATOMIC_RELAXED);
		int is_node = entry != 0 && !(entry & FL_TABLE_CHUNK_BIT);
		int whole = at == block_start && stop == block_start + block && level < FL_TABLE_LEVELS - 1;
		if (level == 0 || (whole && !is_node)) {
			__atomic_store_n(&node[index], value, __ATOMIC_RELEASE);
		} else {
			if (!is_node) {
				if (value == 0) {
					at = stop;
					continue;
				}
				uint64_t *child = node_take();
				if (!child)
					return -ENOMEM;
				entry = (uint64_t)(uintptr_t)child;
				__atomic_store_n(&node[index], entry, __ATOMIC_RELEASE);
			}
			int r = table_set((uint64_t *)(uintptr_t)entry, level - 1, block_start, at, stop, value);
			if (r < 0)
				return r;
		}
		at = stop;
	}
	return 0;
}

static int table_insert(struct fl_chunk *chunk) {
	pthread_mutex_lock(&registry);
	int r = table_set(fl_chunk_table_top, FL_TABLE_LEVELS - 1, 0, chunk->start, chunk->start + chunk->size,
			  (uint64_t)(uintptr_t)chunk | FL_TABLE_CHUNK_BIT);
	if (r < 0)
		table_set(fl_chunk_table_top, FL_TABLE_LEVELS - 1, 0, chunk->start, chunk->start + chunk->size, 0);
	pthread_mutex_unlock(&registry);
	return r;
}

static void table_remove(struct fl_chunk *chunk) {
	pthread_mutex_lock(&registry);
	table_set(fl_chunk_table_top, FL_TABLE_LEVELS - 1, 0, chunk->start, chunk->start + chunk->size, 0);
	pthread_mutex_unlock(&registry);
}

/* --- mapping census -------------------------------------------------------- */

static int64_t read_number(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char text[32] = { 0 };
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	return n > 0 ? strtoll(text, NULL, 10) : -EIO;
}

/* Mappings the process has now: one line of /proc/self/maps each. Slow
 * (the kernel formats every line), so only called near the limit. */
static int64_t count_mappings(void) {
	int fd = open(SELF_MAPS_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buffer = malloc(MAPS_READ_BYTES);
	int64_t lines = buffer ? 0 : -ENOMEM;
	ssize_t n;
	while (buffer && (n = read(fd, buffer, MAPS_READ_BYTES)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buffer[i] == '\n';
	free(buffer);
	close(fd);
	return lines;
}

/* Would `need` more mappings leave the reserve free? Resamples the rest
 * of the process's mappings before saying no. */
static int map_budget_allows(int64_t need) {
	int64_t limit = __atomic_load_n(&fl_max_map_count, __ATOMIC_RELAXED);
	if (limit <= 0)
		return 1;
	int64_t shim = __atomic_load_n(&fl_shim_vmas, __ATOMIC_RELAXED);
	if (shim + __atomic_load_n(&fl_foreign_vmas, __ATOMIC_RELAXED) + need + API_MAP_RESERVE <= limit)
		return 1;
	int64_t total = count_mappings();
	if (total < 0)
		return 1; /* cannot tell: let the kernel decide */
	/* Signed: where the shim's estimate overcounts (merged mappings), the
	 * difference makes the sum match the kernel's count again. */
	__atomic_store_n(&fl_foreign_vmas, total - shim, __ATOMIC_RELAXED);
	return total + need + API_MAP_RESERVE <= limit;
}

/* --- starting: the handler ------------------------------------------------- */

/* Install the fault handler (once). SA_ONSTACK: a thread that has an
 * alternate signal stack (Bun's do) handles even a fault near its stack's
 * end. The handler forwards what is not ours to the action it replaces. */
static int start(void) {
	if (__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&registry);
	int r = 0;
	if (!started) {
		int64_t limit = read_number(MAX_MAP_COUNT_PATH);
		__atomic_store_n(&fl_max_map_count, limit > 0 ? limit : 0, __ATOMIC_RELAXED);
		int64_t mappings = count_mappings();
		__atomic_store_n(&fl_foreign_vmas, mappings > 0 ? mappings : 0, __ATOMIC_RELAXED);
		struct sigaction action, previous;
		memset(&action, 0, sizeof action);
		action.sa_sigaction = (void (*)(int, siginfo_t *, void *))fl_chunk_fault;
		action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigemptyset(&action.sa_mask);
		if (sigaction(SIGSEGV, NULL, &previous) != 0) {
			r = -errno;
		} else {
			uint64_t handler = (previous.sa_flags & SA_SIGINFO) ? (uint64_t)(uintptr_t)previous.sa_sigaction
									  : (uint64_t)(uintptr_t)previous.sa_handler;
			__atomic_store_n(&fl_previous_segv_flags, (uint64_t)previous.sa_flags, __ATOMIC_RELEASE);
			__atomic_store_n(&fl_previous_segv_handler, handler, __ATOMIC_RELEASE);
			if (sigaction(SIGSEGV, &action, NULL) != 0)
				r = -errno;
		}
		if (r == 0)
			__atomic_store_n(&started, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&registry);
	return r;
}

/* --- records --------------------------------------------------------------- */

static struct fl_backing *backing_new(uint64_t units) {
	return calloc(1, sizeof(struct fl_backing) + units * sizeof(uint32_t));
}

/* Unmap what only the shim maps of a backing and free its record. */
static void backing_release(struct fl_backing *backing) {
	if (backing->home) {
		munmap((void *)(uintptr_t)backing->home, backing->size);
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	}
	if (backing->parked) {
		munmap((void *)(uintptr_t)backing->parked, backing->size);
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	}
	free(backing);
}

/* Free the records of backings that died in the handler (whose mappings
 * it already removed). Lineage lock held. */
static void drain_graveyard(struct fl_lineage *lineage) {
	while (lineage->graveyard) {
		struct fl_backing *dead = lineage->graveyard;
		lineage->graveyard = dead->next_dead;
		backing_release(dead);
	}
}

static void chunk_arrays_free(struct fl_chunk *chunk) {
	if (chunk->units > 1) {
		free(chunk->backing);
		free(chunk->writable);
	}
	chunk->backing = NULL;
	chunk->writable = NULL;
}

static void chunk_record_discard(struct fl_chunk *chunk) {
	chunk_arrays_free(chunk);
	if (chunk->own)
		backing_release(chunk->own);
	chunk->own = NULL;
	pthread_mutex_lock(&registry);
	chunk_record_give_back(chunk);
	pthread_mutex_unlock(&registry);
}

/* A record for a chunk of `size` bytes split by `split`, with its per-unit
 * arrays and a spare own backing; not yet live or in the table. */
static struct fl_chunk *chunk_record_new(uint64_t size, uint32_t split) {
	pthread_mutex_lock(&registry);
	struct fl_chunk *chunk = chunk_record_take();
	pthread_mutex_unlock(&registry);
	if (!chunk)
		return NULL;
	chunk->id = __atomic_fetch_add(&next_chunk_id, 1, __ATOMIC_RELAXED);
	chunk->split = split;
	chunk->size = size;
	chunk->unit_size = split == FL_SPLIT_PAGE ? FL_CHUNK_PAGE : size;
	chunk->units = size / chunk->unit_size;
	chunk->start = 0;
	chunk->views = 0;
	chunk->vmas = 0;
	__atomic_store_n(&chunk->lineage, NULL, __ATOMIC_RELEASE);
	if (chunk->units == 1) {
		chunk->one_backing = NULL;
		chunk->one_writable = 0;
		chunk->backing = &chunk->one_backing;
		chunk->writable = &chunk->one_writable;
	} else {
		chunk->backing = calloc(chunk->units, sizeof *chunk->backing);
		chunk->writable = calloc(chunk->units, 1);
	}
	chunk->own = backing_new(chunk->units);
	if (!chunk->backing || !chunk->writable || !chunk->own) {
		chunk_record_discard(chunk);
		return NULL;
	}
	chunk->own->units = chunk->units;
	return chunk;
}

/* Lock a chunk's lineage if the chunk is the live chunk `id` names;
 * null if it has been freed (or its record recycled). */
static struct fl_lineage *lock_live(struct fl_chunk *chunk, uint64_t id) {
	struct fl_lineage *lineage = __atomic_load_n(&chunk->lineage, __ATOMIC_ACQUIRE);
	if (!lineage)
		return NULL;
	fl_lock_take(&lineage->lock);
	if (chunk->lineage != lineage || __atomic_load_n(&chunk->state, __ATOMIC_ACQUIRE) != FL_CHUNK_LIVE ||
	    chunk->id != id) {
		fl_lock_release(&lineage->lock);
		return NULL;
	}
	drain_graveyard(lineage);
	return lineage;
}

/* Unlock, and give the lineage back if its last chunk is gone. */
static void unlock_lineage(struct fl_lineage *lineage) {
	int empty = lineage->chunks == 0;
	drain_graveyard(lineage);
	fl_lock_release(&lineage->lock);
	if (empty) {
		pthread_mutex_lock(&registry);
		lineage_give_back(lineage);
		pthread_mutex_unlock(&registry);
	}
}

static int valid_size(uint64_t size) {
	return size > 0 && size % FL_CHUNK_PAGE == 0 && size <= CHUNK_MAX_BYTES;
}

/* --- allocation -------------------------------------------------------------- */

/* A new chunk in a lineage of its own, zero-filled (or, with populate, with
 * every page already in place, for a copy about to fill it). */
static int64_t alloc_chunk(uint64_t size, uint32_t split, int populate) {
	if (!valid_size(size) || (split != FL_SPLIT_CHUNK && split != FL_SPLIT_PAGE))
		return -EINVAL;
	int r = start();
	if (r < 0)
		return r;
	if (!map_budget_allows(1))
		return -FL_EMAPLIMIT;
	struct fl_chunk *chunk = chunk_record_new(size, split);
	if (!chunk)
		return -ENOMEM;
	pthread_mutex_lock(&registry);
	struct fl_lineage *lineage = lineage_take();
	pthread_mutex_unlock(&registry);
	if (!lineage) {
		chunk_record_discard(chunk);
		return -ENOMEM;
	}
	void *at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0),
			-1, 0);
	if (at == MAP_FAILED) {
		r = -errno;
		chunk_record_discard(chunk);
		pthread_mutex_lock(&registry);
		lineage_give_back(lineage);
		pthread_mutex_unlock(&registry);
		return r;
	}
	/* Its memory is its own backing: every unit mapped by it alone. */
	struct fl_backing *own = chunk->own;
	own->size = size;
	own->mapped = chunk->units;
	for (uint64_t unit = 0; unit < chunk->units; unit++) {
		own->sharers[unit] = 1;
		chunk->backing[unit] = own;
		chunk->writable[unit] = 1;
	}
	chunk->start = (uint64_t)(uintptr_t)at;
	chunk->views = 1;
	chunk->vmas = 1;
	__atomic_fetch_add(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	fl_lock_take(&lineage->lock);
	lineage->chunks = 1;
	__atomic_store_n(&chunk->lineage, lineage, __ATOMIC_RELEASE);
	__atomic_store_n(&chunk->state, FL_CHUNK_LIVE, __ATOMIC_RELEASE);
	r = table_insert(chunk);
	if (r < 0) {
		__atomic_store_n(&chunk->state, FL_CHUNK_UNUSED, __ATOMIC_RELEASE);
		lineage->chunks = 0;
		munmap(at, size);
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
		for (uint64_t unit = 0; unit < chunk->units; unit++)
			chunk->backing[unit] = NULL;
		chunk->lineage = NULL;
		chunk_record_discard(chunk);
		unlock_lineage(lineage);
		return r;
	}
	fl_lock_release(&lineage->lock);
	return (int64_t)(uintptr_t)chunk;
}

/* --- freeing ------------------------------------------------------------------ */

/* Remove a chunk that is no longer live and has no views: out of the table
 * first (so its range, once unmapped and reused by anyone, is never taken
 * for a chunk), then unmapped, then recycled. Lineage lock held. */
static void chunk_release(struct fl_chunk *chunk) {
	table_remove(chunk);
	munmap((void *)(uintptr_t)chunk->start, chunk->size);
	chunk->lineage->chunks--;
	pthread_mutex_lock(&registry);
	chunk_record_give_back(chunk);
	pthread_mutex_unlock(&registry);
}

/*
 * Free a live chunk: each unit leaves its backing (whose memory is returned
 * when the unit had no other sharer: a hole is punched in it, or the whole
 * backing is released with its last unit), then the range is unmapped. If
 * JavaScript may still hold a view over it (another thread's), the range is
 * replaced by an inaccessible reservation instead, so that view can never
 * reach memory mapped there later: the handler reports an access and ends
 * the process. Lineage lock held.
 */
static void chunk_free_locked(struct fl_chunk *chunk) {
	__atomic_store_n(&chunk->state, FL_CHUNK_FREED, __ATOMIC_RELEASE);
	int own_used = chunk->own->mapped > 0;
	for (uint64_t unit = 0; unit < chunk->units; unit++) {
		struct fl_backing *backing = chunk->backing[unit];
		if (backing->reader == chunk->start)
			backing->reader = 0;
		backing->sharers[unit]--;
		backing->mapped--;
		if (backing->sharers[unit] == 0 && backing->mapped > 0)
			/* Failure only leaves the memory until the backing dies. */
			(void)madvise((void *)(uintptr_t)(chunk->start + unit * chunk->unit_size), chunk->unit_size,
				      MADV_REMOVE);
		if (backing->mapped == 0)
			backing_release(backing);
	}
	if (!own_used)
		backing_release(chunk->own);
	chunk->own = NULL;
	chunk_arrays_free(chunk);
	__atomic_fetch_sub(&fl_shim_vmas, (int64_t)chunk->vmas, __ATOMIC_RELAXED);
	chunk->vmas = 0;
	if (chunk->views == 0) {
		chunk_release(chunk);
		return;
	}
	void *at = mmap((void *)(uintptr_t)chunk->start, chunk->size, PROT_NONE,
			MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (at == MAP_FAILED)
		/* No room for a new mapping: keep the memory but no access. */
		(void)mprotect((void *)(uintptr_t)chunk->start, chunk->size, PROT_NONE);
	chunk->vmas = 1;
	__atomic_fetch_add(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
}

/* --- lazy copy ---------------------------------------------------------------- */

/* Stretches of units with the same backing (and, if asked, the same
 * writability): each is one kernel mapping. */
static uint64_t count_runs(const struct fl_chunk *chunk, int by_writability) {
	uint64_t runs = 1;
	for (uint64_t unit = 1; unit < chunk->units; unit++)
		if (chunk->backing[unit] != chunk->backing[unit - 1] ||
		    (by_writability && chunk->writable[unit] != chunk->writable[unit - 1]))
			runs++;
	return runs;
}

static int any_writable(const struct fl_chunk *chunk) {
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		if (chunk->writable[unit])
			return 1;
	return 0;
}

/* Is the chunk's range one kernel mapping: every unit from the same
 * backing, every unit writable? Only such a range can be parked whole. */
static int one_writable_mapping(const struct fl_chunk *chunk) {
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		if (chunk->backing[unit] != chunk->backing[0] || !chunk->writable[unit])
			return 0;
	return 1;
}

/*
 * Park a writable chunk's page tables: mremap with MREMAP_DONTUNMAP moves
 * them to a new address (whole page-table pages at a time where it can) and
 * leaves the chunk's mapping in place, empty, so readers fault the same
 * shmem pages back in and never see a hole, and making the empty range
 * read-only costs the kernel nothing per page. Write-protecting a populated
 * range instead costs the kernel work for every page (about 0.1 us a page
 * on the machine this was measured on: 1.5 ms for 64 MiB; userfaultfd
 * write-protection costs the same, see docs/lazy-copy.md). Whole-split and
 * page-split chunks alike: the range must be one mapping of one backing,
 * whose offsets are the chunk's. The parked mapping is read by a whole
 * split of a sharer, taken back by the chunk when it alone maps the
 * backing again and writes (chunk-fault.c, unpark), or unmapped with its
 * backing. A backing keeps one: an older one is unmapped first (rare: a
 * chunk that writes alone unparks).
 */
static void park_page_tables(struct fl_chunk *chunk) {
	struct fl_backing *backing = chunk->backing[0];
	sys_result target = fl_reserve_congruent(chunk->size, chunk->start);
	if (target < 0)
		return;
	/* A raw call: glibc's wrapper passes the new address only with
	 * MREMAP_FIXED in the flags it knows. */
	void *at = (void *)syscall(SYS_mremap, chunk->start, chunk->size, chunk->size,
				   MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, target);
	if (at == MAP_FAILED) {
		munmap((void *)(uintptr_t)target, chunk->size);
		return; /* e.g. a kernel before 5.13: write-protect instead */
	}
	if (backing->parked)
		munmap((void *)(uintptr_t)backing->parked, backing->size);
	else
		__atomic_fetch_add(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	backing->parked = (uint64_t)(uintptr_t)at;
}

/* Make the whole chunk read-only, as a sharer must be. */
static int protect_for_sharing(struct fl_chunk *chunk) {
	if (!any_writable(chunk))
		return 0;
	if (chunk->size >= PARK_MIN_BYTES && one_writable_mapping(chunk))
		park_page_tables(chunk);
	if (mprotect((void *)(uintptr_t)chunk->start, chunk->size, PROT_READ) != 0)
		return -errno;
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		chunk->writable[unit] = 0;
	uint64_t runs = count_runs(chunk, 0);
	__atomic_fetch_add(&fl_shim_vmas, (int64_t)runs - (int64_t)chunk->vmas, __ATOMIC_RELAXED);
	chunk->vmas = runs;
	return 0;
}

/* Map the source's pages a second time: one duplicating mremap (old size
 * 0) per run of units with the same backing, into a reservation when there
 * is more than one. Returns the copy's address or a negative errno. */
static int64_t duplicate(const struct fl_chunk *source, uint64_t runs) {
	if (runs == 1) {
		void *at = mremap((void *)(uintptr_t)source->start, 0, source->size, MREMAP_MAYMOVE);
		return at == MAP_FAILED ? -errno : (int64_t)(uintptr_t)at;
	}
	char *reserve = mmap(NULL, source->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reserve == MAP_FAILED)
		return -errno;
	uint64_t first = 0;
	for (uint64_t unit = 1; unit <= source->units; unit++) {
		if (unit < source->units && source->backing[unit] == source->backing[first])
			continue;
		uint64_t offset = first * source->unit_size;
		void *at = mremap((void *)(uintptr_t)(source->start + offset), 0, (unit - first) * source->unit_size,
				  MREMAP_MAYMOVE | MREMAP_FIXED, reserve + offset);
		if (at == MAP_FAILED) {
			int64_t error = -errno;
			munmap(reserve, source->size);
			return error;
		}
		first = unit;
	}
	return (int64_t)(uintptr_t)reserve;
}

/*
 * A lazy copy of `source`: both read-only, sharing every unit; the copy
 * joins the source's lineage. The source's own backing, if it maps any of
 * it, becomes an ordinary shared backing, and the source gets a fresh spare
 * (rule 5 of chunk.h: the handler never allocates). Returns the copy's
 * record or a negative errno.
 */
FL_EXPORT int64_t fl_chunk_copy_lazy(struct fl_chunk *source, uint64_t id) {
	struct fl_lineage *lineage = lock_live(source, id);
	if (!lineage)
		return -EBADF;
	int64_t r;
	struct fl_backing *spare = NULL;
	struct fl_chunk *copy = NULL;
	if (!map_budget_allows((int64_t)count_runs(source, 0) + 1)) {
		r = -FL_EMAPLIMIT;
		goto out;
	}
	copy = chunk_record_new(source->size, source->split);
	spare = source->own->mapped ? backing_new(source->units) : NULL;
	if (!copy || (source->own->mapped && !spare)) {
		r = -ENOMEM;
		goto out;
	}
	r = protect_for_sharing(source);
	if (r < 0)
		goto out;
	/* Unparked, the source keeps its page tables: splits read there. */
	if (source->units == 1 && !source->backing[0]->parked)
		source->backing[0]->reader = source->start;
	uint64_t runs = count_runs(source, 0);
	r = duplicate(source, runs);
	if (r < 0)
		goto out;
	copy->start = (uint64_t)r;
	for (uint64_t unit = 0; unit < source->units; unit++) {
		struct fl_backing *backing = source->backing[unit];
		backing->sharers[unit]++;
		backing->mapped++;
		copy->backing[unit] = backing;
		copy->writable[unit] = 0;
	}
	copy->lineage = lineage;
	copy->views = 1;
	copy->vmas = runs;
	__atomic_fetch_add(&fl_shim_vmas, (int64_t)runs, __ATOMIC_RELAXED);
	__atomic_store_n(&copy->state, FL_CHUNK_LIVE, __ATOMIC_RELEASE);
	lineage->chunks++;
	r = table_insert(copy);
	if (r < 0) {
		/* Undo the copy: the source still maps every unit, so no
		 * backing can die here. */
		for (uint64_t unit = 0; unit < source->units; unit++) {
			copy->backing[unit]->sharers[unit]--;
			copy->backing[unit]->mapped--;
		}
		__atomic_store_n(&copy->state, FL_CHUNK_UNUSED, __ATOMIC_RELEASE);
		copy->vmas = 0;
		__atomic_fetch_sub(&fl_shim_vmas, (int64_t)runs, __ATOMIC_RELAXED);
		munmap((void *)(uintptr_t)copy->start, copy->size);
		lineage->chunks--;
		copy->lineage = NULL;
		goto out;
	}
	if (spare) {
		spare->units = source->units;
		source->own = spare;
		spare = NULL;
	}
	r = (int64_t)(uintptr_t)copy;
	copy = NULL;
out:
	if (copy)
		chunk_record_discard(copy);
	if (spare)
		backing_release(spare);
	unlock_lineage(lineage);
	return r;
}

/* --- the rest of the API ---------------------------------------------------- */

/* A new zero-filled chunk: its record, or a negative errno (-FL_EMAPLIMIT:
 * near vm.max_map_count). The caller makes the one view it accounts for. */
FL_EXPORT int64_t fl_chunk_alloc(uint64_t size, uint64_t split) {
	return alloc_chunk(size, (uint32_t)split, 0);
}

/* An eager copy: a new chunk in a lineage of its own, with the source's
 * bytes, split by `split`. The source's lineage lock is held during the
 * copy, so the source cannot be freed under it. */
FL_EXPORT int64_t fl_chunk_copy_eager(struct fl_chunk *source, uint64_t id, uint64_t split) {
	struct fl_lineage *lineage = lock_live(source, id);
	if (!lineage)
		return -EBADF;
	int64_t r = alloc_chunk(source->size, (uint32_t)split, 1);
	if (r > 0) {
		struct fl_chunk *copy = (struct fl_chunk *)(uintptr_t)r;
		memcpy((void *)(uintptr_t)copy->start, (const void *)(uintptr_t)source->start, source->size);
	}
	unlock_lineage(lineage);
	return r;
}

FL_EXPORT int64_t fl_chunk_free(struct fl_chunk *chunk, uint64_t id) {
	struct fl_lineage *lineage = lock_live(chunk, id);
	if (!lineage)
		return -EBADF;
	chunk_free_locked(chunk);
	unlock_lineage(lineage);
	return 0;
}

/*
 * Split now, outside any fault, every unit of [offset, offset + length)
 * that is shared, so the kernel may write there: a system call writing into
 * a read-only chunk (read(2) into it, say) gets EFAULT, since the kernel
 * does not raise SIGSEGV for its own accesses.
 */
FL_EXPORT int64_t fl_chunk_make_writable(struct fl_chunk *chunk, uint64_t id, uint64_t offset, uint64_t length) {
	struct fl_lineage *lineage = lock_live(chunk, id);
	if (!lineage)
		return -EBADF;
	int64_t r = 0;
	if (offset > chunk->size || length > chunk->size - offset)
		r = -EINVAL;
	uint64_t first = offset / chunk->unit_size;
	uint64_t end = length ? (offset + length + chunk->unit_size - 1) / chunk->unit_size : first;
	for (uint64_t unit = first; r == 0 && unit < end; unit++)
		r = fl_chunk_make_unit_writable(chunk, unit);
	unlock_lineage(lineage);
	return r;
}

/* Another view over a live chunk (a Worker's): its record, counted as a
 * view, or -EBADF if no live chunk `id` starts at `address`. */
FL_EXPORT int64_t fl_chunk_attach(uint64_t address, uint64_t id) {
	struct fl_chunk *chunk = fl_chunk_lookup(address);
	if (!chunk)
		return -EBADF;
	struct fl_lineage *lineage = lock_live(chunk, id);
	if (!lineage)
		return -EBADF;
	int64_t r = -EBADF;
	if (chunk->start == address) {
		chunk->views++;
		r = (int64_t)(uintptr_t)chunk;
	}
	unlock_lineage(lineage);
	return r;
}

/*
 * Called by JavaScriptCore when an ArrayBuffer over a chunk is collected or
 * detached (toArrayBuffer's deallocator; `context` is the chunk's record,
 * which cannot be recycled while it has views). The last view of a live
 * chunk frees it, as garbage collection frees any memory; the last view of
 * a freed chunk releases its reserved range.
 */
static void view_released(void *bytes, void *context) {
	(void)bytes;
	struct fl_chunk *chunk = context;
	struct fl_lineage *lineage = __atomic_load_n(&chunk->lineage, __ATOMIC_ACQUIRE);
	fl_lock_take(&lineage->lock);
	if (chunk->views > 0 && --chunk->views == 0) {
		uint32_t state = __atomic_load_n(&chunk->state, __ATOMIC_ACQUIRE);
		if (state == FL_CHUNK_LIVE)
			chunk_free_locked(chunk);
		else if (state == FL_CHUNK_FREED) {
			__atomic_fetch_sub(&fl_shim_vmas, (int64_t)chunk->vmas, __ATOMIC_RELAXED);
			chunk_release(chunk);
		}
	}
	unlock_lineage(lineage);
}

FL_EXPORT uint64_t fl_chunk_deallocator(void) {
	return (uint64_t)(uintptr_t)view_released;
}

/* Where JavaScript reads a record's fields (bun:ffi read.ptr). */
FL_EXPORT void fl_chunk_layout(uint64_t *out) {
	out[0] = sizeof(struct fl_chunk);
	out[1] = offsetof(struct fl_chunk, id);
	out[2] = offsetof(struct fl_chunk, start);
	out[3] = offsetof(struct fl_chunk, size);
}

FL_EXPORT void fl_chunk_stats(uint64_t *out) {
	out[0] = __atomic_load_n(&fl_chunk_counters.faults, __ATOMIC_RELAXED);
	out[1] = __atomic_load_n(&fl_chunk_counters.splits, __ATOMIC_RELAXED);
	out[2] = __atomic_load_n(&fl_chunk_counters.in_place, __ATOMIC_RELAXED);
	out[3] = __atomic_load_n(&fl_chunk_counters.bytes_copied, __ATOMIC_RELAXED);
	out[4] = __atomic_load_n(&fl_chunk_counters.whole_fallbacks, __ATOMIC_RELAXED);
}

/* The process's mappings now, vm.max_map_count, and the shim's estimate of
 * its own share, for an error message worth reading. */
FL_EXPORT void fl_chunk_map_census(int64_t *out) {
	out[0] = count_mappings();
	out[1] = read_number(MAX_MAP_COUNT_PATH);
	out[2] = __atomic_load_n(&fl_shim_vmas, __ATOMIC_RELAXED);
}
