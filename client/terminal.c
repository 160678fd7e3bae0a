/* Single-key terminal input with termios (see terminal.h). The saved settings live in statics
 * because signal handlers must reach them; the handlers use only async-signal-safe calls. */
#include "terminal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_settings;
static struct termios raw_settings;
static int terminal_fd = -1;
static volatile sig_atomic_t raw_active;
static bool handlers_installed;
static bool atexit_registered;

/* The signals whose default action ends the process: restore, then die as the signal says so
 * that the shell sees the usual status. */
static const int ending_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void on_ending_signal(int sig)
{
	if (raw_active) {
		tcsetattr(terminal_fd, TCSANOW, &saved_settings);
		raw_active = 0;
		(void)!write(STDOUT_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ctrl-Z: give the shell a normal terminal while stopped, take single keys back on SIGCONT. */
static void on_stop_signal(int sig)
{
	int saved_errno = errno;
	bool was_raw = raw_active;
	if (was_raw)
		tcsetattr(terminal_fd, TCSANOW, &saved_settings);
	signal(sig, SIG_DFL);
	sigset_t unblock;
	sigemptyset(&unblock);
	sigaddset(&unblock, sig);
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);
	raise(sig); /* stops here until SIGCONT */
	struct sigaction again = {.sa_handler = on_stop_signal};
	sigemptyset(&again.sa_mask);
	sigaction(sig, &again, NULL);
	if (was_raw)
		tcsetattr(terminal_fd, TCSANOW, &raw_settings);
	errno = saved_errno;
}

static void install_handlers(void)
{
	if (handlers_installed)
		return;
	/* A signal the shell told us to ignore (a job started without job control ignores
	 * SIGINT) stays ignored. */
	struct sigaction action = {.sa_handler = on_ending_signal}, previous;
	sigemptyset(&action.sa_mask);
	for (size_t i = 0; i < sizeof(ending_signals) / sizeof(ending_signals[0]); i++)
		if (sigaction(ending_signals[i], NULL, &previous) == 0 &&
		    previous.sa_handler != SIG_IGN)
			sigaction(ending_signals[i], &action, NULL);
	struct sigaction stop = {.sa_handler = on_stop_signal};
	sigemptyset(&stop.sa_mask);
	if (sigaction(SIGTSTP, NULL, &previous) == 0 && previous.sa_handler != SIG_IGN)
		sigaction(SIGTSTP, &stop, NULL);
	handlers_installed = true;
}

bool terminal_raw_begin(int fd)
{
	if (!isatty(fd) || tcgetattr(fd, &saved_settings) != 0)
		return false;
	terminal_fd = fd;
	raw_settings = saved_settings;
	/* Keys arrive one by one without echo; ISIG stays so Ctrl-C still interrupts, and output
	 * processing stays so "\n" still starts a new line. */
	raw_settings.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw_settings.c_cc[VMIN] = 1;
	raw_settings.c_cc[VTIME] = 0;

	install_handlers();
	if (!atexit_registered) {
		atexit(terminal_raw_end);
		atexit_registered = true;
	}
	if (tcsetattr(fd, TCSAFLUSH, &raw_settings) != 0)
		return false;
	raw_active = 1;
	return true;
}

void terminal_raw_end(void)
{
	if (!raw_active)
		return;
	tcsetattr(terminal_fd, TCSADRAIN, &saved_settings);
	raw_active = 0;
}

int terminal_read_key(void)
{
	unsigned char c;
	for (;;) {
		ssize_t n = read(terminal_fd, &c, 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		return TERMINAL_KEY_EOF;
	}
	if (c != 27)
		return c;
	/* An escape sequence (arrow keys send ESC [ A) arrives at once; swallow its bytes so they
	 * are not read as answers. A lone Escape is followed by silence. */
	struct pollfd pfd = {.fd = terminal_fd, .events = POLLIN};
	unsigned char rest[16];
	while (poll(&pfd, 1, 30) > 0) {
		if (read(terminal_fd, rest, sizeof(rest)) <= 0)
			break;
	}
	return TERMINAL_KEY_ESCAPE;
}

bool terminal_read_line(char *out, size_t outlen)
{
	bool was_raw = raw_active;
	if (was_raw) {
		tcsetattr(terminal_fd, TCSADRAIN, &saved_settings);
		raw_active = 0;
	}
	size_t len = 0;
	bool ok = false;
	int fd = terminal_fd >= 0 ? terminal_fd : STDIN_FILENO;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c == '\n') {
			ok = true;
			break;
		}
		if (len + 1 < outlen)
			out[len++] = c;
	}
	out[len] = '\0';
	if (was_raw && tcsetattr(terminal_fd, TCSADRAIN, &raw_settings) == 0)
		raw_active = 1;
	return ok;
}
