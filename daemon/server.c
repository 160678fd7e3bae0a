/* The HTTPS listener. evhttp parses HTTP; every connection is an OpenSSL bufferevent made in
 * bevcb() from the current SSL_CTX, carrying a small conn_info (as SSL ex_data, so it is freed
 * exactly when libevent frees the SSL) that holds the connection's deadline and its place in
 * the server's lists. on_request() makes each evhttp request a struct request, owned by the
 * server through a struct request_owner (the completion callbacks that keep the statistics and
 * re-arm the deadline), and hands it to admission.c; request.c never calls in here.
 *
 * Connections are kept in two lists, oldest first: those still in the TLS handshake and those
 * past it (moved over lazily, when a request arrives or a list is walked). That gives the
 * defences of issue 12 their order: the connection cap and the handshake deadline apply from
 * accept, before any TLS; at the cap the oldest connection still in its handshake makes room
 * for the new one (a terminal's handshake takes milliseconds, a descriptor-exhausting client's
 * never ends); and on SIGHUP every connection past its handshake has its certificate checked
 * again against the new CA and CRL, and is closed if it fails. */
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "admission.h"
#include "audit_closed.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "evhttp_stream_fix.h"
#include "http_framing.h"
#include "listener_guard.h"
#include "log.h"
#include "metrics.h"
#include "request_budget.h"
#include "request_internal.h"
#include "router.h"
#include "tls.h"

/* Past the configured cap, a few connections more are let through their handshake so that
 * they hear why they are refused (503 overloaded) rather than being cut off mute. */
#define CONN_OVERFLOW 16
/* Descriptors kept from client connections, for PostgreSQL (the pool and its reconnects), the
 * webhook and mail transfers and their resolver, logs and the daemon's own files. */
#define DESCRIPTOR_RESERVE 64

struct conn_info;

struct conn_list {
	struct conn_info *head, *tail; /* oldest first */
};

struct server {
	struct daemon *daemon;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct listener_guard *guard;
	SSL_CTX *ctx;
	unsigned tls_generation; /* bumped by each SIGHUP that swaps the context */
	unsigned long long request_seq;
	char id_prefix[9];
	struct conn_list handshaking, open;
	int connections; /* every conn_info alive, closing ones included (descriptors) */
	int closing;     /* of those, shut down and on their way out (not counted by the cap) */
	int cap;         /* max_connections, or fewer when the descriptor limit says so */
	int fd_budget;   /* descriptors client connections may use at most */
	int in_flight;
	int streams;
	unsigned long long requests, r2xx, r4xx, r5xx, duration_total;
	unsigned long long refused, evicted, handshake_timeouts, revoked;
	struct request_budget *request_budget; /* per-CN token buckets (request_budget.c) */
};

enum conn_phase {
	CONN_HANDSHAKE, /* accepted; its deadline is the handshake deadline */
	CONN_REQUEST,   /* handshake done; its deadline is the request deadline */
};

/* Per connection, owned by its SSL object (freed by conn_info_free when the SSL is). */
struct conn_info {
	struct conn_info *prev, *next; /* in server->handshaking or server->open */
	struct conn_list *list;
	struct server *server;
	SSL *ssl;
	struct bufferevent *bev;
	struct event *deadline;
	enum conn_phase phase;
	unsigned generation; /* the TLS context generation its certificate last passed */
	bool busy;
	bool closing;
	struct http_framing framing; /* every byte the client sent, as it arrives */
	uint64_t consumed;           /* of those, the bytes evhttp has taken (parsed) */
};

static int conn_ex_index = -1;

/* libevent finalises TLS bufferevents lazily, so an SSL (and its conn_info) may be freed by
 * event_base_free() after server_free(): conn_info then must not touch the server. */
static struct server *live_server;

static void conn_list_remove(struct conn_info *ci)
{
	struct conn_list *list = ci->list;
	if (!list)
		return;
	if (ci->prev)
		ci->prev->next = ci->next;
	else
		list->head = ci->next;
	if (ci->next)
		ci->next->prev = ci->prev;
	else
		list->tail = ci->prev;
	ci->prev = ci->next = NULL;
	ci->list = NULL;
}

