/* HTTPS transport of the client (see tls_http.h): TCP connect with a deadline, the TLS handshake
 * with the staff member's certificate, one HTTP/1.1 request, and the answer read with
 * Content-Length, chunked coding or until close. Every TLS failure is classified so the user is
 * told in plain words whether the server is not trusted or refused them. */
#include "tls_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"

#define CONNECT_TIMEOUT_MS 10000
#define DEFAULT_READ_TIMEOUT_MS 10000
#define MAX_HEAD_BYTES (64 * 1024)
#define MAX_BODY_BYTES (64 * 1024 * 1024)

struct http_client {
	const struct client_config *config;
	struct url url;
	SSL_CTX *ctx;
	bool own_certificate_expired; /* noticed locally, to explain a refusal better */
};

/* One connection: the socket and its TLS state, and what the request allows for waits. */
struct connection {
	int fd;
	SSL *ssl;
	const struct http_request *request;
};

bool net_failure_retryable(enum net_failure kind)
{
	return kind == NET_TIMEOUT || kind == NET_RESET;
}

static void set_error(struct net_error *error, enum net_failure kind, const char *detail)
{
	error->kind = kind;
	snprintf(error->detail, sizeof(error->detail), "%s", detail ? detail : "");
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_INTERRUPTED, WAIT_ERROR };

/* Waits for events on fd (or just time, with fd < 0) until deadline_ms (monotonic). Signals that
 * arrive while waiting are handled; if they set *stop the wait ends. */
static enum wait_result wait_until(int fd, short events, int64_t deadline_ms,
                                   const sigset_t *wait_mask, volatile sig_atomic_t *stop)
{
	for (;;) {
		if (stop != NULL && *stop)
			return WAIT_INTERRUPTED;
		int64_t left = deadline_ms - monotonic_ms();
		if (left <= 0)
			return fd < 0 ? WAIT_READY : WAIT_TIMEOUT;
		struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = ppoll(fd < 0 ? NULL : &pfd, fd < 0 ? 0 : 1, &ts, wait_mask);
		if (n > 0)
			return WAIT_READY;
		if (n < 0 && errno != EINTR)
			return WAIT_ERROR;
	}
}

bool http_sleep(int ms, const sigset_t *wait_mask, volatile sig_atomic_t *stop)
{
	return wait_until(-1, 0, monotonic_ms() + ms, wait_mask, stop) == WAIT_READY;
}

bool http_new_idempotency_key(char out[33])
{
	unsigned char random[16];
	if (RAND_bytes(random, sizeof(random)) != 1)
		return false;
	for (size_t i = 0; i < sizeof(random); i++)
		snprintf(out + 2 * i, 3, "%02x", random[i]);
	return true;
}

struct http_client *http_client_new(const struct client_config *config, char *err, size_t errlen)
{
	struct http_client *client = calloc(1, sizeof(*client));
	if (client == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	client->config = config;
	if (!url_parse(config->url, &client->url, err, errlen))
		goto failed;

	client->ctx = SSL_CTX_new(TLS_client_method());
	if (client->ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		goto failed;
	}
	/* Nothing older than TLS 1.2: the daemon will not offer it and neither should we. */
	if (SSL_CTX_set_min_proto_version(client->ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "cannot require TLS 1.2");
		goto failed;
	}
	char reason[160];
	if (SSL_CTX_load_verify_locations(client->ctx, config->ca, NULL) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load the CA file %s (%s)", config->ca, reason);
		goto failed;
	}
	if (SSL_CTX_use_certificate_chain_file(client->ctx, config->cert) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load your certificate %s (%s)", config->cert, reason);
		goto failed;
	}
	if (SSL_CTX_use_PrivateKey_file(client->ctx, config->key, SSL_FILETYPE_PEM) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load your key %s (%s)", config->key, reason);
		goto failed;
	}
	if (SSL_CTX_check_private_key(client->ctx) != 1) {
		snprintf(err, errlen, "the key %s does not belong to the certificate %s",
		         config->key, config->cert);
		goto failed;
	}
	SSL_CTX_set_verify(client->ctx, SSL_VERIFY_PEER, NULL);

	X509 *own = SSL_CTX_get0_certificate(client->ctx);
	if (own != NULL && X509_cmp_current_time(X509_get0_notAfter(own)) < 0)
		client->own_certificate_expired = true;
	ERR_clear_error();
	return client;

failed:
	ERR_clear_error();
	http_client_free(client);
	return NULL;
}

void http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	SSL_CTX_free(client->ctx);
	free(client);
}

