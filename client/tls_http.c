/* HTTPS transport of the client (see tls_http.h), on libcurl: one easy handle for the whole run,
 * driven through a multi handle so that its connection stays open from one request to the next
 * (the pages of a list share one TLS connection) and so that a wait can end at once on a signal
 * or after the request's silence timeout. Proxies come from the environment, as curl reads them.
 * Every failure is classified from curl's result, the OpenSSL verification result and the TLS
 * alert the server sent, so the user is told in plain words what went wrong. */
#include "tls_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "dates.h"
#include "http_answer.h"
#include "http_parse.h"

#define CONNECT_TIMEOUT_MS 10000
#define DEFAULT_READ_TIMEOUT_MS 10000
#define MAX_BODY_BYTES (64 * 1024 * 1024)
/* Longest single wait in the transfer loop, so timeouts are checked at least this often. */
#define MAX_POLL_MS 1000

/* A transfer handle and the connection it keeps. Requests normally take turns on the first;
 * the second serves a request made while the first is busy, from inside its sink (`watch`
 * looks up a resident's name while an alert arrives), since curl cannot be re-entered. */
struct lane {
	CURLM *multi; /* owns the connection cache: connections outlive a request */
	CURL *easy;   /* the transfer handle, set up anew for each request */
	bool busy;
	int alert; /* the fatal TLS alert the server sent, -1 if none */
	char curl_error[CURL_ERROR_SIZE];
};

#define LANES 2

struct http_client {
	const struct client_config *config;
	struct url url;
	char base_url[600];           /* https://host:port/prefix, what request paths follow */
	bool own_certificate_expired; /* noticed locally, to explain a refusal better */
	struct lane lanes[LANES];     /* created on first use */
};

/* One request in flight: where its body goes and when bytes last arrived. */
struct transfer {
	struct http_client *client;
	struct lane *lane;
	const struct http_request *request;
	struct http_response *response;
	char *body;
	size_t body_len, body_cap;
	bool decided; /* to_sink is known (the status has arrived) */
	bool to_sink;
	bool too_large;
	bool sink_failed;
	bool bad_header; /* a header line had a NUL byte: refused (see on_header) */
	bool head_ended; /* the blank line that ends the latest head has come */
	bool connected;  /* a connection was made or reused and the request is going out */
	bool answered;   /* some of the answer arrived */
	int64_t last_activity_ms;
};

bool net_failure_retryable(enum net_failure kind)
{
	return kind == NET_TIMEOUT || kind == NET_RESET;
}

static void set_error(struct net_error *error, enum net_failure kind, const char *detail)
{
	error->kind = kind;
	error->foreign_ca = false;
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

/* Index of the SSL_CTX slot that points back at the lane, for the TLS alert callback. */
static int client_ex_index = -1;

/* Records the fatal alert the server sends: with TLS 1.3 a refused client certificate is
 * announced this way after the handshake, and curl reports only "receive error". */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT || (ret >> 8) != SSL3_AL_FATAL)
		return;
	struct lane *lane = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), client_ex_index);
	if (lane != NULL)
		lane->alert = ret & 0xff;
}

static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	if (SSL_CTX_set_ex_data(ssl_ctx, client_ex_index, arg) != 1)
		return CURLE_OUT_OF_MEMORY;
	SSL_CTX_set_info_callback(ssl_ctx, on_tls_info);
	return CURLE_OK;
}

/* Loads the certificate, key and CA once with OpenSSL, so a configuration mistake is said
 * before anything is sent (exit 2) rather than as a failed connection. */
static bool check_credentials(struct http_client *client, char *err, size_t errlen)
{
	const struct client_config *config = client->config;
	char reason[160];
	bool ok = false;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		goto done;
	}
	if (SSL_CTX_load_verify_locations(ctx, config->ca, NULL) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load the CA file %s (%s)", config->ca, reason);
		goto done;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, config->cert) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load your certificate %s (%s)", config->cert, reason);
		goto done;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, config->key, SSL_FILETYPE_PEM) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(err, errlen, "cannot load your key %s (%s)", config->key, reason);
		goto done;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "the key %s does not belong to the certificate %s",
		         config->key, config->cert);
		goto done;
	}
	X509 *own = SSL_CTX_get0_certificate(ctx);
	if (own != NULL && X509_cmp_current_time(X509_get0_notAfter(own)) < 0)
		client->own_certificate_expired = true;
	ok = true;
done:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

struct http_client *http_client_new(const struct client_config *config, char *err, size_t errlen)
{
	struct http_client *client = calloc(1, sizeof(*client));
	if (client == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	client->config = config;
	if (!url_parse(config->url, &client->url, err, errlen) ||
	    !check_credentials(client, err, errlen))
		goto failed;
	const struct url *url = &client->url;
	snprintf(client->base_url, sizeof(client->base_url), "https://%s%s%s:%s%s",
	         url->host_is_ipv6 ? "[" : "", url->host, url->host_is_ipv6 ? "]" : "", url->port,
	         url->prefix);
	if (client_ex_index < 0)
		client_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (client_ex_index < 0) {
		snprintf(err, errlen, "cannot set up TLS (out of memory?)");
		goto failed;
	}
	return client;

failed:
	http_client_free(client);
	return NULL;
}

void http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	for (int i = 0; i < LANES; i++) {
		if (client->lanes[i].easy != NULL)
			curl_easy_cleanup(client->lanes[i].easy);
		if (client->lanes[i].multi != NULL)
			curl_multi_cleanup(client->lanes[i].multi);
	}
	free(client);
}

/* True if the environment names a proxy for https URLs (no_proxy may still exempt the server),
 * so that a refused connection may be the proxy's: curl's message then names the address. */
static bool proxy_set(void)
{
	static const char *const names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *value = getenv(names[i]);
		if (value != NULL && value[0] != '\0')
			return true;
	}
	return false;
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
		snprintf(out, outlen,
		         "the server %s port %s refused the connection (is rollcalld running "
		         "there?)%s%s%s",
		         url->host, url->port,
		         proxy_set() ? " (a proxy is set in the environment: " : "",
		         proxy_set() ? detail : "", proxy_set() ? ")" : "");
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
		/* Most often a server of another deployment, or a ca file from one. */
		snprintf(out, outlen,
		         "the server's certificate was not issued by the CA in %s (a foreign CA: "
		         "another deployment's server, or the wrong ca file) (%s)",
		         ca, detail);
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
		/* Accounts are checked after TLS (a 403 names them): a refusal here is about the
		 * certificate itself. */
		if (error->foreign_ca)
			snprintf(
			    out, outlen,
			    "the server does not trust the CA that issued your certificate %s: it "
			    "is from a foreign CA, not this deployment's (%s)",
			    client->config->cert, detail);
		else
			snprintf(out, outlen, "the server refused your certificate %s%s (%s)",
			         client->config->cert,
			         client->own_certificate_expired ? ": it has expired" : "", detail);
		break;
	case NET_PROXY:
		snprintf(out, outlen,
		         "the proxy (from https_proxy or all_proxy) did not connect rollcall to "
		         "%s port %s (%s)",
		         url->host, url->port, detail);
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

static bool body_append(struct transfer *t, const char *data, size_t len)
{
	if (t->body_len + len > MAX_BODY_BYTES) {
		t->too_large = true;
		return false;
	}
	if (t->body_len + len + 1 > t->body_cap) {
		size_t cap = t->body_cap ? t->body_cap : 4096;
		while (cap < t->body_len + len + 1)
			cap *= 2;
		char *grown = realloc(t->body, cap);
		if (grown == NULL)
			return false;
		t->body = grown;
		t->body_cap = cap;
	}
	memcpy(t->body + t->body_len, data, len);
	t->body_len += len;
	t->body[t->body_len] = '\0';
	return true;
}

/* The body: to the caller's sink for a 2xx answer, else into the buffer. Returning less than
 * was given makes curl stop with CURLE_WRITE_ERROR. */
static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * count;
	t->last_activity_ms = monotonic_ms();
	if (len == 0)
		return 0;
	if (!t->decided) {
		long status = 0;
		(void)curl_easy_getinfo(t->lane->easy, CURLINFO_RESPONSE_CODE, &status);
		t->to_sink = t->request->sink != NULL && status >= 200 && status < 300;
		t->decided = true;
	}
	if (t->to_sink) {
		t->response->sink_used = true;
		if (!t->request->sink(t->request->sink_arg, data, len)) {
			t->sink_failed = true;
			return 0;
		}
		return len;
	}
	return body_append(t, data, len) ? len : 0;
}

