/*
 * crash_kinds.c — the crashes a learner meets after the segfault, one per
 * mode, for the friendly reports of every crash signal:
 *
 *   crash_kinds divide          SIGFPE: an integer division by zero
 *   crash_kinds most_negative   SIGFPE: INT_MIN / -1
 *   crash_kinds float_divide    SIGFPE: 1.0 / 0.0 with the trap turned on
 *   crash_kinds assert          SIGABRT: a failed assert
 *   crash_kinds double_free     SIGABRT: the same block freed twice
 *   crash_kinds bad_free        SIGABRT: free of a pointer into a block's middle
 *   crash_kinds overrun         SIGABRT: a write past a block, then freeing the next
 *   crash_kinds abort           SIGABRT: abort()
 *   crash_kinds trap            SIGILL: __builtin_trap() (ud2)
 *   crash_kinds data_jump       SIGILL: a call into bytes that are no instruction
 *   crash_kinds breakpoint      SIGTRAP: int3 with no debugger
 *   crash_kinds seccomp         SIGSYS: getppid, forbidden by a seccomp filter
 *   crash_kinds handled_divide  a division by zero the program's own SIGFPE
 *                               handler catches: prints "crash_kinds: caught
 *                               SIGFPE", exits 42
 *   crash_kinds thread_divide   SIGFPE on a second thread
 *   crash_kinds thread_abort    SIGABRT (assert) on a second thread
 *
 * Prints "crash_kinds: MODE" (flushed) first. The operands come from argv's
 * count, never constants, so the compiler cannot fold the crash away at
 * -O2; each crash is in a noinline function called from main, so the
 * report has a frame of the program's own to name.
 */
#include <assert.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xmmintrin.h>

/* Each crash in a function of its own, which the compiler neither inlines,
 * merges with a look-alike (GCC's identical code folding), nor tail-calls
 * out of the report. */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noipa))
#endif
/* After a call: keeps it a call, not a jump that leaves no frame. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* Kept where the compiler cannot see its value. */
static volatile int zero_people;

NOINLINE static int share(int total, int people) {
	return total / people; /* crash_kinds: divide */
}

NOINLINE static int halve_sign(int value, int by) {
	return value / by; /* crash_kinds: most_negative */
}

NOINLINE static double ratio(double a, double b) {
	return a / b; /* crash_kinds: float_divide */
}

NOINLINE static int count_guests(int n) {
	assert(n > 0 && "count must be positive"); /* crash_kinds: assert */
	return n;
}

/* The pointers pass through volatile variables: the compiler sees what
 * these do and would warn. */
NOINLINE static void release_twice(char *p) {
	char *volatile again = p;
	free(p);
	free(again); /* crash_kinds: double_free */
	KEEP_FRAME();
}

NOINLINE static void release_middle(char *p) {
	char *volatile inside = p + 16;
	free(inside); /* crash_kinds: bad_free */
	KEEP_FRAME();
}

/* Writes 64 bytes past the end of a block of n, over the next block's
 * header: glibc notices when that next block is freed. */
NOINLINE static void scribble(char *p, size_t n) {
	memset(p, 'x', n + 64);
}

NOINLINE static void release(char *p) {
	free(p); /* crash_kinds: overrun */
	KEEP_FRAME();
}

NOINLINE static void give_up(void) {
	abort(); /* crash_kinds: abort */
}

NOINLINE static void unreachable_case(void) {
	__builtin_trap(); /* crash_kinds: trap */
}

NOINLINE static void jump_into_data(void) {
	/* 0x06 (push es) does not exist in 64-bit mode. */
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		perror("crash_kinds: mmap");
		exit(2);
	}
	memset(page, 0x06, 4096);
	((void (*)(void))page)(); /* crash_kinds: data_jump */
	KEEP_FRAME();
}

NOINLINE static void stop_here(void) {
	__asm__ volatile("int3"); /* crash_kinds: breakpoint */
}

/* Allow every system call but getppid, which traps (SIGSYS). */
static void forbid_getppid(void) {
	struct sock_filter program[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog filter = { .len = sizeof program / sizeof program[0], .filter = program };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) {
		perror("crash_kinds: seccomp");
		exit(2);
	}
}

NOINLINE static long ask_parent(void) {
	long parent = syscall(SYS_getppid); /* crash_kinds: seccomp */
	KEEP_FRAME();
	return parent;
}

static void caught(int sig) {
	static const char said[] = "crash_kinds: caught SIGFPE\n";
	if (sig == SIGFPE && write(STDOUT_FILENO, said, sizeof said - 1) < 0)
		_exit(3);
	_exit(42);
}

static void *thread_divide(void *unused) {
	(void)unused;
	return (void *)(long)share(10, zero_people);
}

static void *thread_abort(void *unused) {
	(void)unused;
	return (void *)(long)count_guests(zero_people);
}

static int in_thread(void *(*routine)(void *)) {
	pthread_t thread;
	if (pthread_create(&thread, NULL, routine, NULL) != 0) {
		perror("crash_kinds: pthread_create");
		return 2;
	}
	void *result;
	pthread_join(thread, &result);
	return (int)(long)result;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "divide";
	int none = argc - argc + zero_people; /* 0, unknown to the compiler */
	printf("crash_kinds: %s\n", mode);
	fflush(stdout);
	int result = 0;
	if (strcmp(mode, "divide") == 0)
		result = share(argc * 10, none);
	else if (strcmp(mode, "most_negative") == 0)
		result = halve_sign(INT_MIN + none, -argc / argc);
	else if (strcmp(mode, "float_divide") == 0) {
		_mm_setcsr(_mm_getcsr() & ~_MM_MASK_DIV_ZERO);
		result = (int)ratio(argc, none);
	} else if (strcmp(mode, "assert") == 0)
		result = count_guests(none);
	else if (strcmp(mode, "double_free") == 0)
		release_twice(malloc((size_t)argc * 24));
	else if (strcmp(mode, "bad_free") == 0)
		release_middle(malloc((size_t)argc * 64));
	else if (strcmp(mode, "overrun") == 0) {
		size_t n = (size_t)argc * 24;
		char *victim = malloc(n);
		char *neighbour = malloc(n);
		scribble(victim, n);
		release(victim);
		release(neighbour);
	} else if (strcmp(mode, "abort") == 0)
		give_up();
	else if (strcmp(mode, "trap") == 0)
		unreachable_case();
	else if (strcmp(mode, "data_jump") == 0)
		jump_into_data();
	else if (strcmp(mode, "breakpoint") == 0)
		stop_here();
	else if (strcmp(mode, "seccomp") == 0) {
		forbid_getppid();
		result = (int)ask_parent();
	} else if (strcmp(mode, "handled_divide") == 0) {
		signal(SIGFPE, caught);
		result = share(argc, none);
	} else if (strcmp(mode, "thread_divide") == 0)
		result = in_thread(thread_divide);
	else if (strcmp(mode, "thread_abort") == 0)
		result = in_thread(thread_abort);
	else {
		fprintf(stderr, "crash_kinds: unknown mode %s\n", mode);
		return 2;
	}
	printf("crash_kinds: survived %s (%d)\n", mode, result);
	return 0;
}
