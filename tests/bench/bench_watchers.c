/* bench_watchers: holds thousands of Server-Sent Events streams of rollcalld open over mutual TLS
 * on one epoll loop, and says when the last of them received an alert. It exists because a
 * Python asyncio client spends about 30 µs of CPU per TLS read: with 10,000 watchers the fan-out
 * it measured was mostly its own (tests/bench/bench_due.py drives this program instead).
 *
 * usage: bench_watchers HOST PORT CA CERT KEY PATH
 * Commands on stdin, one per line; each is answered with one line on stdout:
 *   open N   open N more streams (at most 200 handshakes at once; a stream refused with a
 *            status other than 200, say 429, is closed and tried again 1 s later) and wait until
 *            each has received rollcalld's ": head" comment -> "opened N refused R"
 *   arm      start counting alert events afresh -> "armed"
 *   wait N   wait until N streams have each received an "event: alert" since "arm"
 *            -> "done T" (T: CLOCK_MONOTONIC seconds when the Nth stream received it, which is
 *            Python's time.monotonic())
 *   quit     close everything and exit
 * A stream that ends after it opened is an error ("error ..." on stdout, exit 1): the bench
 * must not count a watcher that is gone. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HANDSHAKING 200
#define CARRY 16 /* bytes kept from the previous read, so a marker split across reads is seen */

enum phase { P_IDLE, P_CONNECTING, P_HANDSHAKE, P_STATUS, P_STREAM };

struct watcher {
	int fd;
	SSL *ssl;
	enum phase phase;
	double retry_at; /* P_IDLE: when to connect again (0: not waiting) */
	bool live;       /* has received ": head" */
	unsigned seen;   /* the epoch of the last alert counted */
	size_t carry_len;
	char carry[CARRY + 512];
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	SSL_CTX *ctx;
	char request[512];
	int request_len;
	int epfd;
	struct watcher **w; /* each watcher is its own allocation: epoll holds pointers to them */
	size_t count;       /* watchers started */
	size_t handshaking, live, target; /* target: watchers asked for so far */
	bool opening;                     /* an "open" is not answered yet */
	unsigned long refused;
	size_t retrying; /* watchers waiting to connect again (reconnect_due scans only then) */
	unsigned epoch;
	size_t alerted, wait_for;
	double last_alert;
	bool waiting;
} g;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what)
{
	printf("error %s\n", what);
	fflush(stdout);
	exit(1);
}

static void watch(struct watcher *w, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(g.epfd, op, w->fd, &ev) != 0)
		fail("epoll_ctl");
}