void http_explain(const struct http_client *client, const struct net_error *error, char *out,
                  size_t outlen)
{
	const struct url *url = &client->url;
	const char *ca = client->config->ca;
	const char *detail = error->detail;
	bool has_detail = detail[0] != '\0';

	switch (error->kind) {
	case NET_NONE:
		snprintf(out, outlen, "no error");
		break;
	case NET_RESOLVE:
		snprintf(out, outlen, "cannot find the server %s (%s)", url->host, detail);
		break;
	case NET_REFUSED:
		snprintf(
		    out, outlen,
		    "the server %s port %s refused the connection (is rollcalld running there?)",
		    url->host, url->port);
		break;
	case NET_UNREACHABLE:
		snprintf(out, outlen, "cannot reach the server %s port %s (%s)", url->host,
		         url->port, detail);
		break;
	case NET_TIMEOUT:
		snprintf(out, outlen, "the server %s port %s did not answer in time%s%s%s",
		         url->host, url->port, has_detail ? " (" : "", detail,
		         has_detail ? ")" : "");
		break;
	case NET_RESET:
		snprintf(out, outlen, "the connection to %s port %s was lost (%s)", url->host,
		         url->port, detail);
		break;
	case NET_SERVER_UNTRUSTED:
		snprintf(out, outlen, "the server's certificate is not trusted by %s (%s)", ca,
		         detail);
		break;
	case NET_SERVER_NAME:
		snprintf(out, outlen,
		         "the server's certificate is not issued for %s: check the url (%s)",
		         url->host, detail);
		break;
	case NET_CLIENT_REVOKED:
		snprintf(out, outlen, "your certificate was revoked or has expired (%s)", detail);
		break;
	case NET_CLIENT_REFUSED:
		snprintf(out, outlen,
		         "the server refused your certificate (is the account disabled or "
		         "unknown?)%s (%s)",
		         client->own_certificate_expired ? "; your certificate has expired" : "",
		         detail);
		break;
	case NET_TLS:
		snprintf(out, outlen, "the secure connection to %s port %s failed (%s)", url->host,
		         url->port, detail);
		break;
	case NET_PROTOCOL:
		snprintf(out, outlen, "the server %s sent an answer rollcall cannot read (%s)",
		         url->host, detail);
		break;
	case NET_INTERRUPTED:
		snprintf(out, outlen, "interrupted");
		break;
	case NET_LOCAL:
		snprintf(out, outlen, "%s", detail);
		break;
	}
}

/* Maps a connect() errno. */
static void connect_error(int err, struct net_error *error)
{
	switch (err) {
	case ECONNREFUSED:
		set_error(error, NET_REFUSED, strerror(err));
		break;
	case ETIMEDOUT:
		set_error(error, NET_TIMEOUT, "no answer to the connection attempt");
		break;
	default:
		set_error(error, NET_UNREACHABLE, strerror(err));
		break;
	}
}

