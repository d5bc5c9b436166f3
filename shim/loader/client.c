/*
 * client.c — the loader as the installed command's client: `faultline
 * apager|dpager|hpager [options] PROGRAM [ARGS...]` as the caller's shell
 * starts it (bin/faultline execs it). It asks the user's faultline service,
 * a Bun process that stays warm between commands, for the plan, and then
 * goes on as the loader does (loader.c): this very process becomes the
 * program, so its pid, its terminal, its job control and its exit status
 * are the ones the shell knows, with nothing in between.
 *
 *   connect_service   the service's socket, in the user's own directory;
 *                     a service started first when there is none
 *   say_client_hello  this build's identity, the caller's standard error
 *                     (the service writes notes and mapping lines there),
 *                     and what the plan depends on that only this process
 *                     knows cheaply: its personality, stack limit,
 *                     capabilities and auxiliary vector; the service reads
 *                     argv, the environment and the working directory from
 *                     /proc, and the credentials from SO_PEERCRED
 *   fl_client_again   the loader run again through /proc/self/exe by a
 *                     program the service or a Bun pager ran
 *
 * Anything that keeps the service from answering (no service can start,
 * a directory that is not the user's alone, a service that hangs up) ends
 * in the plain path: the command through Bun, as before the service
 * existed, with one note line. Freestanding, like the rest of the loader.
 */
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/sched.h>
#include <linux/stat.h>
#include <signal.h>

#include "common/kernel.h"
#include "common/sys.h"
#include "launch.h"
#include "loader/client.h"

/* The package's root, where bin/faultline is, as the shim was built
 * (src/shim/shim-build.ts): where the loader is not the package's own
 * (package_root). */
#ifndef FL_PACKAGE_ROOT
#error "FL_PACKAGE_ROOT must name the package's root"
#endif
/* The Bun that built the shim, which the service runs on (bin/faultline
 * finds one when it is gone). */
#ifndef FL_BUN_PATH
#error "FL_BUN_PATH must name the Bun that built the shim"
#endif
/* The address space Bun needs (src/loader/contract.ts
 * PAGER_ADDRESS_SPACE_KIB): a service cannot start under a hard limit
 * below it. */
#ifndef FL_SERVICE_ADDRESS_SPACE_KIB
#error "FL_SERVICE_ADDRESS_SPACE_KIB must say what Bun needs"
#endif
#define RLIMIT_AS_RESOURCE 9
#define KIB 1024ull

#define AF_UNIX_FAMILY 1
#define SOCK_SEQPACKET_TYPE 5
#define SOCK_CLOEXEC_FLAG 02000000
#define SOCKET_PATH_BYTES 108
#define SERVICE_DIRECTORY "/faultline"
#define TMP_SERVICE_PREFIX "/tmp/faultline-"
#define SOCKET_NAME "/service.sock"
/* Mode bits that let anybody but the owner in. */
#define GROUP_AND_OTHER_BITS 077
/* How long a starting service may take to say it listens: Bun's own start,
 * and the first build of the command's bundle on a new install. */
#define SERVICE_START_SECONDS 60
#define POLLIN_EVENT 1
#define RLIMIT_COUNT 16
/* The word that sends bin/faultline down the plain path. */
#define PLAIN_MARK "--no-service"
#define MAX_PLAIN_ARGS 4096
/* personality(2)'s argument that only asks. */
#define PERSONALITY_QUERY 0xffffffff
#define RLIMIT_STACK_RESOURCE 3
#define AT_NULL_ENTRY 0

struct unix_address {
	uint16_t family;
	char path[SOCKET_PATH_BYTES];
};

struct kernel_stat {
	uint64_t device;
	uint64_t inode;
	uint64_t links;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t pad0;
	uint64_t rdev;
	int64_t size;
	int64_t block_size;
	int64_t blocks;
	uint64_t access_seconds, access_nanos;
	uint64_t modify_seconds, modify_nanos;
	uint64_t change_seconds, change_nanos;
	int64_t unused[3];
};