static void conn_list_append(struct conn_list *list, struct conn_info *ci)
{
	ci->list = list;
	ci->prev = list->tail;
	ci->next = NULL;
	if (list->tail)
		list->tail->next = ci;
	else
		list->head = ci;
	list->tail = ci;
}

static bool server_may_accept(void *arg)
{
	struct server *server = arg;
	return server->connections < server->fd_budget;
}

static void conn_info_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
	struct conn_info *ci = ptr;
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!ci)
		return;
	if (ci->server == live_server) {
		conn_list_remove(ci);
		ci->server->connections--;
		if (ci->closing)
			ci->server->closing--;
		listener_guard_poke(ci->server->guard);
	}
	if (ci->deadline)
		event_free(ci->deadline);
	free(ci);
}

/* The input buffer of a connection changed: new bytes go through the framing scanner the moment
 * they arrive (before evhttp's read callback parses them), and what evhttp drains is counted, so
 * that on_request can tell whether the first bad byte lies within the request it got. */
static void framing_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn_info *ci = arg;
	ci->consumed += info->n_deleted;
	size_t len = evbuffer_get_length(buf);
	if (info->n_added == 0 || ci->framing.error || info->n_added > len)
		return;
	struct evbuffer_ptr at;
	if (evbuffer_ptr_set(buf, &at, len - info->n_added, EVBUFFER_PTR_SET) != 0)
		return;
	size_t left = info->n_added;
	while (left > 0) {
		struct evbuffer_iovec vec[8];
		int n = evbuffer_peek(buf, (ev_ssize_t)left, &at, vec, 8);
		if (n <= 0)
			return;
		size_t scanned = 0;
		for (int i = 0; i < n && i < 8 && scanned < left; i++) {
			size_t take =
			    vec[i].iov_len < left - scanned ? vec[i].iov_len : left - scanned;
			if (!http_framing_feed(&ci->framing, vec[i].iov_base, take))
				return;
			scanned += take;
		}
		left -= scanned;
		if (left > 0 && evbuffer_ptr_set(buf, &at, scanned, EVBUFFER_PTR_ADD) != 0)
			return;
	}
}

static struct conn_info *conn_of(struct evhttp_request *http);

const char *server_framing_error(struct evhttp_request *http)
{
	struct conn_info *ci = conn_of(http);
	return ci ? ci->framing.error : NULL;
}

/* The handshake is done (the first request is proof; a walk of the list finds others). */
static void conn_note_open(struct conn_info *ci)
{
	if (ci->list == &ci->server->handshaking) {
		conn_list_remove(ci);
		conn_list_append(&ci->server->open, ci);
	}
}

static void conn_remote(const struct conn_info *ci, char *out, size_t out_size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = SSL_get_fd(ci->ssl);
	out[0] = '\0';
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
		          (socklen_t)out_size);
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
		          (socklen_t)out_size);
}

/* Closes a connection whatever it is doing: the socket is shut down, and evhttp is told the
 * connection failed (deferred, as if the peer had reset it), so that it frees the connection
 * the normal way and a stream on it (an alert watcher) hears of it at once through its close
 * callback, rather than at its next write. A connection whose socket is not attached yet
 * (still inside bevcb) is closed by its deadline timer, fired at once. */
static void conn_close(struct conn_info *ci)
{
	if (!ci->closing) {
		ci->closing = true;
		ci->server->closing++;
	}
	int sock = SSL_get_fd(ci->ssl);
	if (sock < 0) {
		event_active(ci->deadline, EV_TIMEOUT, 0);
		return;
	}
	shutdown(sock, SHUT_RDWR);
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb = NULL;
	void *arg;
	bufferevent_getcb(ci->bev, &readcb, &writecb, &eventcb, &arg);
	/* No event callback: bufferevent_free() has run and the bufferevent only waits for its
	 * finalizer; it must not be touched. */
	if (eventcb)
		bufferevent_trigger_event(ci->bev, BEV_EVENT_READING | BEV_EVENT_ERROR,
		                          BEV_TRIG_DEFER_CALLBACKS);
}

