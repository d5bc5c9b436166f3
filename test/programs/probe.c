/*
 * probe.c - prints the program's view of how it was started, one
 * key=value line each, so a native run can be compared with a loaded run:
 *
 *   argc / argv[i]             command-line arguments
 *   AT_* values                selected auxiliary-vector entries (getauxval)
 *   phdr_ok                    AT_PHDR/AT_PHNUM/AT_PHENT describe this
 *                              program's program headers
 *   entry_ok                   AT_ENTRY == &_start
 *   random_ok                  AT_RANDOM points at 16 readable, non-zero bytes
 *   base_ok                    AT_BASE is 0 for a static program, otherwise
 *                              the start of the ld-linux mapping
 *   auxv_order                 auxv entry types in stack order (after envp)
 *   fds                        open file descriptors
 *   sig_ignored / sig_caught   signals whose disposition is SIG_IGN / a handler
 *   sig_blocked                blocked signals
 *   comm, cmdline, exe         what /proc says about the process
 *   stack_mapping              is the mapping holding a local named [stack]
 *   rlimit_stack               soft RLIMIT_STACK
 *   rlimit_nofile              soft/hard RLIMIT_NOFILE
 *   fds_cloexec                open descriptors marked close-on-exec
 *   altstack                   the alternate signal stack: disabled or on
 *   sig_pending                pending signals
 *   itimer_real/virtual/prof   off, or the seconds left (rounded up) and
 *                              the interval
 *   umask, nice, pdeathsig, dumpable, no_new_privs, personality, cpus,
 *   sched_policy, timerslack_ns, cwd   more of what execve keeps or resets
 *
 * Lists are comma-separated and may be empty.  Exits 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define MAX_AUXV 128

extern char **environ;
extern char _start[];
/* Defined by the GNU linker: the ELF header, when it is part of a loaded
 * segment (true for all four build variants used by the tests). */
extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

static void die(const char *what)
{
    printf("probe: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

static const char *yesno(int b)
{
    return b ? "yes" : "no";
}

/* Is [p, p+len) readable?  write() to a pipe fails with EFAULT if not. */
static int readable(const void *p, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    ssize_t n = write(fds[1], p, len);
    close(fds[0]);
    close(fds[1]);
    return n == (ssize_t)len;
}

/* Reads a whole (small) file into buf, NUL-terminated; returns its length. */
static size_t read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(path);
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die(path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return len;
}

static int plausible_ptype(uint32_t t)
{
    return t <= PT_TLS || (t >= PT_LOOS && t <= PT_HIPROC);
}

static int check_phdr(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM);
    unsigned long phent = getauxval(AT_PHENT);
    const ElfW(Ehdr) *eh = &__ehdr_start;

    if (!ph || phent != sizeof(ElfW(Phdr)) || phnum == 0 || phnum >= PN_XNUM)
        return 0;
    if (!readable(ph, phnum * phent))
        return 0;

    /* The ELF header of this program must describe the same table. */
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_phnum != phnum || eh->e_phentsize != phent ||
        (const char *)eh + eh->e_phoff != (const char *)ph)
        return 0;

    /* Load bias from the segment that maps file offset 0 (the ELF header). */
    int have_load = 0, have_bias = 0;
    uintptr_t bias = 0;
    for (unsigned long i = 0; i < phnum; i++) {
        if (!plausible_ptype(ph[i].p_type))
            return 0;
        if (ph[i].p_type != PT_LOAD)
            continue;
        if (ph[i].p_filesz > ph[i].p_memsz)
            return 0;
        if (ph[i].p_align & (ph[i].p_align - 1))
            return 0;
        if (!have_load && ph[i].p_offset == 0) {
            bias = (uintptr_t)eh - ph[i].p_vaddr;
            have_bias = 1;
        }
        have_load = 1;
    }
    if (!have_load || !have_bias)
        return 0;

    int in_load = 0;
    uintptr_t lo = (uintptr_t)ph, hi = lo + phnum * phent;
    for (unsigned long i = 0; i < phnum; i++) {
        uintptr_t start = bias + ph[i].p_vaddr;
        if (ph[i].p_type == PT_PHDR && start != lo)
            return 0;
        if (ph[i].p_type == PT_LOAD && lo >= start &&
            hi <= start + ph[i].p_filesz)
            in_load = 1;
    }
    return in_load;
}

static int has_interp(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long phnum = getauxval(AT_PHNUM);
    for (unsigned long i = 0; ph && i < phnum; i++)
        if (ph[i].p_type == PT_INTERP)
            return 1;
    return 0;
}