/* A header line with a NUL byte is refused here (RFC 9110 5.5 allows that). libcurl 7.88
 * refuses one only when the NUL starts a read of its own; met inside a read it ends the head
 * there and takes the answer as complete, body dropped, without passing the blank line that
 * ends a head: so an answer counts only once that line came (take_answer). Found by
 * fuzz_http_response (the same answer taken whole, refused a byte at a time). Returning less
 * than was given makes curl stop with CURLE_WRITE_ERROR. */
static size_t on_header(char *data, size_t size, size_t count, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * count;
	t->last_activity_ms = monotonic_ms();
	t->answered = true;
	if (memchr(data, '\0', len) != NULL) {
		t->bad_header = true;
		return 0;
	}
	/* A status line starts a head (after a 1xx, another); trailers come after its end. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
		t->head_ended = false;
	else if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n'))
		t->head_ended = true;
	return len;
}

/* Called once the connection is made (or reused): the silence timeout starts here, the
 * connection phase having its own. */
static int on_connected(void *arg, char *primary_ip, char *local_ip, int primary_port,
                        int local_port)
{
	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	struct transfer *t = arg;
	t->connected = true;
	t->last_activity_ms = monotonic_ms();
	return CURL_PREREQFUNC_OK;
}

/* The alerts by which a server refuses our certificate. */
static bool classify_alert(int alert, struct net_error *error)
{
	char detail[128];
	snprintf(detail, sizeof(detail), "the server says: %s",
	         SSL_alert_desc_string_long(SSL3_AL_FATAL << 8 | alert));
	switch (alert) {
	case SSL3_AD_CERTIFICATE_REVOKED:
	case SSL3_AD_CERTIFICATE_EXPIRED:
		set_error(error, NET_CLIENT_REVOKED, detail);
		return true;
	case TLS1_AD_UNKNOWN_CA:
		set_error(error, NET_CLIENT_REFUSED, detail);
		error->foreign_ca = true;
		return true;
	case TLS13_AD_CERTIFICATE_REQUIRED:
	case SSL3_AD_BAD_CERTIFICATE:
	case SSL3_AD_CERTIFICATE_UNKNOWN:
	case TLS1_AD_ACCESS_DENIED:
		set_error(error, NET_CLIENT_REFUSED, detail);
		return true;
	default:
		return false;
	}
}

/* curl results whose meaning does not depend on anything else. */
static const struct {
	CURLcode code;
	enum net_failure kind;
	const char *detail; /* NULL: curl's own message */
} plain_results[] = {
    {CURLE_COULDNT_RESOLVE_HOST, NET_RESOLVE, NULL},
    {CURLE_COULDNT_RESOLVE_PROXY, NET_PROXY, NULL},
    {CURLE_GOT_NOTHING, NET_RESET, "the server closed the connection without answering"},
    {CURLE_PARTIAL_FILE, NET_RESET,
     "the server closed the connection before the whole answer arrived"},
    {CURLE_RECV_ERROR, NET_RESET, NULL},
    {CURLE_SEND_ERROR, NET_RESET, NULL},
    {CURLE_WEIRD_SERVER_REPLY, NET_PROTOCOL, NULL},
    {CURLE_BAD_CONTENT_ENCODING, NET_PROTOCOL, NULL},
    {CURLE_UNSUPPORTED_PROTOCOL, NET_PROTOCOL, NULL},
    {CURLE_HTTP2, NET_PROTOCOL, NULL},
    {CURLE_OUT_OF_MEMORY, NET_LOCAL, "out of memory"},
    {CURLE_SSL_CERTPROBLEM, NET_LOCAL, NULL},
    {CURLE_SSL_CACERT_BADFILE, NET_LOCAL, NULL},
};

/* Turns a failed transfer into a net_error: what we stopped ourselves, then the alert the
 * server sent (it does not trust us), the verification of its certificate (we do not trust
 * it), the proxy's answer, and last curl's result. */
static void classify(struct transfer *t, CURLcode code, struct net_error *error)
{
	struct lane *lane = t->lane;
	const char *said = lane->curl_error[0] ? lane->curl_error : curl_easy_strerror(code);
	long number = 0;

	if (code == CURLE_WRITE_ERROR) {
		if (t->sink_failed)
			set_error(error, NET_LOCAL, "the answer could not be written out");
		else if (t->bad_header)
			set_error(error, NET_PROTOCOL, "the answer has a NUL byte in a header");
		else if (t->too_large)
			set_error(error, NET_PROTOCOL, "the answer is too large");
		else
			set_error(error, NET_LOCAL, "out of memory");
		return;
	}
	if (code == CURLE_PEER_FAILED_VERIFICATION) {
		(void)curl_easy_getinfo(lane->easy, CURLINFO_SSL_VERIFYRESULT, &number);
		/* curl checks the name itself once OpenSSL has verified the chain; before that
		 * the result reads X509_V_ERR_UNSPECIFIED, "not verified yet". */
		if (number == X509_V_OK || number == X509_V_ERR_UNSPECIFIED ||
		    number == X509_V_ERR_HOSTNAME_MISMATCH ||
		    number == X509_V_ERR_IP_ADDRESS_MISMATCH)
			set_error(error, NET_SERVER_NAME, said);
		else
			set_error(error, NET_SERVER_UNTRUSTED,
			          X509_verify_cert_error_string(number));
		return;
	}
	if (lane->alert >= 0 && classify_alert(lane->alert, error))
		return;
	if (curl_easy_getinfo(lane->easy, CURLINFO_HTTP_CONNECTCODE, &number) == CURLE_OK &&
	    number != 0 && (number < 200 || number > 299)) {
		char detail[64];
		snprintf(detail, sizeof(detail), "it answered %ld to CONNECT", number);
		set_error(error, NET_PROXY, detail);
		return;
	}
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		(void)curl_easy_getinfo(lane->easy, CURLINFO_OS_ERRNO, &number);
		if (number == ECONNREFUSED)
			set_error(error, NET_REFUSED, said);
		else if (number == ETIMEDOUT)
			set_error(error, NET_TIMEOUT, "no answer to the connection attempt");
		else
			set_error(error, NET_UNREACHABLE, said);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		set_error(error, NET_TIMEOUT,
		          t->connected ? NULL : "no answer to the connection attempt");
		return;
	case CURLE_SSL_CONNECT_ERROR:
		if (strstr(said, "wrong version number") != NULL ||
		    strstr(said, "packet length too long") != NULL) {
			/* The start of curl's message is enough beside the hint. */
			snprintf(error->detail, sizeof(error->detail),
			         "%.200s: is this the rollcalld HTTPS port?", said);
			error->kind = NET_TLS;
		} else if (strstr(said, "SSL_ERROR_SYSCALL") != NULL ||
		           strstr(said, "reset by peer") != NULL) {
			set_error(error, NET_RESET,
			          "the server closed the connection during the handshake");
		} else {
			set_error(error, NET_TLS, said);
		}
		return;
	default:
		break;
	}
	for (size_t i = 0; i < sizeof(plain_results) / sizeof(plain_results[0]); i++) {
		if (plain_results[i].code == code) {
			set_error(error, plain_results[i].kind,
			          plain_results[i].detail ? plain_results[i].detail : said);
			return;
		}
	}
	set_error(error, NET_TLS, said);
}

