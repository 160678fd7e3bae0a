/* Unit tests of daemon/curl_loop.c against a plain HTTP server on the same libevent loop: a
 * transfer runs to its end and is reported once, never from inside curl_loop_add; curl's timeouts
 * come through the loop's timer; a cancelled transfer is never reported; and the loop can be
 * freed with transfers in flight (the sanitizer build checks nothing leaks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "curl_loop.h"

/* The server: answers 204 to every request, or (silent) accepts and says nothing. */
struct server {
	struct event_base *base;
	struct evconnlistener *listener;
	int port;
	bool silent;
	int accepted;
	evutil_socket_t held[8]; /* silent connections, closed at the end */
	int held_count;
};

static void server_written_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_free(bev); /* closes the connection: the answer is out */
}

static void server_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(input, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		return;
	evbuffer_drain(input, evbuffer_get_length(input));
	static const char answer[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	bufferevent_setcb(bev, NULL, server_written_cb, NULL, NULL);
	assert_int_equal(bufferevent_write(bev, answer, sizeof answer - 1), 0);
}

static void server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what, (void)arg;
	bufferevent_free(bev);
}

static void server_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
                             struct sockaddr *addr, int len, void *arg)
{
	struct server *srv = arg;
	(void)listener, (void)addr, (void)len;
	srv->accepted++;
	if (srv->silent) {
		assert_true(srv->held_count < 8);
		srv->held[srv->held_count++] = fd;
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_setcb(bev, server_read_cb, NULL, server_event_cb, srv);
	assert_int_equal(bufferevent_enable(bev, EV_READ), 0);
}

static void server_start(struct server *srv, struct event_base *base, bool silent)
{
	*srv = (struct server){.base = base, .silent = silent};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	srv->listener = evconnlistener_new_bind(base, server_accept_cb, srv,
	                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                        (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(srv->listener);
	struct sockaddr_in bound;
	socklen_t bound_len = sizeof bound;
	assert_int_equal(getsockname(evconnlistener_get_fd(srv->listener),
	                             (struct sockaddr *)&bound, &bound_len),
	                 0);
	srv->port = ntohs(bound.sin_port);
}

static void server_stop(struct server *srv)
{
	for (int i = 0; i < srv->held_count; i++)
		close(srv->held[i]);
	evconnlistener_free(srv->listener);
}

/* What the done callback saw. */
struct outcome {
	struct event_base *base;
	int calls;
	bool inside_add; /* set while curl_loop_add runs */
	bool called_inside_add;
	CURLcode result;
	long status;
};

static void done_cb(void *arg, CURL *easy, CURLcode result)
{
	struct outcome *o = arg;
	o->calls++;
	o->called_inside_add |= o->inside_add;
	o->result = result;
	assert_int_equal(curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &o->status), CURLE_OK);
	event_base_loopbreak(o->base);
}

static size_t discard_cb(char *data, size_t size, size_t count, void *arg)
{
	(void)data, (void)arg;
	return size * count;
}

static CURL *easy_for(const struct server *srv, long timeout_ms)
{
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv->port);
	CURL *easy = curl_easy_init();
	assert_non_null(easy);
	assert_int_equal(curl_easy_setopt(easy, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(easy, CURLOPT_PROXY, ""), CURLE_OK);
	assert_int_equal(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_cb), CURLE_OK);
	assert_int_equal(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms), CURLE_OK);
	return easy;
}

/* Runs the loop until a callback breaks it, or for at most ms. */
static void run_for(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	assert_int_equal(event_base_loopexit(base, &tv), 0);
	assert_int_not_equal(event_base_dispatch(base), -1);
}