/* The handshake deadline (handshake_timeout from accept) and then the request deadline: a
 * connection that has not completed a request in time is closed. This is what defeats a client
 * that trickles one byte at a time, or never starts TLS at all, which evhttp's inactivity
 * timeout alone does not. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_info *ci = arg;
	(void)fd, (void)what;
	if (ci->closing) {
		conn_close(ci); /* refused at accept: its socket is known now */
		return;
	}
	if (ci->busy)
		return;
	const struct config *c = ci->server->daemon->config;
	if (ci->phase == CONN_HANDSHAKE && SSL_is_init_finished(ci->ssl)) {
		ci->phase = CONN_REQUEST;
		int left = c->request_timeout_s - c->handshake_timeout_s;
		if (left > 0) {
			struct timeval tv = {left, 0};
			evtimer_add(ci->deadline, &tv);
			return;
		}
	}
	if (ci->phase == CONN_HANDSHAKE) {
		ci->server->handshake_timeouts++;
		log_debug("closing a connection that did not complete its TLS handshake in time");
	} else {
		log_debug("closing a connection that sent no complete request in time");
	}
	conn_close(ci);
}

static void conn_arm_deadline(struct conn_info *ci)
{
	struct timeval tv = {ci->server->daemon->config->request_timeout_s, 0};
	ci->phase = CONN_REQUEST;
	evtimer_add(ci->deadline, &tv);
}

static struct conn_info *conn_of(struct evhttp_request *http)
{
	struct evhttp_connection *evcon = http ? evhttp_request_get_connection(http) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	return ssl ? SSL_get_ex_data(ssl, conn_ex_index) : NULL;
}

/* The oldest connection still in its handshake, other than `except`; those found past it on
 * the way are moved to the open list. */
static struct conn_info *oldest_handshaking(struct server *server, struct conn_info *except)
{
	struct conn_info *ci = server->handshaking.head, *next;
	for (; ci; ci = next) {
		next = ci->next;
		if (ci == except || ci->closing)
			continue;
		if (SSL_is_init_finished(ci->ssl)) {
			conn_note_open(ci);
			continue;
		}
		return ci;
	}
	return NULL;
}

/* A new connection at the cap: the oldest still in its handshake makes room. When none does,
 * up to CONN_OVERFLOW more go on (and are answered 503 overloaded by admission); past that the
 * new one is closed at once. Near the descriptor budget the listener pauses until connections
 * close, so that the database and the webhooks keep theirs. */
static void admit_connection(struct server *server, struct conn_info *ci)
{
	int live = server->connections - server->closing;
	if (live > server->cap || server->connections >= server->fd_budget) {
		struct conn_info *old = oldest_handshaking(server, ci);
		if (old) {
			server->evicted++;
			log_debug("at the connection cap: closing the oldest connection still in "
			          "its TLS handshake");
			conn_close(old);
			live--;
		}
	}
	if (live > server->cap + CONN_OVERFLOW) {
		server->refused++;
		conn_close(ci);
	}
	if (server->connections >= server->fd_budget)
		listener_guard_pause(server->guard,
		                     "client connections hold every descriptor they may use", 1000);
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	struct server *server = arg;
	listener_guard_accepted(server->guard); /* a few handshakes a turn (listener_guard.h) */
	SSL *ssl = SSL_new(server->ctx);
	if (!ssl) {
		log_error("tls: SSL_new failed");
		return NULL;
	}
	struct conn_info *ci = calloc(1, sizeof *ci);
	if (!ci) {
		SSL_free(ssl);
		return NULL;
	}
	ci->server = server;
	ci->ssl = ssl;
	ci->generation = server->tls_generation;
	ci->deadline = evtimer_new(base, deadline_cb, ci);
	server->connections++;
	conn_list_append(&server->handshaking, ci);
	if (!ci->deadline || !SSL_set_ex_data(ssl, conn_ex_index, ci)) {
		conn_info_free(NULL, ci, NULL, 0, 0, NULL);
		SSL_free(ssl);
		return NULL;
	}
	const struct config *c = server->daemon->config;
	struct timeval tv = {c->handshake_timeout_s < c->request_timeout_s ? c->handshake_timeout_s
	                                                                   : c->request_timeout_s,
	                     0};
	ci->phase = CONN_HANDSHAKE;
	evtimer_add(ci->deadline, &tv);
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		/* On failure libevent 2.1 leaves the SSL to us; freeing it frees ci. */
		SSL_free(ssl);
		log_error("tls: cannot create a TLS bufferevent");
		return NULL;
	}
	ci->bev = bev;
	http_framing_init(&ci->framing);
	if (!evbuffer_add_cb(bufferevent_get_input(bev), framing_input_cb, ci)) {
		bufferevent_free(bev); /* frees the SSL, and with it ci */
		log_error("tls: cannot watch a connection's input");
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	admit_connection(server, ci);
	return bev;
}