/* The signals a wait may be interrupted by: blocked now, unblocked in the wait mask. They stay
 * blocked while curl waits; a signalfd makes their arrival wake the wait. */
static int wait_signals_fd(const sigset_t *wait_mask)
{
	sigset_t current, wake;
	if (wait_mask == NULL || sigprocmask(SIG_BLOCK, NULL, &current) != 0)
		return -1;
	sigemptyset(&wake);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&current, sig) == 1 && sigismember(wait_mask, sig) == 0)
			sigaddset(&wake, sig);
	return signalfd(-1, &wake, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Lets pending signals run their handlers, as a wait under the wait mask would. */
static void deliver_signals(const sigset_t *wait_mask)
{
	sigset_t old;
	if (sigprocmask(SIG_SETMASK, wait_mask, &old) == 0)
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Mutual TLS: our certificate, and the server verified against `ca` only (not the system's CAs)
 * and its host name or address; version is TLS 1.2 at least. */
static bool set_tls(CURL *easy, const struct client_config *config, struct lane *lane, long version)
{
	return curl_easy_setopt(easy, CURLOPT_SSLCERT, config->cert) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSLKEY, config->key) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_CAINFO, config->ca) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_CAPATH, NULL) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSLVERSION, version) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NO_PARTIALCHAIN) ==
	           CURLE_OK &&
	       /* One connection lasts the run: nothing to gain from resuming TLS sessions. */
	       curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, lane) == CURLE_OK;
}

static size_t discard(char *data, size_t size, size_t count, void *arg)
{
	(void)data;
	(void)arg;
	return size * count;
}

