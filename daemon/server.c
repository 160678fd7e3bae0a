/* The HTTPS listener. evhttp parses HTTP; every connection is an OpenSSL bufferevent made in
 * bevcb() from the current SSL_CTX, carrying a small conn_info (as SSL ex_data, so it is freed
 * exactly when libevent frees the SSL) that holds the connection's deadline. on_request() makes
 * each evhttp request a struct request, owned by the server through a struct request_owner
 * (the completion callbacks that keep the statistics and re-arm the deadline), and hands it to
 * admission.c; request.c never calls in here. */
#include "server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "admission.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "evhttp_stream_fix.h"
#include "log.h"
#include "metrics.h"
#include "request_internal.h"
#include "router.h"
#include "tls.h"

struct server {
	struct daemon *daemon;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX *ctx;
	unsigned long long request_seq;
	char id_prefix[9];
	int connections;
	int in_flight;
	int streams;
	unsigned long long requests, r2xx, r4xx, r5xx, duration_total;
};

/* Per connection, owned by its SSL object (freed by conn_info_free when the SSL is). */
struct conn_info {
	struct server *server;
	SSL *ssl;
	struct event *deadline;
	bool busy;
};

static int conn_ex_index = -1;

/* libevent finalises TLS bufferevents lazily, so an SSL (and its conn_info) may be freed by
 * event_base_free() after server_free(): conn_info then must not touch the server. */
static struct server *live_server;

static void conn_info_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                           void *argp)
{
	struct conn_info *ci = ptr;
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!ci)
		return;
	if (ci->server == live_server)
		ci->server->connections--;
	if (ci->deadline)
		event_free(ci->deadline);
	free(ci);
}

/* A connection that has not completed a request in time is shut down at the socket: evhttp then
 * sees the connection fail and frees it the normal way. This is what defeats a client that
 * trickles one byte at a time, which evhttp's inactivity timeout alone does not. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_info *ci = arg;
	(void)fd, (void)what;
	if (ci->busy)
		return;
	int sock = SSL_get_fd(ci->ssl);
	if (sock >= 0) {
		log_debug("closing a connection that sent no complete request in time");
		shutdown(sock, SHUT_RDWR);
	}
}

static void conn_arm_deadline(struct conn_info *ci)
{
	struct timeval tv = {ci->server->daemon->config->request_timeout_s, 0};
	evtimer_add(ci->deadline, &tv);
}

static struct conn_info *conn_of(struct evhttp_request *http)
{
	struct evhttp_connection *evcon = http ? evhttp_request_get_connection(http) : NULL;
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	return ssl ? SSL_get_ex_data(ssl, conn_ex_index) : NULL;
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	struct server *server = arg;
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
	ci->deadline = evtimer_new(base, deadline_cb, ci);
	server->connections++;
	if (!ci->deadline || !SSL_set_ex_data(ssl, conn_ex_index, ci)) {
		conn_info_free(NULL, ci, NULL, 0, 0, NULL);
		SSL_free(ssl);
		return NULL;
	}
	conn_arm_deadline(ci);
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		/* On failure libevent 2.1 leaves the SSL to us; freeing it frees ci. */
		SSL_free(ssl);
		log_error("tls: cannot create a TLS bufferevent");
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
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
	log_msg(status >= 500 ? LOG_WARN : LOG_DEBUG, "req=%s cn=%s %s %s -> %d (%lld us)", req->id,
	        req->cn[0] ? req->cn : "-", req->method, req->route ? req->route->pattern : "?",
	        status, (long long)took);
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
	if (ci) {
		ci->busy = true;
		evtimer_del(ci->deadline);
	}
	const struct admission_facts facts = {
	    .daemon = server->daemon,
	    .ssl = ci ? ci->ssl : NULL,
	    .connections = server->connections,
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
	long evhttp_max_body = c->max_body_bytes * 4 > 8L << 20 ? c->max_body_bytes * 4 : 8L << 20;
	evhttp_set_max_body_size(server->http, evhttp_max_body);
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
	if (server->ctx)
		SSL_CTX_free(server->ctx);
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
	/* Connections already open keep a reference to the old context. */
	SSL_CTX_free(server->ctx);
	server->ctx = fresh;
	/* The expiry of the files just loaded is checked by cert_expiry_reload (main.c). */
	log_info("reload: TLS certificate, key, CA and CRL reloaded");
	return true;
}

void server_stop_accepting(struct server *server)
{
	if (server->bound) {
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
	out->in_flight = server->in_flight;
	out->streams = server->streams;
}