static void start_connect(struct watcher *w)
{
	w->fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (w->fd < 0)
		fail("socket (raise the descriptor limit)");
	int one = 1;
	setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(w->fd, (struct sockaddr *)&g.addr, g.addrlen) != 0 && errno != EINPROGRESS)
		fail("connect");
	w->ssl = SSL_new(g.ctx);
	if (!w->ssl || !SSL_set_fd(w->ssl, w->fd))
		fail("SSL_new");
	SSL_set_tlsext_host_name(w->ssl, "localhost");
	w->phase = P_CONNECTING;
	w->retry_at = 0;
	w->carry_len = 0;
	g.handshaking++;
	watch(w, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Closes a refused stream's connection, to be tried again a second later. */
static void retry_later(struct watcher *w)
{
	if (w->phase != P_IDLE)
		g.handshaking--;
	SSL_free(w->ssl);
	close(w->fd);
	w->ssl = NULL;
	w->fd = -1;
	w->phase = P_IDLE;
	w->retry_at = now() + 1.0;
	g.retrying++;
}

static void on_stream_bytes(struct watcher *w, const char *data, size_t len)
{
	/* Search the carried tail and the new bytes as one piece. */
	while (len > 0) {
		size_t take =
		    len < sizeof w->carry - w->carry_len ? len : sizeof w->carry - w->carry_len;
		memcpy(w->carry + w->carry_len, data, take);
		w->carry_len += take;
		data += take;
		len -= take;
		if (!w->live && memmem(w->carry, w->carry_len, "\n: head", 7)) {
			w->live = true;
			g.live++;
			g.handshaking--;
		}
		if (w->live && w->seen != g.epoch &&
		    memmem(w->carry, w->carry_len, "event: alert\n", 13)) {
			w->seen = g.epoch;
			g.alerted++;
			g.last_alert = now();
		}
		size_t keep = w->carry_len < CARRY ? w->carry_len : CARRY;
		memmove(w->carry, w->carry + w->carry_len - keep, keep);
		w->carry_len = keep;
	}
}

static void on_event(struct watcher *w)
{
	if (w->phase == P_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0)
			fail("connect failed");
		w->phase = P_HANDSHAKE;
	}
	if (w->phase == P_HANDSHAKE) {
		int r = SSL_connect(w->ssl);
		if (r != 1) {
			int e = SSL_get_error(w->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				watch(w, EPOLLIN, EPOLL_CTL_MOD);
			else if (e == SSL_ERROR_WANT_WRITE)
				watch(w, EPOLLOUT, EPOLL_CTL_MOD);
			else
				fail("TLS handshake failed");
			return;
		}
		if (SSL_write(w->ssl, g.request, g.request_len) != g.request_len)
			fail("cannot send the stream request");
		w->phase = P_STATUS;
		watch(w, EPOLLIN, EPOLL_CTL_MOD);
	}
	char buf[16384];
	for (;;) {
		int r = SSL_read(w->ssl, buf, sizeof buf);
		if (r <= 0) {
			int e = SSL_get_error(w->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			/* Refused streams are closed above, before this read; any other end counts.
			 */
			fail(w->phase == P_STATUS
			         ? "the daemon closed a stream before its status line"
			         : "a stream ended after it had opened");
		}
		size_t n = (size_t)r;
		const char *p = buf;
		if (w->phase == P_STATUS) {
			if (n < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0)
				fail("no status line in the first read");
			if (memcmp(buf + 9, "200", 3) != 0) {
				g.refused++;
				retry_later(w);
				return;
			}
			w->phase = P_STREAM;
		}
		on_stream_bytes(w, p, n);
	}
}

static void reconnect_due(void)
{
	double t = now();
	for (size_t i = 0; g.retrying > 0 && i < g.count && g.handshaking < MAX_HANDSHAKING; i++) {
		struct watcher *w = g.w[i];
		if (w->phase == P_IDLE && w->retry_at > 0 && w->retry_at <= t) {
			g.retrying--;
			start_connect(w);
		}
	}
	/* New watchers not yet started. */
	while (g.count < g.target && g.handshaking < MAX_HANDSHAKING) {
		struct watcher *w = calloc(1, sizeof *w);
		if (!w)
			fail("out of memory");
		g.w[g.count++] = w;
		start_connect(w);
	}
}

static bool command(char *line)
{
	unsigned long n = 0;
	if (sscanf(line, "open %lu", &n) == 1) {
		if (g.opening)
			fail("open while an open is running");
		struct watcher **grown = realloc(g.w, (g.target + n) * sizeof *g.w);
		if (!grown)
			fail("out of memory");
		g.w = grown;
		g.target += n;
		g.opening = true;
		g.refused = 0;
	} else if (strncmp(line, "arm", 3) == 0) {
		g.epoch++;
		g.alerted = 0;
		printf("armed\n");
	} else if (sscanf(line, "wait %lu", &n) == 1) {
		g.wait_for = n;
		g.waiting = true;
	} else if (strncmp(line, "quit", 4) == 0) {
		return false;
	} else {
		fail("unknown command");
	}
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	if (argc != 7 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr,
		        "usage: bench_watchers HOST PORT CA CERT KEY PATH (commands on stdin: "
		        "see the top of tests/bench/bench_watchers.c)\n");
		return argc == 2 ? 0 : 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0)
		fail("cannot resolve the host");
	memcpy(&g.addr, ai->ai_addr, ai->ai_addrlen);
	g.addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	g.ctx = SSL_CTX_new(TLS_client_method());
	if (!g.ctx || SSL_CTX_load_verify_locations(g.ctx, argv[3], NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(g.ctx, argv[4]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(g.ctx, argv[5], SSL_FILETYPE_PEM) != 1)
		fail("cannot load the certificates");
	SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER, NULL);
	g.request_len = snprintf(g.request, sizeof g.request,
	                         "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n",
	                         argv[6], argv[1]);
	g.epfd = epoll_create1(0);
	struct epoll_event in = {.events = EPOLLIN, .data.ptr = NULL};
	if (g.epfd < 0 || epoll_ctl(g.epfd, EPOLL_CTL_ADD, 0, &in) != 0)
		fail("epoll");
	char line[256];
	size_t line_len = 0;
	double open_started = 0;
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(g.epfd, evs, 256, 50);
		if (n < 0 && errno != EINTR)
			fail("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr) {
				on_event(evs[i].data.ptr);
				continue;
			}
			ssize_t r = read(0, line + line_len, sizeof line - line_len - 1);
			if (r <= 0)
				return 0;
			line_len += (size_t)r;
			line[line_len] = '\0';
			char *nl;
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				if (strncmp(line, "open", 4) == 0)
					open_started = now();
				if (!command(line))
					return 0;
				memmove(line, nl + 1, line_len - (size_t)(nl + 1 - line) + 1);
				line_len -= (size_t)(nl + 1 - line);
			}
			if (line_len == sizeof line - 1)
				fail("command too long");
		}
		reconnect_due();
		if (g.opening && g.live == g.target) {
			printf("opened %zu refused %lu seconds %.2f\n", g.target, g.refused,
			       now() - open_started);
			fflush(stdout);
			g.opening = false;
		}
		if (g.waiting && g.alerted >= g.wait_for) {
			printf("done %.6f\n", g.last_alert);
			fflush(stdout);
			g.waiting = false;
		}
	}
}