struct kernel_pollfd {
	int32_t fd;
	int16_t events;
	int16_t revents;
};

/* Longest path the kernel gives back (PATH_MAX). */
#define PATH_BYTES 4096
/* Where the package's loader is, below its root. */
#define LOADER_IN_PACKAGE "/shim/build/faultline-loader"

static const char *const *client_argv;
static const char *const *client_envp;
static uint64_t client_argc;
/* The auxiliary vector the kernel gave this process. */
static const uint64_t *client_auxv;
/* Not a command: the loader run again through /proc/self/exe by a program
 * the service ran (fl_client_again). */
static int running_again;
static struct unix_address service_address;
static char service_directory[SOCKET_PATH_BYTES];

static uint64_t text_length(const char *s) {
	uint64_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* Append s at *at in buffer (of capacity bytes), keeping a NUL; 0 when it
 * does not fit. */
static int append(char *buffer, uint64_t capacity, uint64_t *at, const char *s) {
	uint64_t n = text_length(s);
	if (*at + n + 1 > capacity)
		return 0;
	bytes_copy(buffer + *at, s, n);
	*at += n;
	buffer[*at] = 0;
	return 1;
}

static const char *environment_value(const char *name) {
	uint64_t n = text_length(name);
	for (const char *const *e = client_envp; *e; e++) {
		const char *entry = *e;
		uint64_t i = 0;
		while (i < n && entry[i] == name[i])
			i++;
		if (i == n && entry[n] == '=')
			return entry + n + 1;
	}
	return 0;
}

static void decimal(uint64_t value, char *out) {
	char digits[24];
	int n = 0;
	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	for (int i = 0; i < n; i++)
		out[i] = digits[n - 1 - i];
	out[n] = 0;
}

/* Whether path is a directory of this user's (a runtime directory handed
 * down from another user, by su, is not). */
static int owned_directory(const char *path) {
	struct kernel_stat st;
	return sys_call4(__NR_newfstatat, AT_FDCWD, (long)path, (long)&st, 0) == 0 && (st.mode & S_IFMT) == S_IFDIR &&
	       st.uid == (uint32_t)sys_call0(__NR_getuid);
}

/* The user's service directory: $XDG_RUNTIME_DIR/faultline where the
 * session has one of the user's own, else /tmp/faultline-UID; and its
 * socket. 0 when the path is too long for a socket's address. */
static int service_paths(void) {
	uint64_t at = 0;
	const char *runtime = environment_value("XDG_RUNTIME_DIR");
	int fits;
	if (runtime && runtime[0] == '/' && owned_directory(runtime)) {
		fits = append(service_directory, sizeof service_directory, &at, runtime) &&
		       append(service_directory, sizeof service_directory, &at, SERVICE_DIRECTORY);
	} else {
		char uid[24];
		decimal((uint64_t)sys_call0(__NR_getuid), uid);
		fits = append(service_directory, sizeof service_directory, &at, TMP_SERVICE_PREFIX) &&
		       append(service_directory, sizeof service_directory, &at, uid);
	}
	uint64_t path_at = 0;
	return fits && append(service_address.path, sizeof service_address.path, &path_at, service_directory) &&
	       append(service_address.path, sizeof service_address.path, &path_at, SOCKET_NAME);
}

static char package_root_text[PATH_BYTES];
static char package_file[PATH_BYTES];

/* The package's root: above this loader when it is the package's own
 * (ROOT/shim/build/faultline-loader, wherever the package is now: a copy
 * of it, or one moved); else the root the shim was built for (a loader
 * built into the user's cache for a read-only install). */
static const char *package_root(void) {
	if (package_root_text[0])
		return package_root_text;
	char exe[PATH_BYTES];
	sys_result n = sys_call3(__NR_readlink, (long)"/proc/self/exe", (long)exe, sizeof exe - 1);
	uint64_t suffix = sizeof LOADER_IN_PACKAGE - 1;
	uint64_t at = 0;
	if (n > (sys_result)suffix) {
		exe[n] = 0;
		const char *tail = exe + n - suffix;
		uint64_t i = 0;
		while (i < suffix && tail[i] == LOADER_IN_PACKAGE[i])
			i++;
		if (i == suffix) {
			exe[n - suffix] = 0;
			if (append(package_root_text, sizeof package_root_text, &at, exe))
				return package_root_text;
		}
	}
	at = 0;
	package_root_text[0] = 0;
	(void)append(package_root_text, sizeof package_root_text, &at, FL_PACKAGE_ROOT);
	return package_root_text;
}

/* A file of the package's, by its path below the root. */
static const char *in_package(const char *below) {
	uint64_t at = 0;
	package_file[0] = 0;
	if (!append(package_file, sizeof package_file, &at, package_root()) || !append(package_file, sizeof package_file, &at, below))
		return FL_PACKAGE_ROOT "/bin/faultline";
	return package_file;
}

static const char fallback_note[] = "faultline: note: the faultline service could not be reached; running through Bun\n";

/*
 * The plain path: bin/faultline with PLAIN_MARK before the command's own
 * words, which runs the command through Bun. Never returns; a shell that
 * cannot be started ends the command with the shells' "not found".
 */
__attribute__((noreturn)) void fl_client_plain(int say_why) {
	static const char *plain_argv[MAX_PLAIN_ARGS + 4];
	uint64_t n = 0;
	plain_argv[n++] = "sh";
	plain_argv[n++] = in_package("/bin/faultline");
	plain_argv[n++] = PLAIN_MARK;
	for (uint64_t i = 1; i < client_argc && n < MAX_PLAIN_ARGS + 3; i++)
		plain_argv[n++] = client_argv[i];
	plain_argv[n] = 0;
	if (say_why)
		(void)sys_write(STDERR_FD, fallback_note, sizeof fallback_note - 1);
	sys_result r = sys_execve("/bin/sh", plain_argv, client_envp);
	(void)r;
	sys_exit_group(FL_EXIT_NOT_FOUND);
}

/* Keep what the kernel gave this process (auxv: NULL where no hello is
 * said), and read the package's root while /proc/self/exe still names
 * this file. */
static void remember_process(uint64_t argc, const char *const *argv, const char *const *envp, const uint64_t *auxv) {
	(void)package_root();
	client_argc = argc;
	client_argv = argv;
	client_envp = envp;
	client_auxv = auxv;
}

/* `faultline` with anything but a pager's command (friendly, service,
 * --help): Bun's, down the plain path, with nothing said. */
__attribute__((noreturn)) void fl_client_other_command(uint64_t argc, const char *const *argv, const char *const *envp) {
	remember_process(argc, argv, envp, NULL);
	fl_client_plain(0);
}

/* The directory is this user's alone: a directory, owned by the user, that
 * nobody else may enter (another user's socket there could answer with a
 * plan of its own). ENOENT when it is not there yet. */
static sys_result directory_is_private(void) {
	struct kernel_stat st;
	sys_result r = sys_call4(__NR_newfstatat, AT_FDCWD, (long)service_directory, (long)&st, 0);
	if (r < 0)
		return r;
	if ((st.mode & S_IFMT) != S_IFDIR || st.uid != (uint32_t)sys_call0(__NR_getuid) || (st.mode & GROUP_AND_OTHER_BITS))
		return -EPERM;
	return 0;
}

static sys_result try_connect(void) {
	sys_result fd = sys_socket(AF_UNIX_FAMILY, SOCK_SEQPACKET_TYPE | SOCK_CLOEXEC_FLAG, 0);
	if (fd < 0)
		return fd;
	service_address.family = AF_UNIX_FAMILY;
	sys_result r = sys_connect((int)fd, &service_address, sizeof service_address);
	if (r < 0) {
		sys_close((int)fd);
		return r;
	}
	return fd;
}

/* Soft limits raised to the hard ones for the service: the first command's
 * caller may have asked its programs to live within less than Bun needs
 * (`ulimit -v`), which is the programs' limit, not the service's. */
static void lift_soft_limits(void) {
	for (int resource = 0; resource < RLIMIT_COUNT; resource++) {
		struct kernel_rlimit limit;
		if (sys_prlimit64(0, resource, 0, &limit) < 0 || limit.soft == limit.hard)
			continue;
		limit.soft = limit.hard;
		/* A limit that will not rise leaves Bun to fail at its start,
		 * which the waiting client sees as no service. */
		(void)sys_prlimit64(0, resource, &limit, 0);
	}
}

/*
 * In the grandchild that becomes the service: its own session (no
 * terminal, no job control signal of the caller's reaches it), the root
 * directory as its own (it holds no directory of the caller's busy, and
 * Bun reads no bunfig.toml of the caller's project), standard streams on
 * /dev/null, every signal at its default and none blocked, the
 * caller's limits lifted, nothing of the caller's open but the pipe it
 * says it is ready on. Then Bun runs `service run` from its bundle
 * (src/cli/command.ts), or bin/faultline finds a Bun to run it on.
 */
static __attribute__((noreturn)) void become_service(int ready) {
	char ready_number[24];
	decimal((uint64_t)ready, ready_number);
	char command[PATH_BYTES];
	uint64_t at = 0;
	if (!append(command, sizeof command, &at, package_root()) || !append(command, sizeof command, &at, "/src/cli/command.ts"))
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	const char *bun_argv[] = { "bun", command, "service", "run", "--ready-fd", ready_number, 0 };
	const char *argv[] = { "sh", in_package("/bin/faultline"), "service", "run", "--ready-fd", ready_number, 0 };
	if (sys_call0(__NR_setsid) < 0 || sys_chdir("/") < 0)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	sys_result null = sys_openat(AT_FDCWD, "/dev/null", O_RDWR, 0);
	if (null < 0)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	for (int fd = 0; fd <= STDERR_FD; fd++)
		if (null != fd && sys_dup2((int)null, fd) < 0)
			sys_exit_group(FL_EXIT_LOAD_FAILED);
	if (null > STDERR_FD && null != ready)
		sys_close((int)null);
	for (int sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		struct kernel_sigaction fresh = { .handler = HANDLER_DEFAULT };
		(void)sys_rt_sigaction(sig, &fresh, 0, KERNEL_SIGSET_BYTES);
	}
	uint64_t none = 0;
	if (sys_rt_sigprocmask(SIG_SETMASK, &none, 0, KERNEL_SIGSET_BYTES) < 0)
		sys_exit_group(FL_EXIT_LOAD_FAILED);
	lift_soft_limits();
	sys_execve(FL_BUN_PATH, bun_argv, client_envp);
	sys_execve("/bin/sh", argv, client_envp);
	sys_exit_group(FL_EXIT_NOT_FOUND);
}

/*
 * Start the user's service and wait until it listens: a child that starts
 * a grandchild in a session of its own and exits at once (so the service
 * is nobody's child of ours and outlives this command), which says it is
 * ready on a pipe, or closes it by dying. 1 when it said so.
 */
static int start_service(void) {
	int pipe_fds[2];
	if (sys_call2(__NR_pipe2, (long)pipe_fds, O_CLOEXEC) < 0)
		return 0;
	int ready_read = pipe_fds[0], ready_write = pipe_fds[1];
	sys_result child = sys_call5(__NR_clone, SIGCHLD, 0, 0, 0, 0);
	if (child == 0) {
		sys_result grandchild = sys_call5(__NR_clone, SIGCHLD, 0, 0, 0, 0);
		if (grandchild != 0)
			sys_exit_group(grandchild < 0 ? FL_EXIT_LOAD_FAILED : 0);
		sys_close(ready_read);
		/* Kept across the exec: the service writes its one byte there. */
		if (sys_fcntl(ready_write, F_SETFD, 0) < 0)
			sys_exit_group(FL_EXIT_LOAD_FAILED);
		become_service(ready_write);
	}
	sys_close(ready_write);
	if (child < 0) {
		sys_close(ready_read);
		return 0;
	}
	int status;
	while (sys_call4(__NR_wait4, child, (long)&status, 0, 0) == -EINTR)
		;
	struct kernel_pollfd poll = { .fd = ready_read, .events = POLLIN_EVENT };
	struct kernel_timespec limit = { .seconds = SERVICE_START_SECONDS, .nanoseconds = 0 };
	sys_result r;
	do
		r = sys_call5(__NR_ppoll, (long)&poll, 1, (long)&limit, 0, 0);
	while (r == -EINTR);
	char byte = 0;
	int ready = r > 0 && sys_read(ready_read, &byte, 1) == 1;
	sys_close(ready_read);
	return ready;
}

/* Whether a service started from here would have the address space Bun
 * needs (its soft limits are lifted to the hard ones). */
static int service_may_start(void) {
	struct kernel_rlimit limit;
	if (sys_prlimit64(0, RLIMIT_AS_RESOURCE, 0, &limit) < 0)
		return 1;
	return limit.hard / KIB >= FL_SERVICE_ADDRESS_SPACE_KIB;
}

/* A connection to the user's service, started first when none answers. */
static int connect_service(void) {
	if (!service_paths())
		fl_client_plain(1);
	sys_result r = directory_is_private();
	if (r < 0 && r != -ENOENT)
		fl_client_plain(1);
	sys_result fd = r == 0 ? try_connect() : -ENOENT;
	if (fd >= 0)
		return (int)fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED)
		fl_client_plain(1);
	/* Where Bun cannot start, the plain path says so in one line. */
	if (!service_may_start())
		fl_client_plain(0);
	if (!start_service() || directory_is_private() < 0)
		fl_client_plain(1);
	fd = try_connect();
	if (fd < 0)
		fl_client_plain(1);
	return (int)fd;
}