/* Asks the server once more, on a connection of its own that only shakes hands (TLS 1.3,
 * CONNECT_ONLY) and then reads: the alert a server sends when it refuses the certificate after
 * the handshake is read here, because nothing is written that the server's close could reset.
 * Records the alert in probe->alert. */
static void probe_tls13(struct http_client *client, const char *url, struct lane *probe)
{
	CURL *easy = curl_easy_init();
	if (easy == NULL)
		return;
	curl_socket_t fd = CURL_SOCKET_BAD;
	bool ok = curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L) == CURLE_OK &&
	          set_tls(easy, client->config, probe, CURL_SSLVERSION_TLSv1_3) &&
	          curl_easy_perform(easy) == CURLE_OK &&
	          curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
	          fd != CURL_SOCKET_BAD;
	/* Up to 2 s for the server's verdict: an alert (refused) or nothing (it waits for a
	 * request, so the certificate was taken). */
	for (int waited = 0; ok && probe->alert < 0 && waited < 20; waited++) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) < 0)
			break;
		char byte;
		size_t got = 0;
		CURLcode rc = curl_easy_recv(easy, &byte, 1, &got);
		if (rc != CURLE_AGAIN && rc != CURLE_OK)
			break;
		if (rc == CURLE_OK && got == 0)
			break; /* closed without an alert */
	}
	curl_easy_cleanup(easy);
}

/* With TLS 1.3 the server refuses a client certificate after the handshake, with an alert and
 * a close that can reset the connection before the alert is read: curl then reports a lost
 * connection. A connection lost right after the handshake is therefore probed once more,
 * without sending anything (probe_tls13), and, for a server that still speaks TLS 1.2, as TLS
 * 1.2 with GET /healthz (no side effects), where the refusal comes within the handshake: to
 * tell "refused your certificate" from a network failure. */
static void probe_refusal(struct http_client *client, struct net_error *error)
{
	struct lane probe = {.alert = -1};
	char url[sizeof(client->base_url) + 16];
	snprintf(url, sizeof(url), "%s/healthz", client->base_url);
	probe_tls13(client, url, &probe);
	struct net_error refused;
	if (probe.alert >= 0 && classify_alert(probe.alert, &refused)) {
		*error = refused;
		return;
	}
	probe.alert = -1;
	CURL *easy = curl_easy_init();
	if (easy == NULL)
		return;
	bool ok = curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	          set_tls(easy, client->config, &probe,
	                  CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2);
	if (ok && curl_easy_perform(easy) != CURLE_OK && probe.alert >= 0 &&
	    classify_alert(probe.alert, &refused))
		*error = refused;
	curl_easy_cleanup(easy);
}

static bool setup(struct transfer *t, struct curl_slist **headers)
{
	struct http_client *client = t->client;
	const struct http_request *request = t->request;
	const struct client_config *config = client->config;
	CURL *easy = t->lane->easy;
	char line[300];
	char url[sizeof(client->base_url) + 2048];

	if (snprintf(url, sizeof(url), "%s%s", client->base_url, request->path) >= (int)sizeof(url))
		return false;
	snprintf(line, sizeof(line), "Accept: %s",
	         request->accept ? request->accept : "application/json");
	struct curl_slist *list = curl_slist_append(NULL, line);
	*headers = list;
	if (list == NULL)
		return false;
	/* No "Expect: 100-continue" round trip for our small bodies. */
	if (curl_slist_append(list, "Expect:") == NULL)
		return false;
	if (request->body != NULL &&
	    curl_slist_append(list, "Content-Type: application/json") == NULL)
		return false;
	if (request->idempotency_key != NULL) {
		snprintf(line, sizeof(line), "Idempotency-Key: %s", request->idempotency_key);
		if (curl_slist_append(list, line) == NULL)
			return false;
	}
	if (request->last_event_id != NULL) {
		snprintf(line, sizeof(line), "Last-Event-ID: %s", request->last_event_id);
		if (curl_slist_append(list, line) == NULL)
			return false;
	}

	/* Every option is set for every request: nothing of the previous one lingers. The proxy
	 * options are left alone, so curl takes https_proxy, no_proxy etc. from the
	 * environment. */
	curl_easy_reset(easy);
	bool ok = curl_easy_setopt(easy, CURLOPT_URL, url) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_USERAGENT, "rollcall/0.1") == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->lane->curl_error) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS) ==
	              CURLE_OK &&
	          set_tls(easy, config, t->lane, CURL_SSLVERSION_TLSv1_2) &&
	          curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_WRITEDATA, t) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_HEADERDATA, t) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_connected) == CURLE_OK &&
	          curl_easy_setopt(easy, CURLOPT_PREREQDATA, t) == CURLE_OK;
	if (!ok)
		return false;
	if (strcmp(request->method, "GET") == 0)
		return curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	return curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len) ==
	           CURLE_OK &&
	       curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body ? request->body : "") ==
	           CURLE_OK &&
	       (strcmp(request->method, "POST") == 0 ||
	        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method) == CURLE_OK);
}

