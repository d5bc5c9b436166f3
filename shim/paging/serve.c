/*
 * serve.c — demand paging by userfaultfd, served from Bun's process.
 *
 * The loader mapped the demand regions' file pages from the image copy (a
 * sealed memfd holding the file's bytes) and registered them for minor
 * faults, and their bss as anonymous memory for missing pages
 * (userfaultfd.c); its userfaultfd reaches this thread through the
 * waiter. The thread puts the entry point's page in place for dpager, and
 * then answers every fault: a file page by mapping the copy's page
 * (UFFDIO_CONTINUE), a bss page by copying zeros in (UFFDIO_COPY: a
 * ZEROPAGE mapping would fault again on the first write), each with the
 * pages the predictor expects in the same call where they follow it.
 *
 * The faulting thread just waits for the page, whatever its signal mask or
 * handlers, and faults the kernel takes inside system calls are served the
 * same way. A fork of the program hands this thread one more descriptor
 * (when fork events are allowed). If this thread, or Bun, dies, the kernel
 * drops the registrations: the copy still holds the file's bytes and the
 * bss reads as zeros, so the program runs on correct pages regardless.
 *
 * Where the time goes (docs/report.md): a fault costs two wake-ups, of this
 * thread and of the faulting one, and in a VM a wake-up of a sleeping CPU
 * is dear. So once a run faults often, this thread follows the faulting
 * thread's CPU and runs there under SCHED_IDLE: when it blocks, the CPU has nothing
 * else to run, this thread runs at once without waking another CPU, and
 * the woken faulting thread preempts it at once. A starvation guard moves
 * it back to the normal policy, on any CPU, while other work shares the
 * CPU. Runs on a Bun-side thread; uses libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "paging/events.h"
#include "common/uffd-compat.h"
#include "paging/predict.h"
#include "paging/regions.h"
#include "paging/serve.h"

/* A fault that could not be served yet: the kernel answered EAGAIN because
 * the process's memory was changing (a fork was in progress, its event not
 * yet read). Its thread keeps waiting; the fault is served again once the
 * pending events have been read. */
struct deferred_fault {
	int fd;
	uint64_t address;
	int writing;
};

/* How long to wait for new messages while faults are deferred before trying
 * them again: the forking thread needs only to run again to finish. */
#define DEFERRED_RETRY_NS 50000l

/* Messages read in one read(2): one per faulting thread at most is pending. */
#define MESSAGES_PER_READ 16

/* Following the faulting thread's CPU: looked up in /proc every this many
 * faults (and at the first). */
#define FOLLOW_EVERY_FAULTS 64
/* /proc/TID/stat's field holding the CPU last run on ("processor"),
 * counted after the command name's closing parenthesis. */
#define STAT_PROCESSOR_FIELD 37

/* The starvation guard: judged every GUARD_EVERY_FAULTS faults, or at a
 * fault coming more than GUARD_GAP_NS after the last, over stretches of at
 * least GUARD_STRETCH_NS. When this thread and the faulting one had less
 * than half the stretch's time on the CPU, others run there, which starve a
 * SCHED_IDLE thread: it goes back to the normal policy and any CPU for
 * GUARD_BACKOFF_NS, twice as long each time it trips again within
 * GUARD_AGAIN_NS of coming back, up to GUARD_BACKOFF_MAX_NS. */
#define GUARD_EVERY_FAULTS 64
#define GUARD_GAP_NS 1000000ull
#define GUARD_STRETCH_NS 1000000ull
#define GUARD_BACKOFF_NS 20000000ull
#define GUARD_BACKOFF_MAX_NS 2000000000ull
#define GUARD_AGAIN_NS 100000000ull
/* When the server starts following the faulting thread: at once when the
 * machine has CPUs to spare, or once it has served IDLE_AFTER_FAULTS_BUSY
 * faults under the normal policy when it had none (more runnable tasks
 * than CPUs, from /proc/loadavg): a SCHED_IDLE thread waits behind anything
 * else on its CPU, which a short run's few faults would each pay before
 * the guard could judge. */
