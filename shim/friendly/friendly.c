/*
 * friendly.c — libetsbefriends.so's set-up, with libc, before the program's
 * main runs: the constructor installs friendly_on_fault (friendly-report.c)
 * for the crash signals (FRIENDLY_SIGNALS) on an alternate signal stack, and a pthread_create
 * wrapper gives every thread the program starts an alternate stack too.
 *
 * Why alternate stacks: a stack overflow faults because the stack is used
 * up, so a handler on that same stack could not even start; the kernel would
 * then kill the program silently. sigaltstack is per thread and a new thread
 * starts without one, hence the wrapper.
 *
 * The program keeps the last word: the handler is installed only where the
 * disposition is still SIG_DFL (a library constructor or an earlier
 * LD_PRELOAD may have installed its own), and a handler the program installs
 * later simply replaces it. A program that never crashes sees only two
 * mappings more per thread and one pthread key in use.
 *
 * Nothing here prints: a set-up step that fails leaves that part of the
 * program's behaviour as it would be without the library.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "friendly/friendly.h"

/* Room for the kernel's signal frame (several KiB with AVX-512 state) and
 * the handler's own small frames; sysconf(_SC_SIGSTKSZ) wins if larger. */
#define ALTSTACK_MIN_BYTES (64 * 1024)
#define FALLBACK_PAGE_BYTES 4096
/* Alternate stacks of ended threads kept for the next ones: a program that
 * starts and joins threads in a loop then pays three sigaltstack calls per
 * thread instead of mmap, mprotect and munmap (whose TLB shootdowns in a
 * multi-threaded process cost more than starting the thread). */
#define ALTSTACK_CACHE_SLOTS 16

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* The routine a wrapped thread runs once it has its alternate stack. */
struct thread_start {
	void *(*routine)(void *);
	void *argument;
};

/* Fixed by the constructor before any thread of the program's exists. */
static size_t page_bytes = FALLBACK_PAGE_BYTES;
static size_t altstack_bytes = ALTSTACK_MIN_BYTES;
static int handler_installed;
/* Each wrapped thread's alternate stack, released by the key's destructor
 * when the thread ends. */
static pthread_key_t altstack_key;
static int altstack_key_ready;
/* Each slot holds one unused stack's base or NULL, taken and given back with
 * single atomic operations: no lock, so nothing a fork() could leave held. */
static void *altstack_cache[ALTSTACK_CACHE_SLOTS];

static size_t round_up(size_t n, size_t unit) {
	return (n + unit - 1) / unit * unit;
}

static void *altstack_from_cache(void) {
	for (int i = 0; i < ALTSTACK_CACHE_SLOTS; i++) {
		void *base = __atomic_exchange_n(&altstack_cache[i], NULL, __ATOMIC_ACQ_REL);
		if (base != NULL)
			return base;
	}
	return NULL;
}

/* Unmap a stack no thread uses, unless the cache has room for it. */
static void altstack_discard(char *base) {
	for (int i = 0; i < ALTSTACK_CACHE_SLOTS; i++) {
		void *empty = NULL;
		if (__atomic_compare_exchange_n(&altstack_cache[i], &empty, base, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return;
	}
	munmap(base, page_bytes + altstack_bytes); /* nothing better to do if it fails */
}

/* A fresh stack, with a PROT_NONE page below it so a handler that overruns
 * it faults instead of writing over other memory; NULL if none. */
static char *altstack_map(void) {
	size_t length = page_bytes + altstack_bytes;
	char *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, page_bytes, PROT_NONE) != 0) {
		munmap(base, length); /* unused: if this fails too, only address space is lost */
		return NULL;
	}
	return base;
}

/* Give the calling thread an alternate signal stack, unless it has one of
 * its own already. Returns the mapping's base, or NULL when nothing was
 * installed. */
static void *altstack_install(void) {
	stack_t current;
	if (sigaltstack(NULL, &current) != 0 || !(current.ss_flags & SS_DISABLE))
		return NULL;
	char *base = altstack_from_cache();
	if (base == NULL)
		base = altstack_map();
	if (base == NULL)
		return NULL;
	stack_t ours = { .ss_sp = base + page_bytes, .ss_flags = 0, .ss_size = altstack_bytes };
	if (sigaltstack(&ours, NULL) != 0) {
		altstack_discard(base);
		return NULL;
	}
	return base;
}

/* The key's destructor, as a wrapped thread ends: stop using the alternate
 * stack, then keep it for another thread or unmap it. sigaltstack refuses
 * (EPERM) while the thread runs on it, e.g. when it ends from inside a
 * signal handler; the stack then stays with the thread rather than be
 * pulled from under it (or handed to another). */
