/*
 * kernel.h — the kernel's own definitions that freestanding code needs, as
 * the system calls take them on x86-64 (not glibc's versions of the same
 * structures, which differ: glibc's sigset_t is 128 bytes, its sigaction
 * has another layout).
 */
#ifndef FAULTLINE_KERNEL_H
#define FAULTLINE_KERNEL_H

#include <stdint.h>

/* Signal numbers the kernel knows (_NSIG) and the size of its signal set. */
#define KERNEL_NSIG 64
#define KERNEL_SIGSET_BYTES 8

/* The sa_handler values of the default action and of ignoring. */
#define HANDLER_DEFAULT 0ull
#define HANDLER_IGNORE 1ull

/* SA_RESTORER: the handler returns through sa_restorer (rt_sigreturn). */
#define SA_RESTORER_FLAG 0x04000000

/* struct sigaction for rt_sigaction on x86-64. */
struct kernel_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* stack_t for sigaltstack. */
struct kernel_stack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

struct kernel_timespec {
	int64_t seconds;
	int64_t nanoseconds;
};

/* struct rlimit for prlimit64. */
struct kernel_rlimit {
	uint64_t soft;
	uint64_t hard;
};

/* struct itimerval for setitimer. */
struct kernel_itimerval {
	int64_t interval_seconds;
	int64_t interval_micros;
	int64_t value_seconds;
	int64_t value_micros;
};

#endif
