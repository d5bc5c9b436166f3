/*
 * sys.h — thin, uniform system-call wrappers for code that runs without libc.
 *
 * The child of a launch unmaps libc (with the rest of Bun) before it jumps to
 * the program, and signal handlers may run while the program owns the thread
 * pointer. Code on those paths calls the kernel directly through these
 * wrappers. Every wrapper returns the kernel's raw result: a negative errno on
 * failure, so callers test `< 0` (or `sys_failed`) and never read `errno`.
 */
#ifndef FAULTLINE_SYS_H
#define FAULTLINE_SYS_H

#include <stdint.h>
#include <stddef.h>
#include <asm/unistd.h>

typedef long sys_result;

/* A macro's value as a string, for system-call numbers in inline assembly. */
#define FL_STR2(x) #x
#define FL_STR(x) FL_STR2(x)

/* The kernel reports failure as a value in [-4095, -1]. */
#define SYS_MAX_ERRNO 4095

static inline int sys_failed(sys_result r) {
	return (unsigned long)r > (unsigned long)-SYS_MAX_ERRNO - 1;
}

static inline sys_result sys_call0(long nr) {
	sys_result ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call1(long nr, long a) {
	sys_result ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a) : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call2(long nr, long a, long b) {
	sys_result ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call3(long nr, long a, long b, long c) {
	sys_result ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call4(long nr, long a, long b, long c, long d) {
	sys_result ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call5(long nr, long a, long b, long c, long d, long e) {
	sys_result ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_call6(long nr, long a, long b, long c, long d, long e, long f) {
	sys_result ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline sys_result sys_read(int fd, void *buf, size_t n) {
	return sys_call3(__NR_read, fd, (long)buf, (long)n);
}
static inline sys_result sys_write(int fd, const void *buf, size_t n) {
	return sys_call3(__NR_write, fd, (long)buf, (long)n);
}
static inline sys_result sys_openat(int dirfd, const char *path, int flags, int mode) {
	return sys_call4(__NR_openat, dirfd, (long)path, flags, mode);
}
static inline sys_result sys_close(int fd) {
	return sys_call1(__NR_close, fd);
}
static inline sys_result sys_fcntl(int fd, int cmd, long arg) {
	return sys_call3(__NR_fcntl, fd, cmd, arg);
}
static inline sys_result sys_getdents64(int fd, void *buf, size_t n) {
	return sys_call3(__NR_getdents64, fd, (long)buf, (long)n);
}
static inline sys_result sys_pwrite(int fd, const void *buf, size_t n, uint64_t offset) {
	return sys_call4(__NR_pwrite64, fd, (long)buf, (long)n, (long)offset);
}
static inline sys_result sys_memfd_create(const char *name, unsigned flags) {
	return sys_call2(__NR_memfd_create, (long)name, (long)flags);
}
static inline sys_result sys_pread(int fd, void *buf, size_t n, uint64_t offset) {
	return sys_call4(__NR_pread64, fd, (long)buf, (long)n, (long)offset);
}
/* Copies another address range of the same process into buf, or fails with
 * EFAULT where it is not mapped readable: a read that cannot fault. */
static inline sys_result sys_process_vm_readv(int pid, const void *local, unsigned long local_count,
					      const void *remote, unsigned long remote_count) {
	return sys_call6(__NR_process_vm_readv, pid, (long)local, (long)local_count, (long)remote,
			 (long)remote_count, 0);
}
static inline sys_result sys_socket(int domain, int type, int protocol) {
	return sys_call3(__NR_socket, domain, type, protocol);
}
static inline sys_result sys_connect(int fd, const void *address, uint32_t length) {
	return sys_call3(__NR_connect, fd, (long)address, (long)length);
}
static inline sys_result sys_sendto(int fd, const void *buf, size_t n, int flags) {
	return sys_call6(__NR_sendto, fd, (long)buf, (long)n, flags, 0, 0);
}
static inline sys_result sys_setsockopt(int fd, int level, int name, const void *value, uint32_t length) {
	return sys_call5(__NR_setsockopt, fd, level, name, (long)value, (long)length);
}
static inline sys_result sys_clock_gettime(int clock, void *now) {
	return sys_call2(__NR_clock_gettime, clock, (long)now);
}
static inline sys_result sys_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd,
				  uint64_t off) {
	return sys_call6(__NR_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
}
static inline sys_result sys_munmap(uint64_t addr, uint64_t len) {
	return sys_call2(__NR_munmap, (long)addr, (long)len);
}
static inline sys_result sys_mprotect(uint64_t addr, uint64_t len, int prot) {
	return sys_call3(__NR_mprotect, (long)addr, (long)len, prot);
}
static inline sys_result sys_personality(unsigned long persona) {
	return sys_call1(__NR_personality, (long)persona);
}
static inline sys_result sys_rt_sigaction(int sig, const void *act, void *old, size_t setsize) {
	return sys_call4(__NR_rt_sigaction, sig, (long)act, (long)old, (long)setsize);
}
static inline sys_result sys_rt_sigprocmask(int how, const void *set, void *old, size_t setsize) {
	return sys_call4(__NR_rt_sigprocmask, how, (long)set, (long)old, (long)setsize);
}
static inline sys_result sys_prctl(int option, long a, long b, long c, long d) {
	return sys_call5(__NR_prctl, option, a, b, c, d);
}
static inline sys_result sys_rseq(uint64_t area, uint32_t len, int flags, uint32_t sig) {
	return sys_call4(__NR_rseq, (long)area, len, flags, sig);
}
static inline sys_result sys_getpid(void) {
	return sys_call0(__NR_getpid);
}
static inline sys_result sys_kill(int pid, int sig) {
	return sys_call2(__NR_kill, pid, sig);
}
static inline sys_result sys_gettid(void) {
	return sys_call0(__NR_gettid);
}
static inline sys_result sys_tgkill(int tgid, int tid, int sig) {
	return sys_call3(__NR_tgkill, tgid, tid, sig);
}
static inline sys_result sys_pause(void) {
	return sys_call0(__NR_pause);
}
static inline sys_result sys_sendmsg(int fd, const void *message, int flags) {
	return sys_call3(__NR_sendmsg, fd, (long)message, flags);
}
static inline sys_result sys_recvmsg(int fd, void *message, int flags) {
	return sys_call3(__NR_recvmsg, fd, (long)message, flags);
}
static inline sys_result sys_mremap(uint64_t old, uint64_t old_length, uint64_t length, int flags, uint64_t at) {
	return sys_call5(__NR_mremap, (long)old, (long)old_length, (long)length, flags, (long)at);
}
static inline sys_result sys_execve(const char *path, const char *const *argv, const char *const *envp) {
	return sys_call3(__NR_execve, (long)path, (long)argv, (long)envp);
}
static inline sys_result sys_chdir(const char *path) {
	return sys_call1(__NR_chdir, (long)path);
}
static inline sys_result sys_close_range(unsigned first, unsigned last, unsigned flags) {
	return sys_call3(__NR_close_range, first, last, flags);
}
static inline sys_result sys_dup2(int fd, int target) {
	return sys_call2(__NR_dup2, fd, target);
}
static inline sys_result sys_sigaltstack(const void *stack, void *old) {
	return sys_call2(__NR_sigaltstack, (long)stack, (long)old);
}
static inline sys_result sys_prlimit64(int pid, int resource, const void *limit, void *old) {
	return sys_call4(__NR_prlimit64, pid, resource, (long)limit, (long)old);
}
static inline sys_result sys_setitimer(int which, const void *timer, void *old) {
	return sys_call3(__NR_setitimer, which, (long)timer, (long)old);
}
static inline __attribute__((noreturn)) void sys_exit_group(int code) {
	for (;;)
		sys_call1(__NR_exit_group, code);
}

/* Freestanding byte loops. The build passes -fno-builtin and
 * -fno-tree-loop-distribute-patterns so these stay loops instead of becoming
 * calls to libc's memset/memcpy, which are gone once the child has cleaned up. */
static inline void bytes_zero(void *dst, size_t n) {
	volatile unsigned char *d = dst;
	while (n--)
		*d++ = 0;
}

static inline void bytes_copy(void *dst, const void *src, size_t n) {
	volatile unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
}

#endif