static void altstack_release(void *opaque) {
	char *base = opaque;
	stack_t current;
	if (sigaltstack(NULL, &current) != 0)
		return;
	if (current.ss_sp == base + page_bytes) {
		stack_t off = { .ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0 };
		if (sigaltstack(&off, NULL) != 0)
			return;
	}
	altstack_discard(base);
}

static void *start_with_altstack(void *opaque) {
	struct thread_start start = *(struct thread_start *)opaque;
	free(opaque);
	void *base = altstack_install();
	if (base != NULL && pthread_setspecific(altstack_key, base) != 0)
		altstack_release(base); /* nobody would free it later */
	return start.routine(start.argument);
}

/* libc's pthread_create, the one this wrapper stands in front of. */
static pthread_create_fn real_pthread_create(void) {
	static pthread_create_fn real;
	pthread_create_fn found = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (found == NULL) {
		found = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
		__atomic_store_n(&real, found, __ATOMIC_RELEASE);
	}
	return found;
}

/* Interposed by LD_PRELOAD: the new thread first gets an alternate stack,
 * then runs the program's routine. Without the handler or the key, or
 * without memory for the trampoline, the call passes through unchanged. */
FRIENDLY_EXPORT int pthread_create(pthread_t *restrict thread, const pthread_attr_t *restrict attributes,
				   void *(*routine)(void *), void *restrict argument) {
	pthread_create_fn real = real_pthread_create();
	if (real == NULL)
		return EAGAIN;
	struct thread_start *start = handler_installed && altstack_key_ready ? malloc(sizeof *start) : NULL;
	if (start == NULL)
		return real(thread, attributes, routine, argument);
	start->routine = routine;
	start->argument = argument;
	int error = real(thread, attributes, start_with_altstack, start);
	if (error != 0)
		free(start);
	return error;
}

/* Differs from run to run: the kernel's randomness, or, before the kernel
 * has any (early boot), the clock and the process id. */
static uint64_t process_seed(void) {
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed && seed != 0)
		return seed;
	struct timespec now = { 0, 0 };
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		now.tv_sec = 0;
	return ((uint64_t)now.tv_sec << 30) ^ (uint64_t)now.tv_nsec ^ ((uint64_t)getpid() << 40);
}

static int reraise_requested(void) {
	const char *value = getenv(FRIENDLY_RERAISE_VARIABLE);
	return value != NULL && value[0] != '\0' && strcmp(value, "0") != 0;
}

static int disposition_is_default(int sig) {
	struct sigaction current;
	if (sigaction(sig, NULL, &current) != 0)
		return 0;
	return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL;
}

static const int friendly_signals[FRIENDLY_SIGNAL_COUNT] = FRIENDLY_SIGNALS;

/* SA_ONSTACK: on the thread's alternate stack. All the crash signals
 * blocked while the handler runs, so a second one in the same thread cannot
 * interleave. */
static int install_handler(int sig) {
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_sigaction = friendly_on_fault;
	action.sa_flags = SA_SIGINFO | SA_ONSTACK;
	if (sigemptyset(&action.sa_mask) != 0)
		return 0;
	for (int i = 0; i < FRIENDLY_SIGNAL_COUNT; i++)
		if (sigaddset(&action.sa_mask, friendly_signals[i]) != 0)
			return 0;
	return sigaction(sig, &action, NULL) == 0;
}

static void size_altstacks(void) {
	long page = sysconf(_SC_PAGESIZE);
	if (page > 0)
		page_bytes = (size_t)page;
	size_t wanted = ALTSTACK_MIN_BYTES;
#ifdef _SC_SIGSTKSZ
	/* glibc 2.34+: what this machine's signal frames need (AT_MINSIGSTKSZ). */
	long needed = sysconf(_SC_SIGSTKSZ);
	if (needed > 0 && (size_t)needed > wanted)
		wanted = (size_t)needed;
#endif
	altstack_bytes = round_up(wanted, page_bytes);
}

__attribute__((constructor)) static void friendly_setup(void) {
	/* Handlers installed before this library's turn stay in charge, each
	 * signal on its own. */
	int unhandled[FRIENDLY_SIGNAL_COUNT];
	int any = 0;
	for (int i = 0; i < FRIENDLY_SIGNAL_COUNT; i++)
		any |= unhandled[i] = disposition_is_default(friendly_signals[i]);
	if (!any)
		return;
	size_altstacks();
	friendly_report_init(process_seed(), reraise_requested());
	/* Without it, only an overflow of the main thread's stack goes unreported. */
	(void)altstack_install();
	altstack_key_ready = pthread_key_create(&altstack_key, altstack_release) == 0;
	for (int i = 0; i < FRIENDLY_SIGNAL_COUNT; i++)
		if (unhandled[i] && install_handler(friendly_signals[i]))
			handler_installed = 1;
}