static void test_transfers_run_to_their_end_and_are_reported_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct server srv;
	server_start(&srv, base, false);
	struct curl_loop *loop = curl_loop_new(base);
	assert_non_null(loop);

	struct outcome o[3] = {{.base = base}, {.base = base}, {.base = base}};
	CURL *easy[3];
	for (int i = 0; i < 3; i++) {
		easy[i] = easy_for(&srv, 5000);
		o[i].inside_add = true;
		assert_true(curl_loop_add(loop, easy[i], done_cb, &o[i]));
		o[i].inside_add = false;
	}
	for (int rounds = 0; rounds < 20 && (o[0].calls + o[1].calls + o[2].calls) < 3; rounds++)
		run_for(base, 2000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_false(o[i].called_inside_add);
		assert_int_equal(o[i].result, CURLE_OK);
		assert_int_equal(o[i].status, 204);
		curl_easy_cleanup(easy[i]);
	}
	assert_int_equal(srv.accepted, 3);
	/* Nothing more is reported, however long the loop runs. */
	run_for(base, 50);
	for (int i = 0; i < 3; i++)
		assert_int_equal(o[i].calls, 1);

	curl_loop_free(loop);
	server_stop(&srv);
	event_base_free(base);
}

static void test_timeouts_come_through_the_timer(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct server srv;
	server_start(&srv, base, true);
	struct curl_loop *loop = curl_loop_new(base);
	assert_non_null(loop);

	struct outcome o = {.base = base};
	CURL *easy = easy_for(&srv, 200);
	assert_true(curl_loop_add(loop, easy, done_cb, &o));
	for (int rounds = 0; rounds < 10 && o.calls == 0; rounds++)
		run_for(base, 1000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.result, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(srv.accepted, 1);
	curl_easy_cleanup(easy);

	curl_loop_free(loop);
	server_stop(&srv);
	event_base_free(base);
}

static void test_a_cancelled_transfer_is_never_reported(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct server srv;
	server_start(&srv, base, true);
	struct curl_loop *loop = curl_loop_new(base);
	assert_non_null(loop);

	struct outcome o = {.base = base};
	CURL *easy = easy_for(&srv, 300);
	assert_true(curl_loop_add(loop, easy, done_cb, &o));
	for (int rounds = 0; rounds < 20 && srv.accepted == 0; rounds++)
		run_for(base, 20);
	assert_int_equal(srv.accepted, 1);
	curl_loop_cancel(loop, easy);
	curl_easy_cleanup(easy);
	run_for(base, 500); /* past its timeout: still nothing */
	assert_int_equal(o.calls, 0);
	/* Cancelling what the loop no longer has is harmless. */
	CURL *other = easy_for(&srv, 1000);
	curl_loop_cancel(loop, other);
	curl_easy_cleanup(other);

	curl_loop_free(loop);
	server_stop(&srv);
	event_base_free(base);
}

static void test_the_loop_can_be_freed_with_transfers_in_flight(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct server srv;
	server_start(&srv, base, true);
	struct curl_loop *loop = curl_loop_new(base);
	assert_non_null(loop);

	struct outcome o = {.base = base};
	CURL *easy[4];
	for (int i = 0; i < 4; i++) {
		easy[i] = easy_for(&srv, 10000);
		assert_true(curl_loop_add(loop, easy[i], done_cb, &o));
	}
	for (int rounds = 0; rounds < 50 && srv.accepted < 4; rounds++)
		run_for(base, 20);
	assert_int_equal(srv.accepted, 4);
	curl_loop_free(loop); /* no callbacks; the handles stay ours */
	assert_int_equal(o.calls, 0);
	for (int i = 0; i < 4; i++)
		curl_easy_cleanup(easy[i]);
	server_stop(&srv);
	event_base_free(base);
}

int main(void)
{
	char error[256];
	if (!curl_loop_global_init(error, sizeof error)) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transfers_run_to_their_end_and_are_reported_once),
	    cmocka_unit_test(test_timeouts_come_through_the_timer),
	    cmocka_unit_test(test_a_cancelled_transfer_is_never_reported),
	    cmocka_unit_test(test_the_loop_can_be_freed_with_transfers_in_flight),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_loop_global_cleanup();
	return failed;
}