/* Opens a TCP connection to the URL's host by any of its addresses before deadline_ms. */
static bool connect_tcp(struct http_client *client, const struct http_request *request,
                        int64_t deadline_ms, int *fd_out, struct net_error *error)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = client->url.host_is_ip ? AI_NUMERICHOST : 0,
	};
	struct addrinfo *addresses = NULL;
	int rc = getaddrinfo(client->url.host, client->url.port, &hints, &addresses);
	if (rc != 0) {
		set_error(error, rc == EAI_SYSTEM ? NET_UNREACHABLE : NET_RESOLVE,
		          rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return false;
	}

	set_error(error, NET_UNREACHABLE, "the host name has no usable address");
	int fd = -1;
	for (struct addrinfo *ai = addresses; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			connect_error(errno, error);
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			connect_error(errno, error);
			close(fd);
			fd = -1;
			continue;
		}
		enum wait_result waited =
		    wait_until(fd, POLLOUT, deadline_ms, request->wait_mask, request->stop);
		if (waited == WAIT_READY) {
			int so_error = 0;
			socklen_t len = sizeof(so_error);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 &&
			    so_error == 0)
				break;
			connect_error(so_error ? so_error : errno, error);
		} else if (waited == WAIT_INTERRUPTED) {
			set_error(error, NET_INTERRUPTED, NULL);
			close(fd);
			fd = -1;
			break;
		} else if (waited == WAIT_TIMEOUT) {
			set_error(error, NET_TIMEOUT, "no answer to the connection attempt");
		} else {
			connect_error(errno, error);
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(addresses);
	if (fd < 0)
		return false;

	/* Small requests should not wait for delayed ACKs. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_out = fd;
	error->kind = NET_NONE;
	error->detail[0] = '\0';
	return true;
}

/* Turns a failed TLS call into a net_error. Looks at the verification result first (the server
 * is not trusted), then at the alerts the server sent (it does not trust us), then at the socket.
 * Clears OpenSSL's error queue. Returns true when the failure is the peer closing the connection
 * without close_notify (which ends a body read until close). */
static bool classify_tls_failure(struct connection *conn, int ssl_error, int saved_errno,
                                 struct net_error *error)
{
	unsigned long code, chosen = 0;
	while ((code = ERR_get_error()) != 0) {
		if (chosen == 0 || ERR_GET_LIB(code) == ERR_LIB_SSL)
			chosen = code;
	}
	char text[200] = "";
	if (chosen != 0) {
		const char *reason = ERR_reason_error_string(chosen);
		snprintf(text, sizeof(text), "%s", reason ? reason : "unknown TLS error");
	}
	int reason = chosen != 0 && ERR_GET_LIB(chosen) == ERR_LIB_SSL ? ERR_GET_REASON(chosen) : 0;

	long verify = SSL_get_verify_result(conn->ssl);
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
		const char *why = X509_verify_cert_error_string(verify);
		if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
		    verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
			set_error(error, NET_SERVER_NAME, why);
		else
			set_error(error, NET_SERVER_UNTRUSTED, why);
		return false;
	}

	switch (reason) {
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		set_error(error, NET_CLIENT_REVOKED, "the server says: certificate revoked");
		return false;
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		set_error(error, NET_CLIENT_REVOKED, "the server says: certificate expired");
		return false;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		set_error(error, NET_CLIENT_REFUSED, text);
		return false;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		set_error(error, NET_RESET, "the server closed the connection");
		return true;
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		snprintf(error->detail, sizeof(error->detail),
		         "%s: is this the rollcalld HTTPS port?", text);
		error->kind = NET_TLS;
		return false;
	default:
		break;
	}
	if (reason != 0) {
		set_error(error, NET_TLS, text);
		return false;
	}
	if (ssl_error == SSL_ERROR_SYSCALL) {
		if (saved_errno == ETIMEDOUT)
			set_error(error, NET_TIMEOUT, strerror(saved_errno));
		else if (saved_errno != 0)
			set_error(error, NET_RESET, strerror(saved_errno));
		else
			set_error(error, NET_RESET, "the server closed the connection");
		return saved_errno == 0;
	}
	set_error(error, NET_TLS, text[0] ? text : "unknown TLS error");
	return false;
}

/* Runs one SSL call until it completes, waiting on the socket as it asks. op is called again
 * after each wait. Returns the call's positive result, 0 for a clean end of stream (reads), or
 * -1 with *error (SSL_RUN_UNCLEAN_EOF when the peer just closed the socket; *error says so). */
#define SSL_RUN_UNCLEAN_EOF (-2)
typedef int (*ssl_op_fn)(SSL *ssl, void *buf, int len);

static int op_connect(SSL *ssl, void *buf, int len)
{
	(void)buf;
	(void)len;
	return SSL_connect(ssl);
}

static int op_read(SSL *ssl, void *buf, int len)
{
	return SSL_read(ssl, buf, len);
}

static int op_write(SSL *ssl, void *buf, int len)
{
	return SSL_write(ssl, buf, len);
}