/* A service that hung up before it answered. */
__attribute__((noreturn)) void fl_client_unanswered(void) {
	if (running_again)
		fl_client_not_ours();
	fl_client_plain(1);
}

/* This build's identity: the loader's own file, as the kernel ran it. */
static int own_identity(struct fl_client_hello *hello) {
	struct kernel_stat st;
	if (sys_call4(__NR_newfstatat, AT_FDCWD, (long)"/proc/self/exe", (long)&st, 0) < 0)
		return 0;
	hello->loader_device = st.device;
	hello->loader_inode = st.inode;
	hello->loader_change_ns = st.change_seconds * 1000000000ull + st.change_nanos;
	return 1;
}

static sys_result say_client_hello(int control) {
	struct fl_client_hello hello = { .magic = FL_CLIENT_MAGIC };
	if (!own_identity(&hello))
		return -ENOENT;
	sys_result personality = sys_call1(__NR_personality, PERSONALITY_QUERY);
	if (personality < 0)
		return personality;
	hello.personality = (uint64_t)personality;
	hello.again = (uint64_t)running_again;
	struct kernel_rlimit stack;
	sys_result r = sys_prlimit64(0, RLIMIT_STACK_RESOURCE, 0, &stack);
	if (r < 0)
		return r;
	hello.stack_limit = stack.soft;
	struct capability_header header = { .version = CAPABILITY_VERSION_3, .pid = 0 };
	struct capability_data data[CAPABILITY_WORDS];
	r = sys_call2(__NR_capget, (long)&header, (long)data);
	if (r < 0)
		return r;
	hello.capabilities = (uint64_t)data[0].effective | (uint64_t)data[1].effective << 32;
	uint64_t words = 0;
	do {
		if (words + 2 > FL_HELLO_AUXV_WORDS)
			return -E2BIG;
		hello.auxv[words] = client_auxv[words];
		hello.auxv[words + 1] = client_auxv[words + 1];
		words += 2;
	} while (client_auxv[words - 2] != AT_NULL_ENTRY);
	hello.auxv_words = words;
	union {
		char bytes[sizeof(struct kernel_cmsghdr) + 2 * sizeof(int)];
		struct kernel_cmsghdr align;
	} ancillary;
	struct kernel_iovec iov = { .base = &hello, .length = sizeof hello };
	struct kernel_msghdr message = { .iov = &iov, .iov_count = 1 };
	/* The caller's standard error, where the service writes; none when the
	 * caller closed it. */
	if (sys_fcntl(STDERR_FD, F_GETFD, 0) >= 0) {
		hello.has_stderr = 1;
		struct kernel_cmsghdr *header = (struct kernel_cmsghdr *)ancillary.bytes;
		header->length = sizeof *header + sizeof(int);
		header->level = KERNEL_SOL_SOCKET;
		header->type = KERNEL_SCM_RIGHTS;
		int fd = STDERR_FD;
		bytes_copy(header + 1, &fd, sizeof fd);
		message.control = ancillary.bytes;
		message.control_length = sizeof *header + sizeof(int);
	}
	sys_result n = sys_sendmsg(control, &message, KERNEL_MSG_NOSIGNAL);
	return n == (sys_result)sizeof hello ? 0 : n < 0 ? n : -EIO;
}

