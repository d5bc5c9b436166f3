/*
 * handover.c — taking what the pager's caller handed over, on the Bun side
 * (src/loader/caller.ts decides; this only does the system calls): another
 * process's descriptor, and this process's interval timers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "launch.h"

/* A copy of descriptor fd of process pid (close-on-exec, as pidfd_getfd
 * always makes it): the same open file, offset and all. It needs the right
 * to ptrace pid; src/loader/caller.ts reopens through /proc when that is refused.
 * Returns the new descriptor or a negative errno. */
FL_EXPORT int64_t fl_take_descriptor(int64_t pid, int64_t fd) {
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0)
		return -errno;
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	int error = errno;
	if (close(pidfd) != 0 && copy >= 0) {
		error = errno;
		close(copy);
		copy = -1;
	}
	return copy >= 0 ? copy : -error;
}

/*
 * Take this process's interval timers (ITIMER_REAL, ITIMER_VIRTUAL,
 * ITIMER_PROF): what each had left goes to out[which] (struct
 * fl_interval_timer, contract.h), and each is
 * disarmed here. execve keeps them, so they were the caller's (an alarm(2)
 * set before exec, say); the program gets them back. Returns 1 if any was
 * armed, 0 if none, or a negative errno.
 */
FL_EXPORT int64_t fl_take_interval_timers(struct fl_interval_timer *out) {
	static const int timers[FL_INTERVAL_TIMERS] = { ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF };
	int armed = 0;
	for (int i = 0; i < FL_INTERVAL_TIMERS; i++) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		struct itimerval left;
		if (setitimer(timers[i], &off, &left) != 0)
			return -errno;
		out[i] = (struct fl_interval_timer){
			.interval_seconds = (uint64_t)left.it_interval.tv_sec,
			.interval_micros = (uint64_t)left.it_interval.tv_usec,
			.value_seconds = (uint64_t)left.it_value.tv_sec,
			.value_micros = (uint64_t)left.it_value.tv_usec,
		};
		armed |= left.it_value.tv_sec != 0 || left.it_value.tv_usec != 0;
	}
	return armed;
}
