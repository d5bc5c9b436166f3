/*
 * chunk.h — lazy copy: copy-on-write chunks for the Bun process.
 *
 * A chunk is a range of shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS,
 * a shmem object) that JavaScript sees as a Uint8Array. A lazy copy is a
 * second mapping of the same pages (mremap with an old size of 0), both
 * made read-only; the first write to either side faults, and the handler in
 * chunk-fault.c gives the written side memory of its own holding the same
 * bytes.
 *
 * The model, in the words the code uses:
 *   unit      what a write splits off: the whole chunk, or one page
 *             (enum fl_split). Unit k of a chunk always maps unit k of some
 *             backing, so units line up across every copy of a chunk.
 *   backing   one shmem object: the memory a sharer group shares. It counts,
 *             per unit, the chunks mapping that unit (its sharers). A unit
 *             with one sharer may be written in place; more, and a write
 *             splits the writer off.
 *   own       each chunk's spare backing: units of it are mapped by that
 *             chunk alone, so a split can always move the writer there.
 *             Its memory is created on the first split; a lazy copy turns a
 *             used own backing into an ordinary shared one and gives the
 *             chunk a fresh spare.
 *   lineage   the chunks linked by lazy copies (an eager copy starts a new
 *             one). Its lock guards every mutable field of its chunks and
 *             their backings.
 *
 * Locking rules (also in chunk.c and chunk-fault.c):
 *   1. The fault handler finds a chunk with no lock at all (the chunk table
 *      is read with atomic loads), then takes the chunk's lineage lock and
 *      checks the chunk is still the one it looked up: live, and holding
 *      the faulting address. Chunk and lineage records are never returned
 *      to the system (they are recycled), so a stale pointer is always safe
 *      to read and to lock.
 *   2. Every change to a chunk, its per-unit arrays and its backings happens
 *      under the lineage lock; records are recycled only after the chunk has
 *      been marked dead under that lock and removed from the table.
 *   3. Lock order: lineage lock, then the registry mutex (chunk.c). The
 *      handler takes only lineage locks.
 *   4. Code holding a lineage lock never touches chunk memory in a way that
 *      can fault (it reads live chunks, which are always readable, and
 *      writes only memory no one else maps yet), so a thread can never
 *      fault on a lock it holds itself.
 *   5. Nothing in the handler allocates from the heap: records a split may
 *      need (the own backing) exist before the chunk can be shared.
 */
#ifndef FAULTLINE_CHUNK_H
#define FAULTLINE_CHUNK_H

#include <stdint.h>

#include "common/sys.h"

#define FL_CHUNK_PAGE 4096ull
/* What one page-middle-directory entry maps on x86-64: 2 MiB. */
#define FL_PMD_BYTES (2ull << 20)

/* What a write splits off. */
enum fl_split { FL_SPLIT_CHUNK = 0, FL_SPLIT_PAGE = 1 };

/* A chunk record's life. */
enum fl_chunk_state {
	FL_CHUNK_UNUSED = 0, /* in the pool, or being set up */
	FL_CHUNK_LIVE = 1,
	FL_CHUNK_FREED = 2, /* freed; its range stays reserved (PROT_NONE) until
			       the last Uint8Array over it is collected */
};

/* Not an errno: the shim refused because the process is near
 * vm.max_map_count (every chunk costs mappings; see chunk.c). */
#define FL_EMAPLIMIT 4200

/* A mutex usable from the handler and from Bun's threads alike: a futex
 * word (0 free, 1 held, 2 held with waiters) and the holder's thread
 * pointer (so the handler can tell it is about to wait for itself). */
struct fl_lock {
	uint32_t word;
	uint32_t pad;
	uint64_t owner;
};

struct fl_backing {
	uint64_t units;
	uint64_t mapped;   /* sum of sharers[]: 0 means nothing maps it */
	uint64_t home;     /* a read-write mapping of the whole object, or 0 */
	uint64_t size;     /* of the object, in bytes */
	/* Page tables a lazy copy moved aside (park_page_tables in chunk.c): a
	 * populated read-write mapping of the whole backing that only the shim
	 * knows, or 0. A whole split reads the chunk's bytes there; a chunk
	 * that alone maps every unit of the backing takes the page tables back
	 * when it writes (whole-split and page-split chunks alike). */
	uint64_t parked;
	/* For a whole-chunk backing: the address of a chunk mapping it whose
	 * page tables are populated (the source of a lazy copy that kept
	 * them), for a split to read from, or 0. Cleared when that chunk
	 * stops mapping it. */
	uint64_t reader;
	struct fl_backing *next_dead; /* on its lineage's graveyard */
	uint32_t sharers[]; /* per unit */
};