/* ---- revocation: certificates checked again after SIGHUP ---- */

static void audit_revoked(struct conn_info *ci, const char *why, const char *when)
{
	char cn[128], remote[64];
	if (!tls_peer_cn(ci->ssl, cn, sizeof cn))
		snprintf(cn, sizeof cn, "-");
	conn_remote(ci, remote, sizeof remote);
	log_info("tls: closing a connection of %s (%s): its certificate no longer verifies: %s", cn,
	         remote[0] ? remote : "?", why);
	ci->server->revoked++;
	audit_connection_closed(cn, remote, "connection_closed", "revoked",
	                        json_pack("{s:s, s:s}", "reason", why, "when", when));
}

/* Checks the connection's certificate against the current context if it has not been since the
 * last SIGHUP. Returns false (having closed or marked the connection) when it fails. */
static bool conn_recheck(struct conn_info *ci, const char *when, char *why, size_t why_size)
{
	struct server *server = ci->server;
	if (ci->generation == server->tls_generation)
		return true;
	if (!tls_peer_recheck(ci->ssl, server->ctx, why, why_size)) {
		audit_revoked(ci, why, when);
		return false;
	}
	ci->generation = server->tls_generation;
	return true;
}

static void recheck_list(struct server *server, struct conn_list *list)
{
	char why[256];
	for (struct conn_info *ci = list->head, *next; ci; ci = next) {
		next = ci->next; /* conn_note_open may move ci to the other list */
		if (ci->closing || !SSL_is_init_finished(ci->ssl))
			continue;
		conn_note_open(ci);
		if (!conn_recheck(ci, "reload", why, sizeof why))
			conn_close(ci);
	}
}

static int close_account_in(struct conn_list *list, const char *cn, const char *outcome)
{
	int closed = 0;
	char peer[128], remote[64];
	for (struct conn_info *ci = list->head; ci; ci = ci->next) {
		/* Still in the handshake: no verified CN yet; api() refuses its first request. */
		if (ci->closing || !SSL_is_init_finished(ci->ssl) ||
		    !tls_peer_cn(ci->ssl, peer, sizeof peer) || strcmp(peer, cn) != 0)
			continue;
		conn_remote(ci, remote, sizeof remote);
		audit_connection_closed(cn, remote, "connection_closed", outcome, NULL);
		conn_close(ci); /* frees nothing now: the walk may go on */
		closed++;
	}
	return closed;
}

int server_close_account(struct server *server, const char *cn, const char *outcome)
{
	/* Both lists: a connection past its handshake that has sent no request yet is still on
	 * the first (it is moved lazily). */
	return close_account_in(&server->open, cn, outcome) +
	       close_account_in(&server->handshaking, cn, outcome);
}

/* ---- the requests' owner (struct request_owner): book-keeping as each one ends ---- */

static void server_on_stream_started(void *arg, const struct request *req)
{
	struct server *server = arg;
	(void)req;
	server->streams++;
}

static void server_on_request_finished(void *arg, const struct request *req, int status)
{
	struct server *server = arg;
	server->in_flight--;
	if (req->streaming)
		server->streams--;
	if (status >= 500)
		server->r5xx++;
	else if (status >= 400)
		server->r4xx++;
	else
		server->r2xx++;
	int64_t took = clock_monotonic_us() - req->started_us;
	server->duration_total += (unsigned long long)(took > 0 ? took : 0);
	metrics_request_finished(req->route, status, took, req->streaming);
	struct conn_info *ci = conn_of(req->http);
	if (ci) {
		ci->busy = false;
		conn_arm_deadline(ci);
	}
	char cn[2 * sizeof req->cn + 3];
	log_quote(req->cn[0] ? req->cn : "-", cn, sizeof cn);
	log_msg(status >= 500 ? LOG_WARN : LOG_DEBUG, "req=%s cn=%s %s %s -> %d (%lld us)", req->id,
	        cn, req->method, req->route ? req->route->pattern : "?", status, (long long)took);
}