static int ssl_run(struct connection *conn, ssl_op_fn op, void *buf, int len, int timeout_ms,
                   int64_t deadline_ms, struct net_error *error)
{
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int rc = op(conn->ssl, buf, len);
		if (rc > 0)
			return rc;
		int saved_errno = errno;
		int ssl_error = SSL_get_error(conn->ssl, rc);
		short events;
		if (ssl_error == SSL_ERROR_WANT_READ)
			events = POLLIN;
		else if (ssl_error == SSL_ERROR_WANT_WRITE)
			events = POLLOUT;
		else if (ssl_error == SSL_ERROR_ZERO_RETURN)
			return 0; /* close_notify: a clean end */
		else
			return classify_tls_failure(conn, ssl_error, saved_errno, error)
			           ? SSL_RUN_UNCLEAN_EOF
			           : -1;
		int64_t until = deadline_ms > 0 ? deadline_ms : monotonic_ms() + timeout_ms;
		switch (wait_until(conn->fd, events, until, conn->request->wait_mask,
		                   conn->request->stop)) {
		case WAIT_READY:
			break;
		case WAIT_TIMEOUT:
			set_error(error, NET_TIMEOUT, NULL);
			return -1;
		case WAIT_INTERRUPTED:
			set_error(error, NET_INTERRUPTED, NULL);
			return -1;
		case WAIT_ERROR:
			set_error(error, NET_RESET, strerror(errno));
			return -1;
		}
	}
}

static bool tls_handshake(struct http_client *client, struct connection *conn, int64_t deadline_ms,
                          struct net_error *error)
{
	conn->ssl = SSL_new(client->ctx);
	if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1) {
		set_error(error, NET_LOCAL, "cannot set up TLS (out of memory?)");
		return false;
	}
	/* Verify the name the user configured: a DNS name (also sent as SNI) or an IP address. */
	bool named;
	if (client->url.host_is_ip) {
		named =
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl), client->url.host) == 1;
	} else {
		SSL_set_hostflags(conn->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		named = SSL_set_tlsext_host_name(conn->ssl, client->url.host) == 1 &&
		        SSL_set1_host(conn->ssl, client->url.host) == 1;
	}
	if (!named) {
		ERR_clear_error();
		set_error(error, NET_LOCAL, "cannot set the server name to verify");
		return false;
	}
	int rc = ssl_run(conn, op_connect, NULL, 0, CONNECT_TIMEOUT_MS, deadline_ms, error);
	if (rc == 0 || rc == SSL_RUN_UNCLEAN_EOF) {
		set_error(error, NET_RESET,
		          "the server closed the connection during the handshake");
		return false;
	}
	return rc > 0;
}