/* Lowest start address of a mapping whose path contains "ld-linux". */
static uintptr_t ld_linux_start(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        die("fopen /proc/self/maps");
    char line[4096];
    uintptr_t best = 0;
    while (fgets(line, sizeof line, f)) {
        const char *path = strchr(line, '/');
        if (!path || !strstr(path, "ld-linux"))
            continue;
        uintptr_t start = (uintptr_t)strtoull(line, NULL, 16);
        if (best == 0 || start < best)
            best = start;
    }
    fclose(f);
    return best;
}

/* Is the mapping containing addr named [stack]? */
static int in_stack_mapping(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        die("fopen /proc/self/maps");
    char line[4096];
    int named = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        uintptr_t start = (uintptr_t)strtoull(p, &p, 16);
        if (*p != '-')
            continue;
        uintptr_t end = (uintptr_t)strtoull(p + 1, NULL, 16);
        if (addr >= start && addr < end) {
            named = strstr(line, "[stack]") != NULL;
            break;
        }
    }
    fclose(f);
    return named;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void print_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        die("opendir /proc/self/fd");
    int self = dirfd(d);
    int fds[1024];
    size_t n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd != self && n < sizeof fds / sizeof fds[0])
            fds[n++] = fd;
    }
    if (errno != 0)
        die("readdir /proc/self/fd");
    closedir(d);
    qsort(fds, n, sizeof fds[0], cmp_int);
    printf("fds=");
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", fds[i]);
    printf("\n");
}

/* Descriptors marked close-on-exec; execve leaves none of them open. */
static void print_cloexec_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        die("opendir /proc/self/fd");
    int self = dirfd(d);
    int fds[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        int flags = fcntl(fd, F_GETFD);
        if (fd != self && flags >= 0 && (flags & FD_CLOEXEC) && n < sizeof fds / sizeof fds[0])
            fds[n++] = fd;
    }
    closedir(d);
    qsort(fds, n, sizeof fds[0], cmp_int);
    printf("fds_cloexec=");
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", fds[i]);
    printf("\n");
}

static void print_timer(const char *name, int which)
{
    struct itimerval t;
    if (getitimer(which, &t) != 0)
        die("getitimer");
    if (t.it_value.tv_sec == 0 && t.it_value.tv_usec == 0) {
        printf("%s=off\n", name);
        return;
    }
    long left = (long)t.it_value.tv_sec + (t.it_value.tv_usec > 0);
    printf("%s=%lds interval=%lds\n", name, left, (long)t.it_interval.tv_sec);
}

static void print_process_state(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0)
        die("sigaltstack");
    printf("altstack=%s\n", (ss.ss_flags & SS_DISABLE) ? "disabled" : "on");

    sigset_t pending;
    if (sigpending(&pending) != 0)
        die("sigpending");
    printf("sig_pending=");
    for (int sig = 1, first = 1; sig <= 64; sig++)
        if (sigismember(&pending, sig) == 1) {
            printf("%s%d", first ? "" : ",", sig);
            first = 0;
        }
    printf("\n");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit");
    printf("rlimit_nofile=%llu/%llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);

    print_timer("itimer_real", ITIMER_REAL);
    print_timer("itimer_virtual", ITIMER_VIRTUAL);
    print_timer("itimer_prof", ITIMER_PROF);

    mode_t mask = umask(0);
    umask(mask);
    printf("umask=%03o\n", (unsigned)mask);
    errno = 0;
    int nice_value = getpriority(PRIO_PROCESS, 0);
    if (errno != 0)
        die("getpriority");
    printf("nice=%d\n", nice_value);
    int pdeath = 0;
    if (prctl(PR_GET_PDEATHSIG, &pdeath) != 0)
        die("prctl PR_GET_PDEATHSIG");
    printf("pdeathsig=%d\n", pdeath);
    printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE));
    printf("no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    printf("personality=%#x\n", (unsigned)personality(0xffffffff));
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) != 0)
        die("sched_getaffinity");
    printf("cpus=%d\n", CPU_COUNT(&cpus));
    printf("sched_policy=%d\n", sched_getscheduler(0));
    printf("timerslack_ns=%d\n", prctl(PR_GET_TIMERSLACK));
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        die("getcwd");
    printf("cwd=%s\n", cwd);
}

