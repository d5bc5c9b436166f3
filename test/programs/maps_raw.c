/*
 * maps_raw.c — copies /proc/self/maps to stdout, with no C library (built
 * -nostdlib, static or static-pie): nothing runs before it that maps,
 * unmaps or protects anything, so what it prints is what was mapped for it
 * at start (pages it has touched since aside). Exits 0, or 1 when a system
 * call fails. The path and the buffer are on the stack, which every pager
 * maps at start: under SIGSEGV paging a system call cannot fault a page in.
 */
#include <asm/unistd.h>

#define O_RDONLY 0
#define STDOUT 1

static long system_call3(long number, long a, long b, long c) {
	long result;
	__asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return result;
}

#define BUFFER_BYTES 4096

static long copy_maps(void) {
	char buffer[BUFFER_BYTES];
	volatile char path[] = { '/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 'm', 'a', 'p', 's', 0 };
	long fd = system_call3(__NR_open, (long)path, O_RDONLY, 0);
	if (fd < 0)
		return 1;
	for (;;) {
		long n = system_call3(__NR_read, fd, (long)buffer, sizeof buffer);
		if (n == 0)
			return 0;
		if (n < 0)
			return 1;
		for (long written = 0; written < n;) {
			long w = system_call3(__NR_write, STDOUT, (long)(buffer + written), n - written);
			if (w <= 0)
				return 1;
			written += w;
		}
	}
}

void __attribute__((noreturn, used)) maps_raw_main(void) {
	system_call3(__NR_exit_group, copy_maps(), 0, 0);
	__builtin_unreachable();
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call maps_raw_main\n"
	"	hlt\n");