static const struct request_owner server_request_owner = {
    .stream_started = server_on_stream_started,
    .finished = server_on_request_finished,
};

/* evhttp's callback for every complete request: numbers it, holds the connection's deadline
 * while it is answered, and hands it to admission (admission.c) with what the connection
 * knows. */
static void on_request(struct evhttp_request *http, void *arg)
{
	struct server *server = arg;
	struct request *req = request_new(http, &server_request_owner, server);
	if (!req) {
		evhttp_send_error(http, 503, "Service Unavailable");
		return;
	}
	server->requests++;
	server->in_flight++;
	snprintf(req->id, sizeof req->id, "%s%08llx", server->id_prefix, ++server->request_seq);
	struct conn_info *ci = conn_of(http);
	char why[256];
	bool revoked = false;
	if (ci) {
		ci->busy = true;
		evtimer_del(ci->deadline);
		conn_note_open(ci);
		/* A connection accepted with the context before the last SIGHUP, whose handshake
		 * ended after the reload's walk, is checked here, on its first request. */
		revoked = !conn_recheck(ci, "request", why, sizeof why);
	}
	/* A request that took in the first bad byte of the stream is refused (admission). */
	const char *framing = ci && ci->framing.error && ci->framing.error_at < ci->consumed
	                          ? ci->framing.error
	                          : NULL;
	const struct admission_facts facts = {
	    .daemon = server->daemon,
	    .ssl = ci ? ci->ssl : NULL,
	    .revoked = revoked ? why : NULL,
	    .connections = server->connections - server->closing,
	    .connection_cap = server->cap,
	    .budget = server->request_budget,
	    .framing_error = framing,
	};
	admission_run(req, &facts);
}

static bool set_nodelay_listener(struct evhttp_bound_socket *bound)
{
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
	int one = 1;
	/* Accepted sockets inherit TCP_NODELAY on Linux: without it small TLS records wait for
	 * the peer's delayed ACK (~40 ms per response). */
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

/* The cap in force: max_connections, or fewer when the descriptor limit cannot hold that many
 * next to what the daemon has open now and DESCRIPTOR_RESERVE more. */
static void server_set_budget(struct server *server)
{
	const struct config *c = server->daemon->config;
	struct rlimit lim;
	long limit = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
	                 ? (long)lim.rlim_cur
	                 : 1L << 20;
	int in_use = descriptors_open();
	int reserve = DESCRIPTOR_RESERVE + 2 * c->db_pool_size;
	long budget = limit - (in_use > 0 ? in_use : 32) - reserve;
	if (budget < 8)
		budget = 8;
	server->fd_budget = budget > INT32_MAX ? INT32_MAX : (int)budget;
	server->cap =
	    c->max_connections < server->fd_budget ? c->max_connections : server->fd_budget;
	if (server->cap < c->max_connections)
		log_warn(
		    "descriptors: serving at most %d connections, not max_connections = %d: "
		    "the limit is %ld descriptors, %d are in use and %d kept in reserve; raise "
		    "LimitNOFILE",
		    server->cap, c->max_connections, limit, in_use, reserve);
	else
		log_info("descriptors: up to %d connections (limit %ld, %d in use, %d kept in "
		         "reserve)",
		         server->cap, limit, in_use, reserve);
}

struct server *server_new(struct daemon *d)
{
	struct server *server = calloc(1, sizeof *server);
	if (!server)
		return NULL;
	server->daemon = d;
	live_server = server;
	evhttp_stream_fix_check_runtime();
	unsigned char rnd[4];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		goto failed;
	snprintf(server->id_prefix, sizeof server->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3]);
	if (conn_ex_index < 0)
		conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_info_free);
	char err[512];
	server->ctx = tls_server_ctx_new(d->config, err, sizeof err);
	if (!server->ctx) {
		log_error("tls: %s", err);
		goto failed;
	}
	server->http = evhttp_new(d->base);
	if (!server->http)
		goto failed;
	const struct config *c = d->config;
	server->request_budget = request_budget_new(c->request_rate, c->request_burst);
	if (!server->request_budget)
		goto failed;
	/* evhttp refuses a larger body as soon as its Content-Length (or, chunked, the chunks so
	 * far) shows it, before reading it: 413 with the error JSON (evhttp_errors.c). */
	evhttp_set_max_body_size(server->http, c->max_body_bytes);
	evhttp_set_max_headers_size(server->http, c->max_header_bytes);
	evhttp_set_timeout(server->http, c->idle_timeout_s);
	evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                             EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
	                                             EVHTTP_REQ_HEAD);
	evhttp_set_default_content_type(server->http, "application/json");
	evhttp_set_bevcb(server->http, bevcb, server);
	evhttp_set_gencb(server->http, on_request, server);
	server->bound = evhttp_bind_socket_with_handle(server->http, c->listen_host,
	                                               (ev_uint16_t)c->listen_port);
	if (!server->bound) {
		log_error("cannot listen on %s:%d", c->listen_host, c->listen_port);
		goto failed;
	}
	if (!set_nodelay_listener(server->bound))
		log_warn("cannot set TCP_NODELAY on the listening socket");
	server->guard = listener_guard_new(d->base, evhttp_bound_socket_get_listener(server->bound),
	                                   server_may_accept, server);
	if (!server->guard)
		goto failed;
	server_set_budget(server);
	log_info("listening on %s:%d", c->listen_host, c->listen_port);
	return server;
