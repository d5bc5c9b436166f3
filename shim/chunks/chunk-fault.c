/*
 * chunk-fault.c — the lazy-copy fault path: the SIGSEGV handler that runs
 * inside the Bun process, the lock-free chunk lookup it uses, the lineage
 * lock, and the splits that give a written unit memory of its own.
 *
 * Freestanding (raw system calls, no libc, checked at build time to call
 * nothing outside itself): the handler may interrupt any code of any
 * thread, including libc holding its own locks. Rules for everything here:
 *   - no heap allocation, no libc, no lock but lineage locks (chunk.h);
 *   - faults that are not a write to a live chunk go to the handler that
 *     was installed before ours (Bun's crash handler, JavaScriptCore's), so
 *     a real crash in Bun is still reported as one;
 *   - a fault that is ours but cannot be resolved (the kernel refused
 *     memory, or the chunk was freed under a view still in use) ends the
 *     process with one line on stderr: a JavaScript exception cannot be
 *     thrown from a signal handler.
 *   - SIGPWR is never blocked or handled (JavaScriptCore's collector needs
 *     it); the handler blocks nothing beyond SIGSEGV itself.
 */
#define _GNU_SOURCE /* REG_ERR, MREMAP_FIXED */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ucontext.h>

#include "chunks/chunk.h"
#include "common/kernel.h"
#include "common/sys.h"

uint64_t fl_chunk_table_top[FL_TABLE_TOP_ENTRIES];
struct fl_chunk_stats fl_chunk_counters;
int64_t fl_shim_vmas;
int64_t fl_foreign_vmas;
int64_t fl_max_map_count;
uint64_t fl_previous_segv_handler;
uint64_t fl_previous_segv_flags;

/* si_code of a fault raised by the MMU (values <= 0 come from kill and
 * friends). */
#define SEGV_FROM_KERNEL_MIN 1
/* How often the handler looks a chunk up again when the record it found
 * was recycled under it before it could lock it. */
#define LOOKUP_ATTEMPTS 8
/* MADV_POPULATE_READ, spelled out for C libraries' headers older than it. */
#define MADV_POPULATE_READ_ADVICE 22

/* --- the lineage lock --------------------------------------------------- */

int32_t fl_thread_id(void) {
	return (int32_t)sys_call0(__NR_gettid);
}

/* Which thread holds a lock: its thread pointer (%fs base), unique among
 * live threads and free to read, unlike gettid. */
static uint64_t this_thread(void) {
	return (uint64_t)(uintptr_t)__builtin_thread_pointer();
}

static void futex_wait(uint32_t *word, uint32_t expected) {
	/* EAGAIN (the word changed) and EINTR both mean "look again". */
	sys_call4(__NR_futex, (long)word, FUTEX_WAIT_PRIVATE, expected, 0);
}

static void futex_wake_one(uint32_t *word) {
	sys_call3(__NR_futex, (long)word, FUTEX_WAKE_PRIVATE, 1);
}

/* Drepper's three-state mutex: 0 free, 1 held, 2 held with waiters. A
 * waiter sleeps in the kernel, so a long split (copying a large chunk)
 * costs the threads waiting for it no CPU. */
void fl_lock_take(struct fl_lock *lock) {
	uint32_t seen = 0;
	if (!__atomic_compare_exchange_n(&lock->word, &seen, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		if (seen != 2)
			seen = __atomic_exchange_n(&lock->word, 2, __ATOMIC_ACQUIRE);
		while (seen != 0) {
			futex_wait(&lock->word, 2);
			seen = __atomic_exchange_n(&lock->word, 2, __ATOMIC_ACQUIRE);
		}
	}
	__atomic_store_n(&lock->owner, this_thread(), __ATOMIC_RELAXED);
}

void fl_lock_release(struct fl_lock *lock) {
	__atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&lock->word, 0, __ATOMIC_RELEASE) == 2)
		futex_wake_one(&lock->word);
}

/* --- the chunk table ----------------------------------------------------- */

