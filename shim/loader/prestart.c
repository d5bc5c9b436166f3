/*
 * prestart.c — loaders started ahead of need (Bun's side; libc allowed).
 *
 * Spawning the loader (vfork, execve, the loader's own setup) is most of
 * what a launch costs beyond the program's own run. After a launch with the
 * plain hand-over (standard input, output and error; no signal ignored),
 * the library starts the next launch's loader at once, on a pool thread so
 * Bun's JavaScript thread never waits in vfork. The next launch takes it if
 * it would have spawned the same one: Bun's process state (process_state)
 * is what it was, and each handed descriptor is the same open file
 * (kcmp). Otherwise the loader is retired, as is one nobody takes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "loader/spawn.h"
#include "common/threads.h"

/* Descriptors a prestarted loader may be given: the plain hand-over's. */
#define PRESTART_DESCRIPTORS 3

/* FNV-1a over n bytes, for sets too long to compare word by word. */
#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull
static uint64_t fnv(const void *bytes, size_t n) {
	uint64_t h = FNV_OFFSET;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const unsigned char *)bytes)[i]) * FNV_PRIME;
	return h;
}

/* The umask, from /proc (umask(2) can only read it by changing it, which
 * another of Bun's threads could see). */
static int64_t current_umask(void) {
	char text[4096];
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof text - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	text[n] = 0;
	const char *line = strstr(text, "\nUmask:");
	return line ? strtol(line + strlen("\nUmask:"), NULL, 8) : -ENOENT;
}

#define STATE_LIMITS RLIM_NLIMITS

/*
 * The state of Bun's process (and of the calling thread) a spawned loader (and so the program) inherits and
 * JavaScript or a library could change between two launches: umask, user
 * and group IDs, supplementary groups, resource limits, nice value,
 * personality, no_new_privs, securebits, timer slack, seccomp mode,
 * capabilities, CPU affinity, working directory. Written as words to out
 * (room for FL_PROCESS_STATE_WORDS); returns the count, or a negative
 * errno when a part could not be read.
 */
#define FL_PROCESS_STATE_WORDS (1 + 6 + 2 + 2 * STATE_LIMITS + 6 + 6 + 2 + 2)
static int64_t process_state(uint64_t *out) {
	uint64_t *w = out;
	int64_t mask = current_umask();
	if (mask < 0)
		return mask;
	*w++ = (uint64_t)mask;
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0)
		return -errno;
	*w++ = ruid, *w++ = euid, *w++ = suid, *w++ = rgid, *w++ = egid, *w++ = sgid;
	int count = getgroups(0, NULL);
	gid_t *groups = count >= 0 ? malloc(((size_t)count + 1) * sizeof *groups) : NULL;
	if (!groups)
		return count < 0 ? -errno : -ENOMEM;
	int listed = getgroups(count, groups);
	int e = errno;
	uint64_t hash = listed >= 0 ? fnv(groups, (size_t)listed * sizeof *groups) : 0;
	free(groups);
	if (listed < 0)
		return -e;
	*w++ = (uint64_t)listed;
	*w++ = hash;
	for (int r = 0; r < STATE_LIMITS; r++) {
		struct rlimit limit;
		if (getrlimit(r, &limit) != 0)
			return -errno;
		*w++ = limit.rlim_cur, *w++ = limit.rlim_max;
	}
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	if (nice == -1 && errno != 0)
		return -errno;
	*w++ = (uint64_t)(int64_t)nice;
	int persona = personality(0xffffffff);
	if (persona < 0)
		return -errno;
	*w++ = (uint64_t)persona;
	int values[] = { prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), prctl(PR_GET_SECUREBITS, 0, 0, 0, 0),
			 prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), prctl(PR_GET_SECCOMP, 0, 0, 0, 0) };
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		if (values[i] < 0)
			return -errno;
		*w++ = (uint64_t)values[i];
	}
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &header, caps) != 0)
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		*w++ = caps[i].effective, *w++ = caps[i].permitted, *w++ = caps[i].inheritable;
	cpu_set_t cpus;
	if (sched_getaffinity(0, sizeof cpus, &cpus) != 0)
		return -errno;
	*w++ = fnv(&cpus, sizeof cpus);
	*w++ = 0;
	struct stat here;
	if (stat(".", &here) != 0)
		return -errno;
	*w++ = here.st_dev, *w++ = here.st_ino;
	return w - out;
}


struct prestart {
	struct fl_spawn_request request;
	struct fl_spawn_descriptor descriptors[PRESTART_DESCRIPTORS];
	char *loader_path;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	int done;
	int64_t result; /* fl_spawn_loader's */
	/* The spawning thread's process state as the loader inherited it
	 * (state_words < 0: unreadable, never taken). */
	uint64_t state[FL_PROCESS_STATE_WORDS];
	int64_t state_words;
};