struct fl_lineage {
	struct fl_lock lock;
	uint64_t chunks; /* live and freed-but-reserved chunks in it */
	/* Backings that died inside the handler, which may not free: their
	 * mappings are gone, their records are freed by the next bookkeeping
	 * call that holds the lock. */
	struct fl_backing *graveyard;
	struct fl_lineage *next_free;
};

struct fl_chunk {
	uint32_t state; /* enum fl_chunk_state; atomic */
	uint32_t split; /* enum fl_split */
	uint64_t id;    /* unique for the process's life; never reused */
	uint64_t start;
	uint64_t size;
	uint64_t unit_size;
	uint64_t units;
	struct fl_lineage *lineage;
	struct fl_backing **backing; /* per unit: the backing mapped there */
	uint8_t *writable;           /* per unit: mapped read-write */
	struct fl_backing *own;
	uint64_t views; /* Uint8Arrays over it that JavaScript may still use */
	uint64_t vmas;  /* estimate of the kernel mappings its range takes */
	struct fl_chunk *next_free;
	/* Storage for the per-unit arrays of a one-unit chunk. */
	struct fl_backing *one_backing;
	uint8_t one_writable;
};

/* What the handler and makeWritable did, for tests and the benchmark. */
struct fl_chunk_stats {
	uint64_t faults;        /* write faults resolved */
	uint64_t splits;        /* units given memory of their own */
	uint64_t in_place;      /* units made writable without copying */
	uint64_t bytes_copied;  /* by splits */
	uint64_t whole_fallbacks; /* page splits done whole near the map limit */
};

#define FL_HIDDEN __attribute__((visibility("hidden")))

/* --- chunk-fault.c (freestanding) --- */

/* The chunk table: a radix tree over page numbers, read lock-free. */
#define FL_TABLE_LEVELS 4
#define FL_TABLE_BITS 9
#define FL_TABLE_FANOUT (1u << FL_TABLE_BITS)
#define FL_TABLE_TOP_ENTRIES 256u /* 47-bit user addresses: bits 39..46 */
#define FL_USER_ADDRESS_LIMIT (1ull << 47)
/* An entry is 0, a child node's address, or a chunk's address with this
 * bit set when the chunk covers the entry's whole block. */
#define FL_TABLE_CHUNK_BIT 1ull

FL_HIDDEN extern uint64_t fl_chunk_table_top[FL_TABLE_TOP_ENTRIES];
FL_HIDDEN extern struct fl_chunk_stats fl_chunk_counters;
/* Mappings the shim holds (estimate), others' (sampled), and the limit. */
FL_HIDDEN extern int64_t fl_shim_vmas;
FL_HIDDEN extern int64_t fl_foreign_vmas;
FL_HIDDEN extern int64_t fl_max_map_count;
/* Page splits stop this far below the limit (splits then take the whole
 * chunk, which never adds mappings). */
#define FL_PAGE_SPLIT_RESERVE 256

FL_HIDDEN uint64_t fl_table_index(uint64_t address, int level);
FL_HIDDEN struct fl_chunk *fl_chunk_lookup(uint64_t address);
FL_HIDDEN void fl_lock_take(struct fl_lock *lock);
FL_HIDDEN void fl_lock_release(struct fl_lock *lock);
FL_HIDDEN int32_t fl_thread_id(void);
/* Make unit `unit` of a live chunk writable, splitting it off its sharers
 * if it has any. Caller holds the lineage lock. */
FL_HIDDEN sys_result fl_chunk_make_unit_writable(struct fl_chunk *chunk, uint64_t unit);
FL_HIDDEN void fl_bytes_move(void *to, const void *from, uint64_t n);
FL_HIDDEN sys_result fl_reserve_congruent(uint64_t size, uint64_t like);
/* The handler (installed by chunk.c) and the action it replaced. */
FL_HIDDEN void fl_chunk_fault(int sig, void *info, void *context);
FL_HIDDEN extern uint64_t fl_previous_segv_handler; /* SIG_DFL, SIG_IGN or a function */
FL_HIDDEN extern uint64_t fl_previous_segv_flags;

#endif