int fl_client_start(uint64_t argc, const char *const *argv, const char *const *envp, const uint64_t *auxv) {
	remember_process(argc, argv, envp, auxv);
	for (int attempt = 0;; attempt++) {
		int control = connect_service();
		if (say_client_hello(control) == 0)
			return control;
		sys_close(control);
		if (attempt > 0)
			fl_client_plain(1);
	}
}

static const char not_a_program_of_ours[] =
	"faultline-loader: not started by a faultline pager; a program run by one re-executed itself through "
	"/proc/self/exe, which names this loader where the pager may not name the program (that needs CAP_SYS_RESOURCE)\n";

/* The loader started by hand, or run again by a program no service of
 * this user's knows: one line, and the shells' "cannot execute". */
__attribute__((noreturn)) void fl_client_not_ours(void) {
	/* Nothing more can be done if the line cannot be written. */
	(void)sys_write(STDERR_FD, not_a_program_of_ours, sizeof not_a_program_of_ours - 1);
	sys_exit_group(FL_EXIT_LOAD_FAILED);
}

/* The abstract socket a Bun pager listens on for its programs' loaders
 * (src/loader/run-again.ts pagerSocketName). */
#define PAGER_SOCKET_PREFIX "faultline-pager-"
#define MSG_PEEK_FLAG 2
#define STAT_BYTES 512