/* Why the transfer loop ended early, if it did. */
enum stopped_by { STOPPED_NOT, STOPPED_SIGNAL, STOPPED_SILENCE, STOPPED_CURL };

/* Drives the transfer until curl is done with it, a signal asks to stop, or the server has
 * been silent for the request's timeout. */
static enum stopped_by run_transfer(struct transfer *t, CURLcode *result)
{
	struct lane *lane = t->lane;
	const struct http_request *request = t->request;
	int timeout_ms =
	    request->read_timeout_ms > 0 ? request->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
	int signal_fd = wait_signals_fd(request->wait_mask);
	enum stopped_by stopped = STOPPED_NOT;

	*result = CURLE_OK;
	for (;;) {
		int running = 0;
		if (curl_multi_perform(lane->multi, &running) != CURLM_OK) {
			stopped = STOPPED_CURL;
			break;
		}
		if (running == 0)
			break;
		if (request->stop != NULL && *request->stop) {
			stopped = STOPPED_SIGNAL;
			break;
		}
		int wait_ms = MAX_POLL_MS;
		if (t->connected) {
			int64_t left = t->last_activity_ms + timeout_ms - monotonic_ms();
			if (left <= 0) {
				stopped = STOPPED_SILENCE;
				break;
			}
			if (left < wait_ms)
				wait_ms = (int)left;
		}
		struct curl_waitfd extra = {.fd = signal_fd, .events = CURL_WAIT_POLLIN};
		if (curl_multi_poll(lane->multi, signal_fd >= 0 ? &extra : NULL,
		                    signal_fd >= 0 ? 1 : 0, wait_ms, NULL) != CURLM_OK) {
			stopped = STOPPED_CURL;
			break;
		}
		if (signal_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN))
			deliver_signals(request->wait_mask);
	}
	if (signal_fd >= 0)
		close(signal_fd);
	if (stopped == STOPPED_NOT) {
		int left;
		CURLMsg *message;
		while ((message = curl_multi_info_read(lane->multi, &left)) != NULL)
			if (message->msg == CURLMSG_DONE && message->easy_handle == lane->easy)
				*result = message->data.result;
	}
	return stopped;
}

/* The values of up to MAX_LENGTHS Content-Length headers of the answer; a count above that
 * counts as a disagreement (no honest server sends so many). */
#define MAX_LENGTHS 8

static bool lengths_agree(CURL *easy)
{
	const char *values[MAX_LENGTHS];
	size_t count = 0;
	struct curl_header *header = NULL;
	if (curl_easy_header(easy, "Content-Length", 0, CURLH_HEADER, -1, &header) != CURLHE_OK)
		return true;
	if (header->amount > MAX_LENGTHS)
		return false;
	for (size_t i = 0; i < header->amount; i++) {
		struct curl_header *one = NULL;
		if (curl_easy_header(easy, "Content-Length", i, CURLH_HEADER, -1, &one) !=
		    CURLHE_OK)
			return false;
		values[count++] = one->value;
	}
	return http_lengths_agree(values, count);
}

/* Status, media type and Date of a complete answer; false with *error for one rollcall must not
 * act on (http_answer.h): a status HTTP does not have, differing Content-Lengths. */
