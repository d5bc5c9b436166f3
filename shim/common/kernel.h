/*
 * kernel.h — the kernel's own definitions that freestanding code needs, as
 * the system calls take them on x86-64 (not glibc's versions of the same
 * structures, which differ: glibc's sigset_t is 128 bytes, its sigaction
 * has another layout). The one place each is defined: every fault handler
 * and the loader include this rather than spelling them out again.
 */
#ifndef FAULTLINE_KERNEL_H
#define FAULTLINE_KERNEL_H

#include <stdint.h>

#include "common/sys.h"

#define STDERR_FD 2

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

/* Put sig back to its default action (no handler, no flags, no mask; SIG_DFL
 * needs no restorer). A fault handler that steps aside calls it, then
 * returns: the faulting instruction runs again and the kernel delivers the
 * same signal with the default action. */
static inline sys_result restore_default(int sig) {
	struct kernel_sigaction dfl = { HANDLER_DEFAULT, 0, 0, 0 };
	return sys_rt_sigaction(sig, &dfl, 0, KERNEL_SIGSET_BYTES);
}

/* The x86 page-fault error code, which the kernel passes on in the signal
 * context's err field (REG_ERR) for faults at user addresses (the names of
 * arch/x86/include/asm/trap_pf.h): the access was a write, or an
 * instruction fetch. */
#define X86_PF_WRITE (1ull << 1)
#define X86_PF_INSTR (1ull << 4)

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
#define NS_PER_SECOND 1000000000ll

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

/* Sockets: sendmsg/recvmsg's message header and an ancillary data header
 * (struct msghdr, struct cmsghdr, struct iovec), and the flags used. */
struct kernel_iovec {
	void *base;
	uint64_t length;
};

struct kernel_msghdr {
	void *name;
	uint32_t name_length;
	uint32_t pad;
	struct kernel_iovec *iov;
	uint64_t iov_count;
	void *control;
	uint64_t control_length;
	int32_t flags;
	int32_t pad2;
};

struct kernel_cmsghdr {
	uint64_t length;
	int32_t level;
	int32_t type;
};

/* capget's header and data (linux/capability.h), version 3: two words of
 * each set, capabilities 0-31 and 32-63. */
struct capability_header {
	uint32_t version;
	int32_t pid;
};
struct capability_data {
	uint32_t effective;
	uint32_t permitted;
	uint32_t inheritable;
};
#define CAPABILITY_VERSION_3 0x20080522
#define CAPABILITY_WORDS 2

#define KERNEL_SOL_SOCKET 1
#define KERNEL_SCM_RIGHTS 1
/* Do not raise SIGPIPE when the other end is gone; return EPIPE. */
#define KERNEL_MSG_NOSIGNAL 0x4000
/* Received descriptors come close-on-exec. */
#define KERNEL_MSG_CMSG_CLOEXEC 0x40000000

/* An ELF file's header and program headers (Elf64_Ehdr, Elf64_Phdr), for
 * the loader reading its own. */
struct elf_header {
	unsigned char ident[16];
	uint16_t type;
	uint16_t machine;
	uint32_t version;
	uint64_t entry;
	uint64_t program_header_offset;
	uint64_t section_header_offset;
	uint32_t flags;
	uint16_t header_size;
	uint16_t program_header_size;
	uint16_t program_header_count;
	uint16_t section_header_size;
	uint16_t section_header_count;
	uint16_t section_names_index;
};

struct elf_program_header {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t virtual_address;
	uint64_t physical_address;
	uint64_t file_size;
	uint64_t memory_size;
	uint64_t align;
};

#define ELF_PT_LOAD 1
#define ELF_PF_X 1
#define ELF_PF_W 2
#define ELF_PF_R 4

#endif