/* Index of address's entry in a node of the given level (0: pages). */
uint64_t fl_table_index(uint64_t address, int level) {
	uint64_t shift = 12 + (uint64_t)FL_TABLE_BITS * (uint64_t)level;
	uint64_t mask = level == FL_TABLE_LEVELS - 1 ? FL_TABLE_TOP_ENTRIES - 1 : FL_TABLE_FANOUT - 1;
	return (address >> shift) & mask;
}

/* The chunk whose range holds address, or null: four atomic loads, no lock.
 * The answer is a hint the caller checks under the chunk's lineage lock. */
struct fl_chunk *fl_chunk_lookup(uint64_t address) {
	if (address >= FL_USER_ADDRESS_LIMIT)
		return 0;
	const uint64_t *node = fl_chunk_table_top;
	for (int level = FL_TABLE_LEVELS - 1; level >= 0; level--) {
		uint64_t entry = __atomic_load_n(&node[fl_table_index(address, level)], __ATOMIC_ACQUIRE);
		if (entry == 0)
			return 0;
		if (entry & FL_TABLE_CHUNK_BIT)
			return (struct fl_chunk *)(uintptr_t)(entry & ~FL_TABLE_CHUNK_BIT);
		node = (const uint64_t *)(uintptr_t)entry;
	}
	return 0;
}

/* --- splits ---------------------------------------------------------------- */

/*
 * Reserve `size` bytes of address space (inaccessible) at an address
 * congruent to `like` modulo 2 MiB, for a mapping whose page tables will
 * move to or from `like`: the kernel moves whole page-table pages (one
 * entry per 2 MiB) only between such addresses, and otherwise moves every
 * entry one by one (about 1.5 ms for 64 MiB here). Small sizes gain
 * nothing: any address.
 */
sys_result fl_reserve_congruent(uint64_t size, uint64_t like) {
	uint64_t span = size >= FL_PMD_BYTES ? size + FL_PMD_BYTES : size;
	sys_result r = sys_mmap(0, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r < 0 || span == size)
		return r;
	uint64_t base = (uint64_t)r;
	uint64_t at = base + ((like - base) & (FL_PMD_BYTES - 1));
	if (at > base)
		sys_munmap(base, at - base);
	if (base + span > at + size)
		sys_munmap(at + size, base + span - (at + size));
	return (sys_result)at;
}

/* memcpy for code that may not call libc: `rep movsb`, which current x86
 * cores run at full memory bandwidth for large copies. */
void fl_bytes_move(void *to, const void *from, uint64_t n) {
	__asm__ volatile("rep movsb" : "+D"(to), "+S"(from), "+c"(n) : : "memory");
}

static uint64_t unit_address(const struct fl_chunk *chunk, uint64_t unit) {
	return chunk->start + unit * chunk->unit_size;
}

/* Account for mappings the chunk's range may now take (an estimate that
 * assumes no merging, capped at one per unit). */
static void grow_vmas(struct fl_chunk *chunk, uint64_t added) {
	uint64_t next = chunk->vmas + added;
	if (next > chunk->units)
		next = chunk->units;
	__atomic_fetch_add(&fl_shim_vmas, (int64_t)(next - chunk->vmas), __ATOMIC_RELAXED);
	chunk->vmas = next;
}

/* A backing nothing maps any more: drop the mappings only the shim holds
 * (which keep its memory alive) and leave the record for bookkeeping to
 * free, since the handler may not. */
static void bury(struct fl_lineage *lineage, struct fl_backing *backing) {
	if (backing->home) {
		sys_munmap(backing->home, backing->size);
		backing->home = 0;
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	}
	if (backing->parked) {
		/* Unmapping populated page tables costs the kernel per entry
		 * (a few ms for 64 MiB); only a page-split chunk's whole split
		 * near vm.max_map_count buries from a fault. */
		sys_munmap(backing->parked, backing->size);
		backing->parked = 0;
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	}
	backing->next_dead = lineage->graveyard;
	lineage->graveyard = backing;
}