#define IDLE_AFTER_FAULTS_BUSY 1024
/* Runnable at the server's start whatever the load: itself, and Bun's
 * launching thread. */
#define LAUNCHING_THREADS 2

/* How old the program's files' sizes may be when a fault is served: they
 * are looked up again (fstat) after this long. (inotify would tell at once,
 * but closing an inotify descriptor waits for a grace period of the
 * kernel's, milliseconds added to every run's end.) */
#define FILE_SIZES_MAX_AGE_NS 1000000ull

/* Where this thread runs, and how it judges that. */
struct placement {
	int idle;              /* under SCHED_IDLE, following the faulting thread */
	uint64_t served;       /* faults served under the normal policy at start */
	uint64_t idle_after;   /* how many, before following the faulting thread */
	int cpu;               /* the CPU it is pinned to; -1: none */
	uint64_t faults;       /* since the CPU was last looked up */
	uint64_t checked_at;   /* the guard's last look (0: none yet) */
	uint64_t cpu_time_at;  /* both threads' CPU time then */
	uint64_t faults_since_check;
	uint64_t last_fault_at;
	uint64_t normal_until; /* back under SCHED_IDLE after this */
	uint64_t idle_since;
	uint64_t backoff_ns;
	uint32_t thread;       /* the faulting thread last looked at */
	int thread_schedstat;  /* its /proc/TID/schedstat, or -1 */
	int own_schedstat;     /* this thread's */
};

struct server {
	struct paged_run *run;
	struct pollfd *polled; /* [0]: the "child is done" eventfd; then one per process */
	size_t count;
	size_t capacity;
	struct deferred_fault *deferred;
	size_t deferred_count;
	size_t deferred_capacity;
	struct fl_predictor_state predictor;
	struct placement placement;
	/* The program's files' sizes, at most FILE_SIZES_MAX_AGE_NS old: a
	 * copy's page past a file's current end (the file was cut under the
	 * program) gives SIGBUS, as the kernel's own paging of the file would. */
	uint64_t file_sizes[FL_FILE_COUNT];
	uint64_t file_sizes_at;
	unsigned char zeros[FL_EVENT_PAGES * FL_PAGE_SIZE] __attribute__((aligned(FL_PAGE_SIZE)));
};

/* Index in polled of the first process's descriptor. */
#define FIRST_PROCESS 1