static void print_signals(void)
{
    char ign[512] = "", caught[512] = "", blocked[512] = "";
    size_t li = 0, lc = 0, lb = 0;
    sigset_t mask;

    if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0)
        die("sigprocmask");

    for (int sig = 1; sig <= 64; sig++) {
        struct sigaction sa;
        /* glibc refuses its internal signals (32, 33) with EINVAL. */
        if (sigaction(sig, NULL, &sa) == 0) {
            if (sa.sa_handler == SIG_IGN)
                li += (size_t)snprintf(ign + li, sizeof ign - li, "%s%d",
                                       li ? "," : "", sig);
            else if (sa.sa_handler != SIG_DFL)
                lc += (size_t)snprintf(caught + lc, sizeof caught - lc,
                                       "%s%d", lc ? "," : "", sig);
        } else if (errno != EINVAL) {
            die("sigaction");
        }
        if (sigismember(&mask, sig) == 1)
            lb += (size_t)snprintf(blocked + lb, sizeof blocked - lb, "%s%d",
                                   lb ? "," : "", sig);
    }
    printf("sig_ignored=%s\nsig_caught=%s\nsig_blocked=%s\n",
           ign, caught, blocked);
}

int main(int argc, char **argv)
{
    /* Walk the initial stack first, before anything can touch environ:
     * envp[] ends with NULL and the auxiliary vector follows it. */
    unsigned long auxv_types[MAX_AUXV];
    size_t nauxv = 0;
    {
        char **p = environ;
        while (*p)
            p++;
        const ElfW(auxv_t) *av = (const ElfW(auxv_t) *)(p + 1);
        for (; av->a_type != AT_NULL && nauxv < MAX_AUXV; av++)
            auxv_types[nauxv++] = av->a_type;
    }

    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    static const struct { const char *name; unsigned long type; } aux[] = {
        { "AT_PHENT", AT_PHENT },     { "AT_PHNUM", AT_PHNUM },
        { "AT_PAGESZ", AT_PAGESZ },   { "AT_CLKTCK", AT_CLKTCK },
        { "AT_HWCAP", AT_HWCAP },     { "AT_HWCAP2", AT_HWCAP2 },
        { "AT_UID", AT_UID },         { "AT_EUID", AT_EUID },
        { "AT_GID", AT_GID },         { "AT_EGID", AT_EGID },
        { "AT_SECURE", AT_SECURE },   { "AT_FLAGS", AT_FLAGS },
        { "AT_MINSIGSTKSZ", AT_MINSIGSTKSZ },
    };
    for (size_t i = 0; i < sizeof aux / sizeof aux[0]; i++)
        printf("%s=%lu\n", aux[i].name, getauxval(aux[i].type));

    const char *platform = (const char *)getauxval(AT_PLATFORM);
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("AT_PLATFORM=%s\n", platform ? platform : "(none)");
    printf("AT_EXECFN=%s\n", execfn ? execfn : "(none)");

    printf("phdr_ok=%s\n", yesno(check_phdr()));
    printf("entry_ok=%s\n",
           yesno(getauxval(AT_ENTRY) == (unsigned long)(uintptr_t)_start));

    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    int random_ok = 0;
    if (rnd && readable(rnd, 16))
        for (int i = 0; i < 16; i++)
            random_ok |= rnd[i] != 0;
    printf("random_ok=%s\n", yesno(random_ok));

    unsigned long base = getauxval(AT_BASE);
    int base_ok = has_interp() ? base != 0 && base == ld_linux_start()
                               : base == 0;
    printf("base_ok=%s\n", yesno(base_ok));

    printf("auxv_order=");
    for (size_t i = 0; i < nauxv; i++)
        printf("%s%lu", i ? "," : "", auxv_types[i]);
    printf("\n");

    print_fds();
    print_cloexec_fds();
    print_signals();
    print_process_state();

    char buf[8192];
    size_t len = read_file("/proc/self/comm", buf, sizeof buf);
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    printf("comm=%s\n", buf);

    /* cmdline: arguments separated by NULs; drop the final terminator and
     * show the separators as spaces. */
    len = read_file("/proc/self/cmdline", buf, sizeof buf);
    if (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
    printf("cmdline=%s\n", buf);

    volatile int local = 0;
    printf("stack_mapping=%s\n", yesno(in_stack_mapping((uintptr_t)&local)));

    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0)
        die("readlink /proc/self/exe");
    buf[n] = '\0';
    printf("exe=%s\n", buf);

    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) != 0)
        die("getrlimit");
    if (rl.rlim_cur == RLIM_INFINITY)
        printf("rlimit_stack=unlimited\n");
    else
        printf("rlimit_stack=%llu\n", (unsigned long long)rl.rlim_cur);

    return 0;
}