/* The chunk stops mapping its unit's current backing. */
static void leave(struct fl_chunk *chunk, uint64_t unit) {
	struct fl_backing *backing = chunk->backing[unit];
	if (backing->reader == chunk->start)
		backing->reader = 0;
	backing->sharers[unit]--;
	backing->mapped--;
	if (backing->mapped == 0)
		bury(chunk->lineage, backing);
}

/* The chunk now maps its unit from its own backing, read-write. */
static void join_own(struct fl_chunk *chunk, uint64_t unit) {
	chunk->own->sharers[unit] = 1;
	chunk->own->mapped++;
	chunk->backing[unit] = chunk->own;
	chunk->writable[unit] = 1;
}

static void count_split(uint64_t bytes) {
	__atomic_fetch_add(&fl_chunk_counters.splits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&fl_chunk_counters.bytes_copied, bytes, __ATOMIC_RELAXED);
}

/*
 * Where a whole split reads the chunk's bytes. A lazy copy's own mapping
 * starts with no page-table entries, so reading it takes a fault per page.
 * A backing whose page tables a copy parked has them in the parked mapping
 * (same pages, same bytes), and the source of a copy that kept them has
 * them in its own: read there, as an eager copy reads its source. Failing
 * both, populate the chunk's mapping in one call, several times cheaper
 * than a fault per page (only an optimisation: before Linux 5.14
 * MADV_POPULATE_READ is EINVAL).
 */
static uint64_t split_source(const struct fl_chunk *chunk) {
	const struct fl_backing *backing = chunk->backing[0];
	if (chunk->units == 1 && backing->parked)
		return backing->parked;
	if (chunk->units == 1 && backing->reader)
		return backing->reader;
	sys_call3(__NR_madvise, (long)chunk->start, (long)chunk->size, MADV_POPULATE_READ_ADVICE);
	return chunk->start;
}

/* Memory for a whole split, placed so that moving it over the chunk moves
 * whole page-table pages (fl_reserve_congruent) when the chunk is large
 * enough for that to matter. MAP_POPULATE: every page is about to be
 * written anyway, and one populate is cheaper than a fault per page. */
static sys_result fresh_memory(const struct fl_chunk *chunk) {
	const int flags = MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE;
	if (chunk->size < FL_PMD_BYTES)
		return sys_mmap(0, chunk->size, PROT_READ | PROT_WRITE, flags, -1, 0);
	sys_result at = fl_reserve_congruent(chunk->size, chunk->start);
	if (at < 0)
		return at;
	sys_result r = sys_mmap((uint64_t)at, chunk->size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0);
	if (r < 0)
		sys_munmap((uint64_t)at, chunk->size);
	return r;
}

/*
 * Whole-chunk split: fresh memory, filled with the chunk's bytes while the
 * chunk is still read-only, then moved over the chunk in one mremap. The
 * kernel replaces the old mapping with the new one under its mmap lock, so
 * another thread reading the chunk sees the old pages or the new ones,
 * never a hole; a thread writing faults and waits for the lineage lock.
 *
 * The fresh memory becomes the chunk's own backing for every unit. For a
 * page-split chunk (the fallback near vm.max_map_count) that replaces all
 * the mappings of its range by one, and drops the old own backing's home:
 * the split never needs more mappings than it frees.
 */