static void record_error(struct fl_launch_spec *spec, int error) {
	uint64_t none = 0;
	__atomic_compare_exchange_n(&spec->status.handler_error, &none, (uint64_t)error, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static int add_polled(struct server *s, int fd) {
	if (s->count == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 8;
		struct pollfd *grown = realloc(s->polled, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		s->polled = grown;
		s->capacity = capacity;
	}
	s->polled[s->count++] = (struct pollfd){ .fd = fd, .events = fd >= 0 ? POLLIN : 0 };
	return 0;
}

/* ---- where this thread runs ---------------------------------------------- */

/* The first number in a /proc file read at offset 0 (schedstat: the time
 * on CPU, in ns); 0 when it cannot be read. */
static uint64_t first_number(int fd) {
	char text[128];
	ssize_t n = fd >= 0 ? pread(fd, text, sizeof text - 1, 0) : -1;
	if (n <= 0)
		return 0;
	text[n] = 0;
	return strtoull(text, NULL, 10);
}

static int open_proc(const char *format, uint32_t thread) {
	char path[64];
	snprintf(path, sizeof path, format, thread);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The CPU a thread last ran on, from /proc/TID/stat; -1 if unknown. */
static int cpu_of(uint32_t thread) {
	char text[1024];
	int fd = open_proc("/proc/%u/stat", thread);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = 0;
	char *field = strrchr(text, ')');
	for (int i = 0; field && i < STAT_PROCESSOR_FIELD; i++)
		field = strchr(field + 1, ' ');
	return field ? atoi(field + 1) : -1;
}

static void pin_to(struct placement *p, int cpu) {
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &set);
	/* Placement only ever costs speed: a refusal (a CPU set that excludes
	 * the program's CPU) leaves the thread where it is. */
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0)
		p->cpu = cpu;
}

static void set_policy(struct placement *p, int idle) {
	struct sched_param none = { .sched_priority = 0 };
	if (pthread_setschedparam(pthread_self(), idle ? SCHED_IDLE : SCHED_OTHER, &none) != 0)
		return;
	p->idle = idle;
	if (!idle)
		pin_to(p, -1);
}

static void watch_thread(struct placement *p, uint32_t thread) {
	if (thread == p->thread)
		return;
	if (p->thread_schedstat >= 0)
		close(p->thread_schedstat);
	p->thread = thread;
	p->thread_schedstat = open_proc("/proc/%u/schedstat", thread);
	p->faults = FOLLOW_EVERY_FAULTS; /* look up its CPU now */
	p->checked_at = 0;
}

/* Before serving a fault of `thread`: join its CPU (now and then), and
 * judge whether this thread starves there. */
static void place_near(struct placement *p, uint32_t thread) {
	uint64_t now = fl_monotonic_now();
	if (thread)
		watch_thread(p, thread);
	if (!p->idle) {
		if (p->served < p->idle_after && ++p->served < p->idle_after) {
			p->last_fault_at = now;
			return;
		}
		if (now >= p->normal_until) {
			set_policy(p, 1);
			p->idle_since = now;
			p->checked_at = 0;
			p->faults = FOLLOW_EVERY_FAULTS;
		}
		p->last_fault_at = now;
		return;
	}
	if (p->thread && ++p->faults >= FOLLOW_EVERY_FAULTS) {
		p->faults = 0;
		int cpu = cpu_of(p->thread);
		if (cpu >= 0 && cpu != p->cpu) {
			pin_to(p, cpu);
			p->checked_at = 0; /* a new stretch on the new CPU */
		}
	}
	uint64_t gap = now - p->last_fault_at;
	p->last_fault_at = now;
	if (p->checked_at && ++p->faults_since_check < GUARD_EVERY_FAULTS && gap < GUARD_GAP_NS)
		return;
	uint64_t cpu_time = first_number(p->own_schedstat) + first_number(p->thread_schedstat);
	if (p->checked_at && now - p->checked_at >= GUARD_STRETCH_NS && (cpu_time - p->cpu_time_at) * 2 < now - p->checked_at) {
		/* Starving: the normal policy, any CPU, for a while; longer if
		 * it comes back and trips again soon. */
		p->backoff_ns = p->idle_since && now - p->idle_since < GUARD_AGAIN_NS
					? (p->backoff_ns * 2 > GUARD_BACKOFF_MAX_NS ? GUARD_BACKOFF_MAX_NS : p->backoff_ns * 2)
					: GUARD_BACKOFF_NS;
		set_policy(p, 0);
		p->normal_until = now + p->backoff_ns;
	}
	p->checked_at = now;
	p->cpu_time_at = cpu_time;
	p->faults_since_check = 0;
}

void fl_serve_normally(pthread_t server) {
	struct sched_param none = { .sched_priority = 0 };
	cpu_set_t any;
	CPU_ZERO(&any);
	for (int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, &any);
	/* Best effort: at worst the thread ends later. */
	(void)pthread_setschedparam(server, SCHED_OTHER, &none);
	(void)pthread_setaffinity_np(server, sizeof any, &any);
}

/* Whether more tasks are runnable than there are CPUs, besides this thread
 * and the one thread of Bun's that launched the program (the fourth field
 * of /proc/loadavg, "runnable/total", counts both); busy when it cannot be
 * told. */
static int machine_busy(void) {
	char text[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 1;
	text[n] = 0;
	unsigned runnable = 0, total = 0;
	double averages[3];
	if (sscanf(text, "%lf %lf %lf %u/%u", &averages[0], &averages[1], &averages[2], &runnable, &total) != 5)
		return 1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus <= 0 || (long)runnable > cpus + LAUNCHING_THREADS;
}

static void start_placement(struct placement *p) {
	*p = (struct placement){ .cpu = -1, .thread_schedstat = -1, .backoff_ns = GUARD_BACKOFF_NS };
	p->own_schedstat = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	p->idle_after = machine_busy() ? IDLE_AFTER_FAULTS_BUSY : 1;
}

static void end_placement(struct placement *p) {
	if (p->thread_schedstat >= 0)
		close(p->thread_schedstat);
	if (p->own_schedstat >= 0)
		close(p->own_schedstat);
}

/* ---- the program's files ------------------------------------------------- */

static void read_file_sizes(struct server *s) {
	for (int i = 0; i < FL_FILE_COUNT; i++) {
		struct stat st;
		int fd = s->run->file_fds[i];
		s->file_sizes[i] = fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
	}
	s->file_sizes_at = fl_monotonic_now();
}

/* The size of the program's file `file`, looked up again when old. */
static uint64_t file_size(struct server *s, uint64_t file) {
	if (fl_monotonic_now() - s->file_sizes_at > FILE_SIZES_MAX_AGE_NS)
		read_file_sizes(s);
	return file < FL_FILE_COUNT ? s->file_sizes[file] : UINT64_MAX;
}

/* ---- putting pages in place ---------------------------------------------- */

/* The outcome of one UFFDIO call: pages placed (from the first), or a
 * negative errno. EEXIST (another fault or a prediction placed the first
 * page already) is 0 pages; ENOENT and ESRCH (the range or the process is
 * gone) too; EAGAIN after some pages is those pages. */
static int64_t outcome(int r, int64_t done) {
	if (r == 0)
		return done;
	/* Part of the range placed, then a page that was there already: the
	 * kernel says EAGAIN, with how far it got (userfaultfd_copy and its
	 * siblings). Only EAGAIN with nothing placed means "not now" (memory
	 * changing under a fork). */
	if (errno == EAGAIN && done > 0)
		return done;
	if (errno == EEXIST || errno == ENOENT || errno == ESRCH)
		return done > 0 ? done : 0;
	return -errno;
}

/*
 * The file ends before this page (it was cut while the program ran): the
 * kernel's own paging would give the access SIGBUS, and so does a poisoned
 * page. Without poisoning (before Linux 6.6) the page is mapped from the
 * copy, which still holds the bytes it was given.
 */
static int poison(int fd, uint64_t page) {
	struct uffdio_poison poisoned = { .range = { .start = page, .len = FL_PAGE_SIZE }, .mode = 0 };
	int r = ioctl(fd, UFFDIO_POISON, &poisoned);
	/* EINVAL or ENOTTY: a kernel without poisoning. Anything else is the
	 * answer (the process may be gone already: the SIGBUS ended it). */
	if (r == 0 || (errno != EINVAL && errno != ENOTTY))
		return r == 0 ? 1 : (int)outcome(r, 0);
	struct uffdio_continue mapped = { .range = { .start = page, .len = FL_PAGE_SIZE } };
	r = ioctl(fd, UFFDIO_CONTINUE, &mapped);
	return r == 0 ? 1 : (int)outcome(r, 0);
}

/*
 * Put `count` pages from `page` in place in the process behind fd, all in
 * one region: the copy's pages (or SIGBUS for one past the file's current
 * end), or zeros for the bss: copied in (`writing`: the access is a write,
 * which a ZEROPAGE mapping would fault again on) or as the shared zero page
 * (a prediction: a page nobody writes stays unwritten, which is how the run
 * page tells touched predictions under userfaultfd). Returns the pages
 * placed from the first (a page already there stops the run), or a
 * negative errno.
 */
static int64_t place_run(struct server *s, int fd, const struct fl_region *region, uint64_t page, uint64_t count,
			 int wake_thread, int writing) {
	uint64_t length = count * FL_PAGE_SIZE;
	if (region->offset == FL_ANONYMOUS && !writing) {
		struct uffdio_zeropage zero = {
			.range = { .start = page, .len = length },
			.mode = wake_thread ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};
		int r = ioctl(fd, UFFDIO_ZEROPAGE, &zero);
		return outcome(r, zero.zeropage > 0 ? zero.zeropage / (int64_t)FL_PAGE_SIZE : 0);
	}
	if (region->offset == FL_ANONYMOUS) {
		struct uffdio_copy copy = {
			.dst = page,
			.src = (uint64_t)(uintptr_t)s->zeros,
			.len = length,
			.mode = wake_thread ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
		};
		int r = ioctl(fd, UFFDIO_COPY, &copy);
		return outcome(r, copy.copy > 0 ? copy.copy / (int64_t)FL_PAGE_SIZE : 0);
	}
	uint64_t offset = region->offset + (page - region->start);
	uint64_t size = file_size(s, region->file);
	if (offset >= size)
		return poison(fd, page);
	if (offset + length > size)
		length = ((size - offset + FL_PAGE_SIZE - 1) / FL_PAGE_SIZE) * FL_PAGE_SIZE;
	struct uffdio_continue mapped = {
		.range = { .start = page, .len = length },
		.mode = wake_thread ? 0 : UFFDIO_CONTINUE_MODE_DONTWAKE,
	};
	int r = ioctl(fd, UFFDIO_CONTINUE, &mapped);
	return outcome(r, mapped.mapped > 0 ? mapped.mapped / (int64_t)FL_PAGE_SIZE : 0);
}

static int defer(struct server *s, int fd, uint64_t address, int writing) {
	if (s->deferred_count == s->deferred_capacity) {
		size_t capacity = s->deferred_capacity ? s->deferred_capacity * 2 : 8;
		struct deferred_fault *grown = realloc(s->deferred, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		s->deferred = grown;
		s->deferred_capacity = capacity;
	}
	s->deferred[s->deferred_count++] = (struct deferred_fault){ .fd = fd, .address = address, .writing = writing };
	return 0;
}

static void write_event(struct server *s, const struct fl_event *e) {
	fl_emit_event(s->run, e);
}

/* The predicted pages that directly follow the faulting page, in its
 * region: they go in the same call as the faulting page. */
static uint64_t following_run(const struct fl_region *region, uint64_t page, const uint64_t *candidates, uint64_t count) {
	uint64_t run = 0;
	while (run < count && candidates[run] == page + (run + 1) * FL_PAGE_SIZE && fl_in_region(region, candidates[run]))
		run++;
	return run;
}

/* Serve one fault. Returns -EAGAIN when the kernel asks for the fault to be
 * tried again later (memory changing under a fork), else 0. */
static int serve_fault(struct server *s, int fd, uint64_t address, int writing) {
	struct fl_launch_spec *spec = s->run->spec;
	uint64_t page = fl_page_down(address);
	const struct fl_region *region = fl_find_region(spec, page);
	if (!region || !(region->flags & FL_REGION_DEMAND)) {
		/* Only demand regions are registered; never leave a thread
		 * waiting whatever happens. */
		struct uffdio_zeropage zero = { .range = { .start = page, .len = FL_PAGE_SIZE } };
		if (ioctl(fd, UFFDIO_ZEROPAGE, &zero) != 0) {
			if (errno == EAGAIN)
				return -EAGAIN;
			if (errno != EEXIST)
				record_error(spec, errno);
		}
		return 0;
	}
	struct fl_event event = { .time_ns = fl_monotonic_now(), .fault_address = address, .kind = FL_EVENT_FAULT };
	/* The predictor learns from faults this thread serves, not from one
	 * that was served meanwhile: its state changes only then. */
	struct fl_predictor_state predictor = s->predictor;
	uint64_t candidates[FL_EVENT_PAGES];
	uint64_t pages = spec->predict_pages < FL_EVENT_PAGES ? spec->predict_pages : FL_EVENT_PAGES;
	uint64_t count = fl_predict(&predictor, spec->predictor, pages, page, candidates, &event.decision);
	uint64_t run = following_run(region, page, candidates, count);
	/* Every page goes in before the faulting thread is woken: woken, it
	 * runs at once, and would fault on a predicted page not yet there. The
	 * pages that follow the faulting one go in the same call, which wakes
	 * it when nothing else is to be placed. */
	int anonymous = region->offset == FL_ANONYMOUS;
	/* A bss page written now is copied in alone; its predictions follow. */
	if (anonymous && writing)
		run = 0;
	int others = count > run;
	int64_t placed = place_run(s, fd, region, page, 1 + run, !others, writing);
	if (placed == -EAGAIN)
		return -EAGAIN;
	if (placed <= 0) {
		if (placed < 0)
			record_error(spec, (int)-placed);
		/* Placed by someone else meanwhile: the thread may still wait. */
		struct uffdio_range range = { .start = page, .len = FL_PAGE_SIZE };
		if (ioctl(fd, UFFDIO_WAKE, &range) != 0 && errno != ESRCH)
			record_error(spec, errno);
		return 0;
	}
	s->predictor = predictor;
	__atomic_fetch_add(&spec->status.faults, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&spec->status.pages_enabled, (uint64_t)placed, __ATOMIC_RELAXED);
	for (int64_t i = 0; i < placed; i++)
		event.pages[event.count++] = page + (uint64_t)i * FL_PAGE_SIZE;
	/* The rest one at a time: a run that stopped at a page already there,
	 * and predictions elsewhere. */
	for (uint64_t i = (uint64_t)placed - 1; i < count; i++) {
		if (!fl_in_region(region, candidates[i]) || event.count >= FL_EVENT_PAGES)
			continue;
		int already = 0;
		for (uint64_t j = 0; j < event.count; j++)
			already |= event.pages[j] == candidates[i];
		if (!already && place_run(s, fd, region, candidates[i], 1, 0, 0) == 1) {
			__atomic_fetch_add(&spec->status.pages_enabled, 1, __ATOMIC_RELAXED);
			event.pages[event.count++] = candidates[i];
		}
	}
	if (others) {
		struct uffdio_range range = { .start = page, .len = FL_PAGE_SIZE };
		if (ioctl(fd, UFFDIO_WAKE, &range) != 0 && errno != ESRCH)
			record_error(spec, errno);
	}
	write_event(s, &event);
	return 0;
}

/* Serve a fault, or keep it for later when the kernel asks for that. A
 * fault that can be neither served nor kept leaves its thread waiting, so
 * the error is recorded (the run's report says so). */
static void serve_or_defer(struct server *s, int fd, uint64_t address, int writing) {
	if (serve_fault(s, fd, address, writing) != -EAGAIN)
		return;
	int r = defer(s, fd, address, writing);
	if (r < 0)
		record_error(s->run->spec, -r);
}

/* Try the deferred faults again; those the kernel still refuses stay. */
static void retry_deferred(struct server *s) {
	size_t kept = 0;
	for (size_t i = 0; i < s->deferred_count; i++) {
		struct deferred_fault f = s->deferred[i];
		if (serve_fault(s, f.fd, f.address, f.writing) == -EAGAIN)
			s->deferred[kept++] = f;
	}
	s->deferred_count = kept;
}

/* Forget the deferred faults of a process that is gone. */
static void drop_deferred(struct server *s, int fd) {
	size_t kept = 0;
	for (size_t i = 0; i < s->deferred_count; i++)
		if (s->deferred[i].fd != fd)
			s->deferred[kept++] = s->deferred[i];
	s->deferred_count = kept;
}

/* dpager starts with the entry point's page and nothing else. */
static void place_entry(struct server *s, int fd) {
	struct fl_launch_spec *spec = s->run->spec;
	if (spec->policy != FL_POLICY_DEMAND)
		return;
	uint64_t page = fl_page_down(spec->entry);
	const struct fl_region *region = fl_find_region(spec, page);
	if (!region || !(region->flags & FL_REGION_DEMAND))
		return;
	int64_t r = place_run(s, fd, region, page, 1, 1, 0);
	if (r < 0) {
		record_error(spec, (int)-r);
		return;
	}
	/* 0 when the loader mapped it already (a prefetched page). */
	__atomic_fetch_add(&spec->status.pages_enabled, (uint64_t)r, __ATOMIC_RELAXED);
	struct fl_event event = { .time_ns = fl_monotonic_now(), .kind = FL_EVENT_START, .count = 1, .pages = { page } };
	write_event(s, &event);
}

/* Read every pending message of one process's descriptor. */
static void serve_process(struct server *s, size_t index) {
	int fd = s->polled[index].fd;
	for (;;) {
		struct uffd_msg messages[MESSAGES_PER_READ];
		ssize_t n = read(fd, messages, sizeof messages);
		if (n < (ssize_t)sizeof messages[0])
			return; /* EAGAIN: nothing more for now */
		for (size_t i = 0; i < (size_t)n / sizeof messages[0]; i++) {
			const struct uffd_msg *msg = &messages[i];
			if (msg->event == UFFD_EVENT_PAGEFAULT) {
				place_near(&s->placement, msg->arg.pagefault.feat.ptid);
				serve_or_defer(s, fd, msg->arg.pagefault.address, (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0);
			} else if (msg->event == UFFD_EVENT_FORK && add_polled(s, (int)msg->arg.fork.ufd) != 0) {
				close((int)msg->arg.fork.ufd);
			}
		}
	}
}

void *fl_serve_faults(void *arg) {
	struct paged_run *run = arg;
	struct server *s = aligned_alloc(FL_PAGE_SIZE, sizeof *s);
	if (!s) {
		/* Nobody serves the program's faults: it must not run on. */
		record_error(run->spec, ENOMEM);
		kill(run->pid, SIGKILL);
		return NULL;
	}
	memset(s, 0, sizeof *s);
	s->run = run;
	int fd = run->uffd;
	read_file_sizes(s);
	if (fd >= 0 && (add_polled(s, run->done_fd) != 0 || add_polled(s, fd) != 0)) {
		record_error(run->spec, ENOMEM);
		kill(run->pid, SIGKILL);
		close(fd);
		fd = -1;
	}
	start_placement(&s->placement);
	if (fd >= 0) {
		place_entry(s, fd);
		while (!__atomic_load_n(&run->child_done, __ATOMIC_SEQ_CST)) {
			/* Deferred faults are tried again after every round of
			 * messages, and soon even without new ones. */
			struct timespec soon = { 0, DEFERRED_RETRY_NS };
			if (ppoll(s->polled, s->count, s->deferred_count ? &soon : NULL, NULL) < 0 && errno != EINTR)
				break;
			if (s->polled[0].revents & POLLIN)
				break; /* the program has ended */
			for (size_t i = FIRST_PROCESS; i < s->count; i++) {
				if (s->polled[i].revents & POLLIN)
					serve_process(s, i);
				if (s->polled[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
					drop_deferred(s, s->polled[i].fd);
					close(s->polled[i].fd);
					s->polled[i--] = s->polled[--s->count];
				}
			}
			retry_deferred(s);
		}
	}
	end_placement(&s->placement);
	for (size_t i = FIRST_PROCESS; i < s->count; i++)
		close(s->polled[i].fd);
	free(s->polled);
	free(s->deferred);
	free(s);
	return NULL;
}