static bool read_head(struct lane *lane, struct http_response *response, struct net_error *error)
{
	long status = 0;
	char *type = NULL;
	struct curl_header *date = NULL;

	(void)curl_easy_getinfo(lane->easy, CURLINFO_RESPONSE_CODE, &status);
	if (!http_status_final(status)) {
		char detail[64];
		snprintf(detail, sizeof(detail), "HTTP has no status %ld", status);
		set_error(error, NET_PROTOCOL, detail);
		return false;
	}
	if (!lengths_agree(lane->easy)) {
		set_error(error, NET_PROTOCOL, "the answer has Content-Length headers that differ");
		return false;
	}
	response->status = (int)status;
	if (curl_easy_getinfo(lane->easy, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK &&
	    type != NULL) {
		/* Lower-cased, without parameters. */
		size_t n = strcspn(type, "; \t");
		if (n >= sizeof(response->content_type))
			n = sizeof(response->content_type) - 1;
		for (size_t i = 0; i < n; i++)
			response->content_type[i] = (char)tolower((unsigned char)type[i]);
		response->content_type[n] = '\0';
	}
	time_t when;
	if (curl_easy_header(lane->easy, "Date", 0, CURLH_HEADER, -1, &date) == CURLHE_OK &&
	    http_date_parse(date->value, &when))
		response->date = when;
	return true;
}

/* A transfer that curl finished: its head checked, its body handed to the response. */
static bool take_answer(struct transfer *t, struct net_error *error)
{
	struct http_response *response = t->response;
	if (!t->head_ended) {
		set_error(error, NET_PROTOCOL, "the answer's head did not end as HTTP's does");
		return false;
	}
	if (!read_head(t->lane, response, error))
		return false;
	response->body = t->body ? t->body : strdup("");
	response->body_len = t->body_len;
	t->body = NULL;
	if (response->body == NULL) {
		set_error(error, NET_LOCAL, "out of memory");
		return false;
	}
	return true;
}

/* Long because it is the one place a request is set up on the curl handle and its failure
 * explained; the option list is long, the logic is not. */
bool http_exchange(struct http_client *client, const struct http_request *request,
                   struct http_response *response, struct net_error *error)
{
	struct transfer t = {.client = client, .request = request, .response = response};
	struct curl_slist *headers = NULL;
	bool ok = false;
	CURLcode result = CURLE_OK;

	memset(response, 0, sizeof(*response));
	error->kind = NET_NONE;
	error->detail[0] = '\0';
	for (int i = 0; i < LANES && t.lane == NULL; i++)
		if (!client->lanes[i].busy)
			t.lane = &client->lanes[i];
	if (t.lane == NULL) {
		set_error(error, NET_LOCAL, "too many requests at once");
		return false;
	}
	struct lane *lane = t.lane;
	if (lane->multi == NULL)
		lane->multi = curl_multi_init();
	if (lane->easy == NULL)
		lane->easy = curl_easy_init();
	if (lane->multi == NULL || lane->easy == NULL) {
		set_error(error, NET_LOCAL, "cannot set up libcurl (out of memory?)");
		return false;
	}
	lane->busy = true;
	lane->alert = -1;
	lane->curl_error[0] = '\0';

	if (!setup(&t, &headers)) {
		set_error(error, NET_LOCAL, "cannot set up the request (out of memory?)");
		goto done;
	}
	if (curl_multi_add_handle(lane->multi, lane->easy) != CURLM_OK) {
		set_error(error, NET_LOCAL, "cannot start the request (out of memory?)");
		goto done;
	}
	enum stopped_by stopped = run_transfer(&t, &result);
	switch (stopped) {
	case STOPPED_NOT:
		if (result == CURLE_OK) {
			ok = take_answer(&t, error);
		} else {
			classify(&t, result, error);
			if (error->kind == NET_RESET && t.connected && !t.answered)
				probe_refusal(client, error);
		}
		break;
	case STOPPED_SIGNAL:
		set_error(error, NET_INTERRUPTED, NULL);
		break;
	case STOPPED_SILENCE:
		set_error(error, NET_TIMEOUT, NULL);
		break;
	case STOPPED_CURL:
		set_error(error, NET_LOCAL, "libcurl failed (out of memory?)");
		break;
	}
	/* A transfer removed before it finished takes its connection with it; a finished one
	 * leaves it in the multi handle's cache for the next request. */
	(void)curl_multi_remove_handle(lane->multi, lane->easy);
	if (!ok) {
		/* Nothing of a failed attempt is kept: a retry gets new handles and so a new
		 * connection, never one left in doubt. */
		curl_easy_cleanup(lane->easy);
		curl_multi_cleanup(lane->multi);
		lane->easy = NULL;
		lane->multi = NULL;
	}

done:
	lane->busy = false;
	curl_slist_free_all(headers);
	free(t.body);
	return ok;
}

void http_response_free(struct http_response *response)
{
	free(response->body);
	memset(response, 0, sizeof(*response));
}