static sys_result split_whole(struct fl_chunk *chunk) {
	sys_result fresh = fresh_memory(chunk);
	if (fresh < 0)
		return fresh;
	fl_bytes_move((void *)fresh, (const void *)split_source(chunk), chunk->size);
	sys_result r = sys_call5(__NR_mremap, fresh, (long)chunk->size, (long)chunk->size,
				 MREMAP_MAYMOVE | MREMAP_FIXED, (long)chunk->start);
	if (r < 0) {
		sys_munmap((uint64_t)fresh, chunk->size);
		return r;
	}
	struct fl_backing *own = chunk->own;
	uint64_t copied = 0;
	for (uint64_t unit = 0; unit < chunk->units; unit++) {
		if (chunk->backing[unit] == own)
			continue;
		leave(chunk, unit);
		copied += chunk->unit_size;
	}
	if (own->home) {
		/* Units it held were copied with the rest; nothing maps it now. */
		sys_munmap(own->home, own->size);
		own->home = 0;
		__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	}
	own->size = chunk->size;
	own->mapped = 0;
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		join_own(chunk, unit);
	__atomic_fetch_add(&fl_shim_vmas, 1 - (int64_t)chunk->vmas, __ATOMIC_RELAXED);
	chunk->vmas = 1;
	count_split(copied);
	return 0;
}