failed:
	server_free(server);
	return NULL;
}

void server_free(struct server *server)
{
	if (!server)
		return;
	if (live_server == server)
		live_server = NULL;
	if (server->http)
		evhttp_free(server->http); /* frees connections, whose SSLs free their conn_info */
	listener_guard_free(server->guard);
	if (server->ctx)
		SSL_CTX_free(server->ctx);
	request_budget_free(server->request_budget);
	free(server);
}

bool server_reload_tls(struct server *server)
{
	char err[512];
	SSL_CTX *fresh = tls_server_ctx_new(server->daemon->config, err, sizeof err);
	if (!fresh) {
		log_error("reload: keeping the running TLS configuration: %s", err);
		return false;
	}
	/* Connections already open keep a reference to the old context; their certificates
	 * are checked against the new one now (or, still in their handshake, at their first
	 * request), and those that no longer verify are closed. */
	SSL_CTX_free(server->ctx);
	server->ctx = fresh;
	server->tls_generation++;
	unsigned long long revoked_before = server->revoked;
	recheck_list(server, &server->open);
	recheck_list(server, &server->handshaking);
	if (server->revoked > revoked_before)
		log_info("reload: closed %llu connections whose certificates no longer verify",
		         server->revoked - revoked_before);
	/* The expiry of the files just loaded is checked by cert_expiry_reload (main.c). */
	log_info("reload: TLS certificate, key, CA and CRL reloaded");
	return true;
}

void server_stop_accepting(struct server *server)
{
	if (server->bound) {
		listener_guard_detach(server->guard);
		evhttp_del_accept_socket(server->http, server->bound);
		server->bound = NULL;
	}
}

int server_requests_in_flight(const struct server *server)
{
	return server->in_flight;
}

void server_stats(const struct server *server, struct server_stats *out)
{
	out->requests = server->requests;
	out->responses_2xx = server->r2xx;
	out->responses_4xx = server->r4xx;
	out->responses_5xx = server->r5xx;
	out->duration_us_total = server->duration_total;
	out->connections = server->connections;
	out->connection_cap = server->cap;
	out->connections_refused = server->refused;
	out->connections_evicted = server->evicted;
	out->handshake_timeouts = server->handshake_timeouts;
	out->connections_revoked = server->revoked;
	out->accept_pauses = listener_guard_pauses(server->guard);
	out->in_flight = server->in_flight;
	out->streams = server->streams;
}