static void connection_close(struct connection *conn)
{
	if (conn->ssl != NULL) {
		/* One non-blocking attempt at close_notify; the server does not wait for it. */
		ERR_clear_error();
		(void)SSL_shutdown(conn->ssl);
		ERR_clear_error();
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	if (conn->fd >= 0) {
		close(conn->fd);
		conn->fd = -1;
	}
}

/* A growing byte buffer. */
struct buffer {
	char *data;
	size_t len, cap;
};

static bool buffer_append(struct buffer *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (grown == NULL)
			return false;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return true;
}

static bool build_request(const struct http_client *client, const struct http_request *request,
                          struct buffer *out)
{
	char host[300];
	const struct url *url = &client->url;
	bool default_port = strcmp(url->port, "443") == 0;
	snprintf(host, sizeof(host), "%s%s%s%s%s", url->host_is_ipv6 ? "[" : "", url->host,
	         url->host_is_ipv6 ? "]" : "", default_port ? "" : ":",
	         default_port ? "" : url->port);

	char *head = NULL;
	int n = asprintf(&head,
	                 "%s %s%s HTTP/1.1\r\n"
	                 "Host: %s\r\n"
	                 "User-Agent: rollcall/0.1\r\n"
	                 "Accept: %s\r\n"
	                 "Connection: close\r\n"
	                 "%s%s%s"
	                 "%s%s%s"
	                 "%s",
	                 request->method, url->prefix, request->path, host,
	                 request->accept ? request->accept : "application/json",
	                 request->idempotency_key ? "Idempotency-Key: " : "",
	                 request->idempotency_key ? request->idempotency_key : "",
	                 request->idempotency_key ? "\r\n" : "",
	                 request->last_event_id ? "Last-Event-ID: " : "",
	                 request->last_event_id ? request->last_event_id : "",
	                 request->last_event_id ? "\r\n" : "",
	                 request->body ? "Content-Type: application/json\r\n" : "");
	if (n < 0)
		return false;
	bool ok = buffer_append(out, head, (size_t)n);
	free(head);
	if (!ok)
		return false;
	if (request->body != NULL) {
		char length[64];
		int m = snprintf(length, sizeof(length), "Content-Length: %zu\r\n\r\n",
		                 request->body_len);
		return buffer_append(out, length, (size_t)m) &&
		       buffer_append(out, request->body, request->body_len);
	}
	return buffer_append(out, "\r\n", 2);
}

/* Where the body bytes go: the caller's sink for 2xx answers, else a buffer. */
struct body_target {
	struct http_response *response;
	const struct http_request *request;
	struct buffer buffer;
	bool to_sink;
	bool too_large;
	bool sink_failed;
};

static bool deliver(void *arg, const char *data, size_t len)
{
	struct body_target *target = arg;
	if (len == 0)
		return true;
	if (target->to_sink) {
		target->response->sink_used = true;
		if (!target->request->sink(target->request->sink_arg, data, len)) {
			target->sink_failed = true;
			return false;
		}
		return true;
	}
	if (target->buffer.len + len > MAX_BODY_BYTES) {
		target->too_large = true;
		return false;
	}
	if (!buffer_append(&target->buffer, data, len)) {
		target->too_large = true;
		return false;
	}
	return true;
}

/* Reads some bytes: >0 count, 0 end of stream (clean, or unclean when *unclean is set), -1
 * error. libevent closes without close_notify, which is harmless once the body's length is
 * known and otherwise the end of an until-close body. */
static int read_some(struct connection *conn, char *buf, int len, int timeout_ms, bool *unclean,
                     struct net_error *error)
{
	int rc = ssl_run(conn, op_read, buf, len, timeout_ms, 0, error);
	*unclean = rc == SSL_RUN_UNCLEAN_EOF;
	if (*unclean)
		return 0;
	return rc;
}

static bool read_response(struct connection *conn, const struct http_request *request,
                          struct http_response *response, struct net_error *error)
{
	int timeout_ms =
	    request->read_timeout_ms > 0 ? request->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
	struct buffer head = {0};
	struct http_head parsed;
	size_t head_len = 0;
	char chunk[16384];
	bool unclean = false;
	bool ok = false;
	struct body_target target = {.response = response, .request = request};

	/* The head, skipping any 1xx interim answers. */
	for (;;) {
		head_len = http_head_length(head.data ? head.data : "", head.len);
		if (head_len > 0) {
			char why[160];
			if (!http_head_parse(head.data, head_len, &parsed, why, sizeof(why))) {
				set_error(error, NET_PROTOCOL, why);
				goto done;
			}
			if (parsed.status >= 200)
				break;
			memmove(head.data, head.data + head_len, head.len - head_len);
			head.len -= head_len;
			continue;
		}
		if (head.len > MAX_HEAD_BYTES) {
			set_error(error, NET_PROTOCOL, "the answer's headers are too large");
			goto done;
		}
		int n = read_some(conn, chunk, sizeof(chunk), timeout_ms, &unclean, error);
		if (n < 0)
			goto done;
		if (n == 0) {
			set_error(error, NET_RESET,
			          head.len ? "the server closed the connection mid-answer"
			                   : "the server closed the connection without answering");
			goto done;
		}
		if (!buffer_append(&head, chunk, (size_t)n)) {
			set_error(error, NET_LOCAL, "out of memory");
			goto done;
		}
	}

	response->status = parsed.status;
	response->date = parsed.date;
	snprintf(response->content_type, sizeof(response->content_type), "%s", parsed.content_type);
	target.to_sink = request->sink != NULL && parsed.status >= 200 && parsed.status < 300;

	bool no_body = parsed.status == 204 || parsed.status == 304;
	struct chunked_decoder decoder;
	chunked_init(&decoder);
	int64_t remaining = parsed.content_length;
	const char *data = head.data + head_len;
	size_t data_len = head.len - head_len;
	bool finished = no_body || remaining == 0;

	while (!finished) {
		if (data_len > 0) {
			if (parsed.chunked) {
				bool stopped;
				(void)chunked_feed(&decoder, data, data_len, deliver, &target,
				                   &stopped);
				if (stopped)
					break;
				if (decoder.state == CHUNKED_ERROR) {
					set_error(error, NET_PROTOCOL, "bad chunked coding");
					goto done;
				}
				finished = decoder.state == CHUNKED_DONE;
			} else {
				size_t take = data_len;
				if (remaining >= 0 && (int64_t)take > remaining)
					take = (size_t)remaining;
				if (!deliver(&target, data, take))
					break;
				if (remaining >= 0) {
					remaining -= (int64_t)take;
					finished = remaining == 0;
				}
			}
			if (finished)
				break;
		}
		int n = read_some(conn, chunk, sizeof(chunk), timeout_ms, &unclean, error);
		if (n < 0)
			goto done;
		if (n == 0) {
			if (!parsed.chunked && remaining < 0) {
				finished = true; /* an until-close body ends here */
				break;
			}
			set_error(
			    error, NET_RESET,
			    "the server closed the connection before the whole answer arrived");
			goto done;
		}
		data = chunk;
		data_len = (size_t)n;
	}
	if (target.sink_failed) {
		set_error(error, NET_LOCAL, "the answer could not be written out");
		goto done;
	}
	if (target.too_large) {
		set_error(error, NET_PROTOCOL, "the answer is too large");
		goto done;
	}

	response->body = target.buffer.data ? target.buffer.data : strdup("");
	response->body_len = target.buffer.len;
	target.buffer.data = NULL;
	if (response->body == NULL) {
		set_error(error, NET_LOCAL, "out of memory");
		goto done;
	}
	ok = true;

done:
	free(head.data);
	free(target.buffer.data);
	return ok;
}

bool http_exchange(struct http_client *client, const struct http_request *request,
                   struct http_response *response, struct net_error *error)
{
	struct connection conn = {.fd = -1, .request = request};
	struct buffer out = {0};
	bool ok = false;

	memset(response, 0, sizeof(*response));
	error->kind = NET_NONE;
	error->detail[0] = '\0';

	if (!build_request(client, request, &out)) {
		set_error(error, NET_LOCAL, "out of memory");
		goto done;
	}
	int64_t deadline = monotonic_ms() + CONNECT_TIMEOUT_MS;
	if (!connect_tcp(client, request, deadline, &conn.fd, error))
		goto done;
	if (!tls_handshake(client, &conn, deadline, error))
		goto done;

	int timeout_ms =
	    request->read_timeout_ms > 0 ? request->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
	size_t sent = 0;
	while (sent < out.len) {
		size_t len = out.len - sent;
		int n = ssl_run(&conn, op_write, out.data + sent,
		                len > INT32_MAX ? INT32_MAX : (int)len, timeout_ms, 0, error);
		if (n <= 0) {
			/* With TLS 1.3 a refused certificate is announced by an alert after the
			 * handshake; if the write failed because the server hung up, the alert may
			 * still be waiting to be read and says more than "connection reset". */
			struct net_error after;
			char probe[256];
			bool unclean;
			if (n == 0 || n == SSL_RUN_UNCLEAN_EOF)
				set_error(error, NET_RESET, "the server closed the connection");
			if (error->kind == NET_RESET &&
			    read_some(&conn, probe, sizeof(probe), 1000, &unclean, &after) < 0 &&
			    (after.kind == NET_CLIENT_REFUSED || after.kind == NET_CLIENT_REVOKED))
				*error = after;
			goto done;
		}
		sent += (size_t)n;
	}
	ok = read_response(&conn, request, response, error);

done:
	connection_close(&conn);
	free(out.data);
	if (!ok) {
		free(response->body);
		response->body = NULL;
	}
	return ok;
}

void http_response_free(struct http_response *response)
{
	free(response->body);
	memset(response, 0, sizeof(*response));
}