/* Give the chunk's own backing a home mapping to fill units through. */
static sys_result ensure_home(struct fl_chunk *chunk) {
	struct fl_backing *own = chunk->own;
	if (own->home)
		return 0;
	sys_result home = sys_mmap(0, chunk->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (home < 0)
		return home;
	own->home = (uint64_t)home;
	own->size = chunk->size;
	__atomic_fetch_add(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	return 0;
}

/*
 * Page split: copy the unit into the same unit of the chunk's own backing
 * (through its home mapping), then map that unit over the chunk's with a
 * duplicating mremap (old size 0), which replaces the old page atomically
 * as above. Units of one backing next to each other merge into one kernel
 * mapping, so a chunk written page by page does not cost a mapping a page.
 */
static sys_result split_page(struct fl_chunk *chunk, uint64_t unit) {
	sys_result r = ensure_home(chunk);
	if (r < 0)
		return r;
	uint64_t offset = unit * chunk->unit_size;
	fl_bytes_move((void *)(chunk->own->home + offset), (const void *)(chunk->start + offset), chunk->unit_size);
	r = sys_call5(__NR_mremap, (long)(chunk->own->home + offset), 0, (long)chunk->unit_size,
		      MREMAP_MAYMOVE | MREMAP_FIXED, (long)(chunk->start + offset));
	if (r < 0)
		return r;
	leave(chunk, unit);
	join_own(chunk, unit);
	grow_vmas(chunk, 2);
	count_split(chunk->unit_size);
	return 0;
}

static int page_split_allowed(void) {
	int64_t limit = __atomic_load_n(&fl_max_map_count, __ATOMIC_RELAXED);
	if (limit <= 0)
		return 1;
	int64_t used = __atomic_load_n(&fl_shim_vmas, __ATOMIC_RELAXED) +
		       __atomic_load_n(&fl_foreign_vmas, __ATOMIC_RELAXED);
	return used + FL_PAGE_SPLIT_RESERVE < limit;
}

/*
 * A chunk that alone maps a backing whose page tables were parked takes
 * them back: moving them over the chunk (whole page-table pages at a time)
 * leaves it writable and populated, where write-protection would be undone
 * entry by entry, and the parked mapping is gone without the cost of
 * unmapping it. The move replaces the chunk's mapping (all its pieces, if
 * units were made writable one by one) atomically.
 */
static sys_result unpark(struct fl_chunk *chunk) {
	struct fl_backing *backing = chunk->backing[0];
	sys_result r = sys_call5(__NR_mremap, (long)backing->parked, (long)chunk->size, (long)chunk->size,
				 MREMAP_MAYMOVE | MREMAP_FIXED, (long)chunk->start);
	if (r < 0)
		return r;
	backing->parked = 0;
	__atomic_fetch_sub(&fl_shim_vmas, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Does the chunk map every unit of `backing`, with no other sharer of any?
 * Then nobody else sees any of the chunk's bytes. The count rules most
 * chunks out at once; when it matches, the chunk still may map another
 * backing at some unit (and another chunk this one there): the loop tells. */
static int maps_backing_alone(const struct fl_chunk *chunk, const struct fl_backing *backing) {
	if (backing->mapped != chunk->units)
		return 0;
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		if (chunk->backing[unit] != backing)
			return 0;
	return 1;
}

/*
 * The chunk alone maps its one backing: all of it becomes writable where it
 * is, copying nothing, and its range is one kernel mapping again, whatever
 * pieces earlier writes cut it into. Parked page tables come back; else one
 * mprotect of the range (cheap where the range is not populated, and never
 * more than the copy that shared it cost).
 */
static sys_result unprotect_whole(struct fl_chunk *chunk) {
	sys_result r = -1;
	if (chunk->backing[0]->parked)
		r = unpark(chunk);
	if (r < 0)
		r = sys_mprotect(chunk->start, chunk->size, PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	for (uint64_t unit = 0; unit < chunk->units; unit++)
		chunk->writable[unit] = 1;
	__atomic_fetch_add(&fl_shim_vmas, 1 - (int64_t)chunk->vmas, __ATOMIC_RELAXED);
	chunk->vmas = 1;
	__atomic_fetch_add(&fl_chunk_counters.in_place, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Make one page unit writable where it is: its last sharer writes, while
 * other units of the chunk are still shared. Cuts the chunk's mapping in up
 * to three (merged with writable neighbours of the same backing). */
static sys_result unprotect_unit(struct fl_chunk *chunk, uint64_t unit) {
	sys_result r = sys_mprotect(unit_address(chunk, unit), chunk->unit_size, PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	chunk->writable[unit] = 1;
	grow_vmas(chunk, 2);
	__atomic_fetch_add(&fl_chunk_counters.in_place, 1, __ATOMIC_RELAXED);
	return 0;
}

sys_result fl_chunk_make_unit_writable(struct fl_chunk *chunk, uint64_t unit) {
	if (chunk->writable[unit])
		return 0;
	/* The last sharer: nobody else sees these bytes, so the unit becomes
	 * writable where it is, copying nothing; the whole chunk, when nobody
	 * else sees any of it (a whole-split chunk's one unit always). Otherwise
	 * the writer splits off its sharers. */
	struct fl_backing *backing = chunk->backing[unit];
	int last = backing->sharers[unit] == 1;
	if (last && maps_backing_alone(chunk, backing))
		return unprotect_whole(chunk);
	if (chunk->units == 1)
		return split_whole(chunk);
	/* A page unit cuts its chunk's mapping in up to three; near
	 * vm.max_map_count the kernel could refuse, and a write that cannot be
	 * resolved ends the process. Split the whole chunk then, which frees
	 * mappings instead. */
	sys_result r = -ENOMEM;
	if (page_split_allowed())
		r = last ? unprotect_unit(chunk, unit) : split_page(chunk, unit);
	if (r != -ENOMEM)
		return r;
	__atomic_fetch_add(&fl_chunk_counters.whole_fallbacks, 1, __ATOMIC_RELAXED);
	return split_whole(chunk);
}

/* --- the handler ------------------------------------------------------------ */

/* Step aside for the default action (kernel.h); if even that is refused,
 * end the process as a shell reports death by sig, rather than return to
 * a fault that would only come back to this handler. */
static void step_aside(int sig) {
	if (restore_default(sig) < 0)
		sys_exit_group(128 + sig);
}

static uint64_t text_length(const char *text) {
	uint64_t n = 0;
	while (text[n])
		n++;
	return n;
}

static void say(const char *text) {
	sys_write(STDERR_FD, text, text_length(text));
}

static void say_hex(uint64_t value) {
	char digits[2 + 16 + 1];
	int at = (int)sizeof digits - 1;
	digits[at] = 0;
	do {
		digits[--at] = "0123456789abcdef"[value & 0xf];
		value >>= 4;
	} while (value && at > 2);
	digits[--at] = 'x';
	digits[--at] = '0';
	say(&digits[at]);
}

static void say_errno(uint64_t error) {
	char digits[24];
	int at = (int)sizeof digits - 1;
	digits[at] = 0;
	do {
		digits[--at] = (char)('0' + error % 10);
		error /= 10;
	} while (error && at > 0);
	say(&digits[at]);
}

/*
 * Leave the fault to whoever handled SIGSEGV before us. For a default (or
 * ignored: a fault cannot be ignored) disposition, step aside and return:
 * the faulting instruction runs again and the kernel delivers the same
 * SIGSEGV with the default action. A SIGSEGV sent by kill() does not come
 * back by itself, so it is sent again.
 */
static void forward(int sig, siginfo_t *info, void *context) {
	uint64_t handler = __atomic_load_n(&fl_previous_segv_handler, __ATOMIC_ACQUIRE);
	if (handler == HANDLER_DEFAULT || handler == HANDLER_IGNORE) {
		step_aside(sig);
		if (info->si_code < SEGV_FROM_KERNEL_MIN)
			sys_call3(__NR_tgkill, sys_getpid(), fl_thread_id(), sig);
		return;
	}
	if (__atomic_load_n(&fl_previous_segv_flags, __ATOMIC_ACQUIRE) & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))(uintptr_t)handler)(sig, info, context);
	else
		((void (*)(int))(uintptr_t)handler)(sig);
}

/* End the process with SIGSEGV after saying why: the fault is ours, and
 * nothing can make the access succeed. */
static void fatal(int sig, const char *what, uint64_t address, uint64_t error) {
	say("faultline: ");
	say(what);
	say(" at ");
	say_hex(address);
	if (error) {
		say(" (errno ");
		say_errno(error);
		say(")");
	}
	say("; ending the process\n");
	step_aside(sig);
}

static int is_write(const void *context) {
	const ucontext_t *uc = context;
	return ((uint64_t)uc->uc_mcontext.gregs[REG_ERR] & X86_PF_WRITE) != 0;
}

static int holds(const struct fl_chunk *chunk, uint64_t address) {
	return address >= chunk->start && address - chunk->start < chunk->size;
}

void fl_chunk_fault(int sig, void *raw_info, void *context) {
	siginfo_t *info = raw_info;
	if (info->si_code < SEGV_FROM_KERNEL_MIN) {
		forward(sig, info, context);
		return;
	}
	uint64_t address = (uint64_t)(uintptr_t)info->si_addr;
	for (int attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
		struct fl_chunk *chunk = fl_chunk_lookup(address);
		if (!chunk)
			break;
		struct fl_lineage *lineage = __atomic_load_n(&chunk->lineage, __ATOMIC_ACQUIRE);
		if (!lineage)
			continue;
		if (__atomic_load_n(&lineage->lock.owner, __ATOMIC_RELAXED) == this_thread()) {
			/* Rule 4 of chunk.h broken: waiting would never end. */
			fatal(sig, "lazy copy: fault while this thread holds the chunk's lock", address, 0);
			return;
		}
		fl_lock_take(&lineage->lock);
		uint32_t state = __atomic_load_n(&chunk->state, __ATOMIC_ACQUIRE);
		if (chunk->lineage != lineage || state == FL_CHUNK_UNUSED || !holds(chunk, address)) {
			fl_lock_release(&lineage->lock); /* recycled meanwhile: look again */
			continue;
		}
		if (state == FL_CHUNK_FREED) {
			fl_lock_release(&lineage->lock);
			fatal(sig, "lazy copy: access to a chunk freed with freeChunk() through a view still in use",
			      address, 0);
			return;
		}
		if (!is_write(context)) {
			/* Live chunks are always readable: not ours. */
			fl_lock_release(&lineage->lock);
			break;
		}
		sys_result r = fl_chunk_make_unit_writable(chunk, (address - chunk->start) / chunk->unit_size);
		__atomic_fetch_add(&fl_chunk_counters.faults, 1, __ATOMIC_RELAXED);
		fl_lock_release(&lineage->lock);
		if (r < 0)
			fatal(sig, "lazy copy: the kernel refused memory for a write to a shared chunk", address,
			      (uint64_t)-r);
		return;
	}
	forward(sig, info, context);
}