/* A connection to the Bun pager pid's abstract socket, or a negative errno. */
static sys_result connect_pager(uint64_t pid) {
	struct unix_address address = { .family = AF_UNIX_FAMILY };
	char number[24];
	decimal(pid, number);
	uint64_t at = 0;
	/* sun_path[0] stays 0: an abstract name, as long as its address says. */
	if (!append(address.path + 1, sizeof address.path - 1, &at, PAGER_SOCKET_PREFIX) || !append(address.path + 1, sizeof address.path - 1, &at, number))
		return -ENAMETOOLONG;
	sys_result fd = sys_socket(AF_UNIX_FAMILY, SOCK_SEQPACKET_TYPE | SOCK_CLOEXEC_FLAG, 0);
	if (fd < 0)
		return fd;
	sys_result r = sys_connect((int)fd, &address, (uint32_t)(sizeof address.family + 1 + at));
	if (r < 0) {
		sys_close((int)fd);
		return r;
	}
	return fd;
}

/* pid's parent, from /proc/PID/stat (the field after the name, which may
 * hold spaces and parentheses, and the state); 0 when it cannot be read. */
static uint64_t parent_of(uint64_t pid) {
	char path[sizeof "/proc//stat" + 24];
	char number[24];
	uint64_t at = 0;
	decimal(pid, number);
	if (!append(path, sizeof path, &at, "/proc/") || !append(path, sizeof path, &at, number) || !append(path, sizeof path, &at, "/stat"))
		return 0;
	sys_result fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	char stat[STAT_BYTES];
	sys_result n = sys_read((int)fd, stat, sizeof stat - 1);
	sys_close((int)fd);
	if (n <= 0)
		return 0;
	stat[n] = 0;
	const char *p = 0;
	for (sys_result i = 0; i < n; i++)
		if (stat[i] == ')')
			p = stat + i;
	/* ") S PPID ": past the parenthesis, the state and two spaces. */
	if (!p || p + 4 >= stat + n)
		return 0;
	uint64_t ppid = 0;
	for (p += 4; *p >= '0' && *p <= '9'; p++)
		ppid = ppid * 10 + (uint64_t)(*p - '0');
	return ppid;
}

