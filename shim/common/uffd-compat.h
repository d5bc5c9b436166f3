/*
 * uffd-compat.h — userfaultfd definitions newer than some installed kernel
 * headers (UFFDIO_POISON arrived in Linux 6.6). Values from the kernel's
 * include/uapi/linux/userfaultfd.h; the kernel refuses what it does not know,
 * and the callers fall back.
 */
#ifndef FAULTLINE_UFFD_COMPAT_H
#define FAULTLINE_UFFD_COMPAT_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif

#ifndef UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#endif