static void *spawn_ahead(void *arg) {
	struct prestart *p = arg;
	/* Some of it is the thread's own (nice, affinity, capabilities, timer
	 * slack): read on this thread, the one that spawns. */
	p->state_words = process_state(p->state);
	int64_t result = fl_spawn_loader(&p->request);
	pthread_mutex_lock(&p->lock);
	p->result = result;
	p->done = 1;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/*
 * Start a loader for `request` on a pool thread. The request's pointers
 * need live only until this returns (they are copied); no working
 * directory may be asked for, at most PRESTART_DESCRIPTORS descriptors.
 * Returns a handle for fl_prestarted_take or fl_prestarted_retire (the
 * only ways it is freed), or a negative errno.
 */
FL_EXPORT int64_t fl_prestart_loader(const struct fl_spawn_request *request) {
	if (request->cwd || request->descriptor_count > PRESTART_DESCRIPTORS)
		return -EINVAL;
	struct prestart *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->loader_path = strdup(request->loader);
	if (!p->loader_path) {
		free(p);
		return -ENOMEM;
	}
	p->request = *request;
	p->request.loader = p->loader_path;
	memcpy(p->descriptors, request->descriptors, request->descriptor_count * sizeof *p->descriptors);
	p->request.descriptors = p->descriptors;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->ready, NULL);
	int e = fl_run_pooled(spawn_ahead, p);
	if (e != 0) {
		free(p->loader_path);
		free(p);
		return -e;
	}
	return (int64_t)(uintptr_t)p;
}

static int64_t finished_spawn(struct prestart *p) {
	pthread_mutex_lock(&p->lock);
	while (!p->done)
		pthread_cond_wait(&p->ready, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return p->result;
}

static void free_prestart(struct prestart *p) {
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->ready);
	free(p->loader_path);
	free(p);
}

/* The program-to-be's pid from the loader's hello, or a negative errno. */
static int64_t receive_hello(int control) {
	struct fl_hello hello;
	ssize_t n;
	do
		n = recv(control, &hello, sizeof hello, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof hello || hello.magic != FL_HELLO_MAGIC)
		return -EPROTO;
	return (int64_t)hello.pid;
}

/*
 * Take a prestarted loader (freeing the handle): out[0] the loader's pid,
 * out[1] Bun's end of its control socket, out[2] the program-to-be's pid
 * (its hello has been read). Returns 1 when the calling thread would spawn
 * the same loader now (the same process state as the thread that spawned
 * it, and each descriptor it was given still the same open file here), 0
 * when not, or when that cannot be told (the caller then abandons it with
 * out's values), or a negative errno when the spawn itself failed (nothing
 * to abandon).
 */
FL_EXPORT int64_t fl_prestarted_take(int64_t handle, int64_t *out) {
	struct prestart *p = (struct prestart *)(uintptr_t)handle;
	int64_t result = finished_spawn(p);
	if (result < 0) {
		free_prestart(p);
		return result;
	}
	out[0] = p->request.pid;
	out[1] = p->request.control;
	out[2] = -1;
	int64_t program = receive_hello((int)p->request.control);
	uint64_t now[FL_PROCESS_STATE_WORDS];
	int64_t now_words = process_state(now);
	int same = program > 0 && p->state_words > 0 && now_words == p->state_words &&
		   memcmp(now, p->state, (size_t)now_words * sizeof *now) == 0;
	if (program > 0)
		out[2] = program;
	for (uint64_t i = 0; same && i < p->request.descriptor_count; i++) {
		int fd = (int)p->descriptors[i].source;
		long r = syscall(SYS_kcmp, (long)getpid(), (long)program, KCMP_FILE, (long)fd,
				 (long)p->descriptors[i].target);
		same = r == 0;
	}
	free_prestart(p);
	return same;
}

static void *retire(void *arg) {
	struct prestart *p = arg;
	if (finished_spawn(p) >= 0)
		(void)fl_abandon_loader(p->request.pid, -1, p->request.control);
	free_prestart(p);
	return NULL;
}

/* Nobody will take it: hang up on the loader and reap it, on a pool
 * thread. Returns 0 or a negative errno (then it is retired here). */
FL_EXPORT int64_t fl_prestarted_retire(int64_t handle) {
	struct prestart *p = (struct prestart *)(uintptr_t)handle;
	int e = fl_run_pooled(retire, p);
	if (e != 0)
		retire(p);
	return -e;
}