/* Say hello on control and see what comes first, without taking it: a plan
 * (the connection, to receive it as any plan), or an answer that the one
 * asked knows no program of ours (-1; the connection is closed). An answer
 * to exit ends the process: whoever ran the program said why. */
static int asked_again(sys_result control) {
	if (control < 0)
		return -1;
	if (say_client_hello((int)control) != 0) {
		sys_close((int)control);
		return -1;
	}
	uint64_t magic = 0;
	struct kernel_iovec iov = { .base = &magic, .length = sizeof magic };
	/* No room for descriptors: a peek leaves a plan's where they are. */
	struct kernel_msghdr message = { .iov = &iov, .iov_count = 1 };
	sys_result n;
	do
		n = sys_recvmsg((int)control, &message, MSG_PEEK_FLAG);
	while (n == -EINTR);
	if (n > 0 && magic != FL_ANSWER_MAGIC)
		return (int)control;
	if (n > 0) {
		struct fl_client_answer answer;
		if (sys_read((int)control, &answer, sizeof answer) == (sys_result)sizeof answer && answer.verdict == FL_ANSWER_EXIT)
			sys_exit_group((int)answer.status);
	}
	sys_close((int)control);
	return -1;
}

/*
 * The loader run again through /proc/self/exe (node's child_process.fork,
 * perl's $^X, a program that re-executes itself), where /proc/self/exe
 * names the loader: whoever ran the program runs it again with these
 * arguments, as the kernel would have. Asked in turn: the user's service,
 * then a Bun pager that is this process's parent (a program that
 * re-executed itself) or grandparent (a fork of one). No service is
 * started for it: one that is not running ran no program. The connection
 * with the plan coming, or -1 when none knows the program.
 */
