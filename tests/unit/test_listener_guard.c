/* Unit tests of daemon/listener_guard.c: with the process out of descriptors (EMFILE), a
 * listener with pending connections is paused and tried again a few times a second instead of
 * spinning in libevent's accept loop; it accepts again once descriptors are released; and the
 * soft descriptor limit is raised to the hard one. The clients are a child process, so their
 * descriptors are not the ones that run out. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "listener_guard.h"

#define CLIENTS 40
#define HELD_MAX 64

struct acceptor {
	int held[HELD_MAX];
	int count;
};

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct acceptor *a = arg;
	(void)listener, (void)sa, (void)socklen;
	if (a->count < HELD_MAX)
		a->held[a->count++] = fd;
	else
		close(fd);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopbreak(arg);
}

static void run_for(struct event_base *base, int ms)
{
	struct event *stop = evtimer_new(base, stop_cb, base);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	assert_non_null(stop);
	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	event_free(stop);
}

/* A child that opens CLIENTS connections to port and holds them until killed. */
static pid_t start_clients(int port)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that failed */
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < CLIENTS; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0)
			(void)connect(fd, (struct sockaddr *)&sin, sizeof sin);
	}
	for (;;)
		pause();
}

static void test_exhausted_listener_pauses_instead_of_spinning(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct acceptor a = {.count = 0};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct evconnlistener *listener =
	    evconnlistener_new_bind(base, accept_cb, &a, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	                            64, (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(listener);
	socklen_t len = sizeof sin;
	assert_int_equal(
	    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin, &len), 0);
	struct listener_guard *guard = listener_guard_new(base, listener, NULL, NULL);
	assert_non_null(guard);
	pid_t clients = start_clients(ntohs(sin.sin_port));

	/* Room for about five accepted connections, no more. */
	struct rlimit saved, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	int in_use = descriptors_open();
	assert_true(in_use > 0);
	low = saved;
	low.rlim_cur = (rlim_t)(in_use + 5);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* Each pause lasts 250 ms: some six tries in 1.5 s. Spinning would be many thousands. */
	run_for(base, 1500);
	unsigned long long pauses = listener_guard_pauses(guard);
	printf("# %d accepted with the limit at %d, %llu pauses in 1.5 s\n", a.count, in_use + 5,
	       pauses);
	assert_true(a.count >= 1 && a.count <= 6);
	assert_true(pauses >= 2);
	assert_true(pauses <= 12);
	assert_true(listener_guard_paused(guard) || pauses > 0);

	/* Descriptors released: the next try accepts the waiting connections. */
	for (int i = 0; i < a.count; i++)
		close(a.held[i]);
	int before = a.count;
	a.count = 0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	run_for(base, 600);
	assert_true(a.count >= CLIENTS - before);
	for (int i = 0; i < a.count; i++)
		close(a.held[i]);

	kill(clients, SIGKILL);
	waitpid(clients, NULL, 0);
	listener_guard_free(guard);
	evconnlistener_free(listener);
	event_base_free(base);
}

static void test_soft_limit_raised_to_hard(void **state)
{
	(void)state;
	struct rlimit saved, lim;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	lim = saved;
	lim.rlim_cur = saved.rlim_max > 256 ? 256 : saved.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	long now = descriptors_raise_limit();
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_true(lim.rlim_cur == saved.rlim_max);
	assert_true(now > 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exhausted_listener_pauses_instead_of_spinning),
	    cmocka_unit_test(test_soft_limit_raised_to_hard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