int fl_client_again(uint64_t argc, const char *const *argv, const char *const *envp, const uint64_t *auxv) {
	remember_process(argc, argv, envp, auxv);
	running_again = 1;
	if (service_paths() && directory_is_private() == 0) {
		int control = asked_again(try_connect());
		if (control >= 0)
			return control;
	}
	uint64_t parent = (uint64_t)sys_call0(__NR_getppid);
	uint64_t grandparent = parent_of(parent);
	uint64_t pagers[] = { parent, grandparent };
	for (unsigned i = 0; i < sizeof pagers / sizeof pagers[0]; i++) {
		if (pagers[i] == 0)
			continue;
		int control = asked_again(connect_pager(pagers[i]));
		if (control >= 0)
			return control;
	}
	return -1;
}

/* The service's answer in place of a plan. RETRY: this service is of
 * another build and has gone; one new one is started and asked. */
int fl_client_answered(int control, const struct fl_client_answer *answer, int retried) {
	sys_close(control);
	if (answer->verdict == FL_ANSWER_EXIT)
		sys_exit_group((int)answer->status);
	if (running_again)
		fl_client_not_ours();
	if (answer->verdict == FL_ANSWER_RETRY && !retried)
		return fl_client_start(client_argc, client_argv, client_envp, client_auxv);
	fl_client_plain(answer->verdict != FL_ANSWER_PLAIN);
}

/* A failure before the jump: the service is told, says why on the caller's
 * standard error, and hangs up; then the command ends with the shells'
 * "cannot execute". */
__attribute__((noreturn)) void fl_client_failed(int control) {
	struct fl_failed failed = { .magic = FL_FAILED_MAGIC };
	if (sys_sendto(control, &failed, sizeof failed, KERNEL_MSG_NOSIGNAL) == (sys_result)sizeof failed) {
		char byte;
		while (sys_read(control, &byte, sizeof byte) == -EINTR)
			;
	}
	sys_exit_group(FL_EXIT_LOAD_FAILED);
}
