/* One webhook attempt: builds the signed POST on a curl easy handle, runs it on curl_loop, and
 * turns what curl reports (CURLcode, the certificate verification result, the status line) into
 * the outcome the sender records.
 *
 * Choices (docs/DESIGN.md, "Outgoing transfers"): HTTP/1.1, with the connection to an endpoint
 * kept open and reused by later attempts (a new TLS handshake per notification costs more than
 * the notification), never longer than WEBHOOK_CONNECTION_LIFETIME_S; TLS 1.2 or later with the
 * peer's certificate verified against our own X509_STORE (webhook_ca or the system store,
 * installed in each connection's SSL_CTX) and its name checked by curl; no redirects followed (a
 * 3xx is a failed attempt); the proxy of webhook_proxy (an HTTP CONNECT tunnel: TLS still runs
 * end to end) or none, whatever the environment says. The final status line is the verdict: what
 * follows it is read only so the connection can serve again, only while it is small and arrives
 * within WEBHOOK_TAIL_MS, and never decides anything. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "curl_loop.h"
#include "webhook_sign.h"
#include "webhook_transfer.h"

struct webhook_transfer {
	struct curl_loop *loop;
	CURL *easy;
	CURLU *url;
	struct curl_slist *headers;
	char *body;
	X509_STORE *trust; /* our reference; each connection's SSL_CTX takes its own */
	char *host;        /* for error texts, without IPv6 brackets */
	long port;
	bool host_is_ip;
	int timeout_s;
	webhook_done_fn done;
	void *arg;

	int status;        /* of the response head being read; 0 before its status line */
	char reason[80];   /* its reason phrase */
	bool verdict;      /* a final (non-1xx) status line arrived: it is the outcome */
	size_t head_bytes; /* of every head so far, interim ones included */
	bool head_too_long;
	/* After the verdict: what the rest of the final head says of the body. */
	long long content_length; /* -1 while none was given */
	bool chunked;
	size_t body_bytes;
	struct event *tail; /* armed at the verdict: ends the transfer if the rest dawdles */
	char curl_error[CURL_ERROR_SIZE];
};

/* ---------------------------------------------------------------------------------------- */
/* Trust                                                                                    */

X509_STORE *webhook_trust_load(const char *ca_file, char *error, size_t error_size)
{
	/* The certificates are installed through CURLOPT_SSL_CTX_FUNCTION, which only an OpenSSL
	 * libcurl has. */
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (!v->ssl_version || strncmp(v->ssl_version, "OpenSSL/", 8) != 0) {
		snprintf(error, error_size, "libcurl uses %s, not OpenSSL",
		         v->ssl_version ? v->ssl_version : "no TLS library");
		return NULL;
	}
	X509_STORE *store = X509_STORE_new();
	if (!store) {
		snprintf(error, error_size, "out of memory");
		return NULL;
	}
	int loaded =
	    ca_file ? X509_STORE_load_file(store, ca_file) : X509_STORE_set_default_paths(store);
	if (loaded != 1) {
		char reason[256] = "unknown error";
		unsigned long e = ERR_get_error();
		if (e)
			ERR_error_string_n(e, reason, sizeof reason);
		ERR_clear_error();
		snprintf(error, error_size, "cannot load %s%s: %s",
		         ca_file ? "webhook_ca " : "the system CA store", ca_file ? ca_file : "",
		         reason);
		X509_STORE_free(store);
		return NULL;
	}
	return store;
}

/* Runs for each connection's SSL_CTX before its handshake. curl has set peer verification; we
 * supply the certificates (curl itself loads none: CAINFO and CAPATH are unset) and the options
 * the old hand-written client had. */
static CURLcode transfer_ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *arg)
{
	struct webhook_transfer *t = arg;
	SSL_CTX *ctx = ssl_ctx;
	(void)easy;
	SSL_CTX_set1_cert_store(ctx, t->trust);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* An endpoint that closes without close_notify after its answer has still answered; and
	 * nothing here renegotiates. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	return CURLE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The response head                                                                        */

/* "HTTP/1.1 503 Service Unavailable\r\n": curl has checked the form; we want the number and the
 * phrase. */
static void transfer_status_line(struct webhook_transfer *t, const char *line, size_t len)
{
	const char *p = memchr(line, ' ', len);
	const char *end = line + len;
	while (end > line && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	t->status = 0;
	t->reason[0] = '\0';
	if (!p || end - p < 4)
		return;
	p++;
	if (p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return;
	t->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (p < end && *p == ' ')
		p++;
	size_t phrase = (size_t)(end - p);
	if (phrase >= sizeof t->reason)
		phrase = sizeof t->reason - 1;
	memcpy(t->reason, p, phrase);
	t->reason[phrase] = '\0';
}

/* "Content-Length: 17" and "Transfer-Encoding: chunked" of the final head: whether the body
 * can be read to its end cheaply, so that the connection stays usable. */
static void transfer_body_header(struct webhook_transfer *t, const char *line, size_t len)
{
	static const char cl[] = "content-length:", te[] = "transfer-encoding:";
	char text[64];
	if (len >= sizeof text)
		return; /* no value of interest is that long */
	memcpy(text, line, len);
	text[len] = '\0';
	if (strncasecmp(text, cl, sizeof cl - 1) == 0) {
		char *end;
		long long n = strtoll(text + sizeof cl - 1, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		t->content_length = (*end == '\0' && n >= 0) ? n : -1;
	} else if (strncasecmp(text, te, sizeof te - 1) == 0) {
		t->chunked = strcasestr(text + sizeof te - 1, "chunked") != NULL;
	}
}

/* At the end of the final head: read on only if the body has a known, small end; otherwise stop
 * here (the connection is closed, which costs the next attempt a handshake and nothing else). */
static bool transfer_body_is_bounded(const struct webhook_transfer *t)
{
	if (t->status == 204 || t->status == 304)
		return true;
	if (t->content_length >= 0)
		return t->content_length <= WEBHOOK_MAX_RESPONSE_BODY;
	return t->chunked; /* counted in transfer_body_cb */
}

static void transfer_finish(struct webhook_transfer *t, CURLcode result);

/* The rest of the answer did not arrive in time: the verdict is all we needed. */
static void transfer_tail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_transfer *t = arg;
	(void)fd, (void)what;
	curl_loop_cancel(t->loop, t->easy);
	transfer_finish(t, CURLE_OK);
}

static void transfer_take_verdict(struct webhook_transfer *t)
{
	t->verdict = true;
	const struct timeval tail = {0, WEBHOOK_TAIL_MS * 1000};
	/* Without the timer the transfer still ends, at the latest at its own timeout, with the
	 * verdict kept; only later. */
	if (t->tail)
		(void)evtimer_add(t->tail, &tail);
}

/* Each line of each response head. Returning anything but the line's length stops the transfer
 * (CURLE_WRITE_ERROR); once the verdict has arrived, that only closes the connection. */
static size_t transfer_header_cb(char *line, size_t size, size_t count, void *arg)
{
	struct webhook_transfer *t = arg;
	size_t len = size * count;
	t->head_bytes += len;
	if (t->head_bytes > WEBHOOK_MAX_RESPONSE_HEAD) {
		t->head_too_long = !t->verdict;
		return 0;
	}
	if (!t->verdict) {
		if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
			transfer_status_line(t, line, len);
			if (t->status >= 200)
				transfer_take_verdict(t);
		}
		/* Otherwise a line of an interim 1xx head: its own headers, a blank line, then the
		 * real answer. */
		return len;
	}
	if (len <= 2 && (line[0] == '\r' || line[0] == '\n'))
		return transfer_body_is_bounded(t) ? len : 0;
	transfer_body_header(t, line, len);
	return len;
}

/* The body says nothing we act on: counted and dropped (never written to stdout), and given up
 * when it grows past what is worth reading to keep the connection. */
static size_t transfer_body_cb(char *data, size_t size, size_t count, void *arg)
{
	struct webhook_transfer *t = arg;
	size_t len = size * count;
	(void)data;
	t->body_bytes += len;
	return t->body_bytes <= WEBHOOK_MAX_RESPONSE_BODY ? len : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The outcome in plain words                                                               */

/* How far the attempt got, from the instants curl recorded (0 = not reached). */
static const char *transfer_phase(CURL *easy)
{
	curl_off_t at = 0;
	if (curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &at) == CURLE_OK && at > 0)
		return "waiting for the response";
	if (curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &at) == CURLE_OK && at > 0)
		return "in the TLS handshake";
	if (curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &at) == CURLE_OK && at > 0)
		return "connecting";
	return "resolving the host name";
}

/* The system's words for the last socket error, else curl's. */
static const char *transfer_os_error(struct webhook_transfer *t)
{
	long os_errno = 0;
	if (curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno)
		return strerror((int)os_errno);
	return t->curl_error[0] ? t->curl_error : "closed";
}

/* CURLE_PEER_FAILED_VERIFICATION: the chain, or the name. curl checks the name itself after the
 * handshake, before it records OpenSSL's verification result (which still reads "unspecified"
 * then), so its message is what tells the two apart. */
static void transfer_describe_verification(struct webhook_transfer *t, char *text, size_t size)
{
	static const char prefix[] = "TLS: the endpoint's certificate was refused";
	long verify = X509_V_OK;
	if (curl_easy_getinfo(t->easy, CURLINFO_SSL_VERIFYRESULT, &verify) != CURLE_OK)
		verify = X509_V_OK;
	if (strstr(t->curl_error, "subject name") || strstr(t->curl_error, "common name")) {
		/* Said the way OpenSSL says it, as the hand-written client did. */
		snprintf(text, size, "%s: %s", prefix,
		         X509_verify_cert_error_string(t->host_is_ip
		                                           ? X509_V_ERR_IP_ADDRESS_MISMATCH
		                                           : X509_V_ERR_HOSTNAME_MISMATCH));
	} else if (verify != X509_V_OK && verify != X509_V_ERR_UNSPECIFIED) {
		snprintf(text, size, "%s: %s", prefix, X509_verify_cert_error_string(verify));
	} else {
		snprintf(text, size, "%s: %.200s", prefix,
		         t->curl_error[0] ? t->curl_error : "verification failed");
	}
}

static void transfer_describe(struct webhook_transfer *t, CURLcode result,
                              struct webhook_outcome *out, char *text, size_t size)
{
	*out = (struct webhook_outcome){.text = text};
	if (t->verdict || result == CURLE_OK) {
		long status = t->status;
		if (!t->verdict &&
		    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
			status = 0;
		out->status = (int)status;
		out->delivered = status >= 200 && status <= 299;
		if (out->delivered)
			snprintf(text, size, "HTTP %ld", status);
		else
			snprintf(text, size, "HTTP %ld%s%s", status,
			         t->verdict && t->reason[0] ? " " : "",
			         t->verdict ? t->reason : "");
		return;
	}
	switch (result) {
	case CURLE_WRITE_ERROR:
		if (t->head_too_long)
			snprintf(text, size, "response head longer than %d bytes",
			         WEBHOOK_MAX_RESPONSE_HEAD);
		else
			snprintf(text, size, "cannot read the response: %.200s", t->curl_error);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(text, size, "no answer within %d s (%s)", t->timeout_s,
		         transfer_phase(t->easy));
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(text, size, "cannot resolve %.250s", t->host);
		break;
	case CURLE_COULDNT_CONNECT:
		/* Every address of the name has been tried; this is the last one's error. */
		snprintf(text, size, "cannot connect to %.100s port %ld: %.150s", t->host, t->port,
		         transfer_os_error(t));
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		transfer_describe_verification(t, text, size);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(text, size, "TLS handshake failed: %.200s",
		         t->curl_error[0] ? t->curl_error : "no reason given");
		break;
	case CURLE_GOT_NOTHING:
		snprintf(text, size, "the endpoint closed the connection waiting for the response");
		break;
	case CURLE_PARTIAL_FILE:
		snprintf(text, size,
		         "the endpoint closed the connection in the middle of the response");
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		snprintf(text, size, "connection error %s: %.200s", transfer_phase(t->easy),
		         transfer_os_error(t));
		break;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL: /* "Received HTTP/0.9": the URL was checked before */
		snprintf(text, size, "not an HTTP response: %.200s",
		         t->curl_error[0] ? t->curl_error : "unreadable status line");
		break;
	case CURLE_OUT_OF_MEMORY:
		snprintf(text, size, "out of memory");
		break;
	default:
		snprintf(text, size, "%s",
		         t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
		break;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                               */

static void transfer_free(struct webhook_transfer *t)
{
	if (t->tail)
		event_free(t->tail);
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	curl_url_cleanup(t->url);
	free(t->body);
	X509_STORE_free(t->trust);
	free(t->host);
	free(t);
}

static void transfer_finish(struct webhook_transfer *t, CURLcode result)
{
	char text[WEBHOOK_TEXT_SIZE];
	struct webhook_outcome outcome;
	transfer_describe(t, result, &outcome, text, sizeof text);
	webhook_done_fn done = t->done;
	void *done_arg = t->arg;
	transfer_free(t);
	done(done_arg, &outcome);
}

static void transfer_done_cb(void *arg, CURL *easy, CURLcode result)
{
	(void)easy;
	transfer_finish(arg, result);
}

void webhook_transfer_cancel(struct webhook_transfer *t)
{
	if (!t)
		return;
	curl_loop_cancel(t->loop, t->easy);
	transfer_free(t);
}

/* Parses the endpoint: https, a host, no credentials. Keeps the parsed URL for curl and the host
 * and port for error texts. */
static bool transfer_parse_url(struct webhook_transfer *t, const char *url)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	bool ok = false;
	t->url = curl_url();
	if (!t->url || curl_url_set(t->url, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto done;
	if (curl_url_get(t->url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0)
		goto done;
	if (curl_url_get(t->url, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
		goto done;
	if (curl_url_get(t->url, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0])
		goto done;
	if (curl_url_get(t->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto done;
	size_t host_len = strlen(host);
	if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']')
		t->host = strndup(host + 1, host_len - 2);
	else
		t->host = strdup(host);
	if (!t->host)
		goto done;
	t->port = strtol(port, NULL, 10);
	unsigned char any[sizeof(struct in6_addr)];
	t->host_is_ip =
	    inet_pton(AF_INET, t->host, any) == 1 || inet_pton(AF_INET6, t->host, any) == 1;
	ok = true;
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	return ok;
}

static int64_t wall_seconds(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static bool transfer_add_header(struct webhook_transfer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool transfer_add_header(struct webhook_transfer *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return false;
	struct curl_slist *grown = curl_slist_append(t->headers, line);
	if (!grown)
		return false;
	t->headers = grown;
	return true;
}

/* The signed request. The body is assembled from the stored payload, so every retry sends the
 * same bytes; the timestamp is this attempt's wall-clock second, which is what receivers compare
 * with their own clock to refuse replays. */
static bool transfer_build_request(struct webhook_transfer *t, const struct webhook_post *post,
                                   char *error, size_t error_size)
{
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t key_len = 0;
	char signature[WEBHOOK_SIGNATURE_SIZE];
	bool ok = false;

	if (!webhook_secret_decode(post->secret, key, &key_len)) {
		snprintf(error, error_size, "the %s secret is not of the form whsec_<base64>",
		         post->authority);
		goto done;
	}
	t->body = webhook_body(post->type, post->event_id, post->payload);
	if (!t->body) {
		snprintf(error, error_size, "the stored payload is not a JSON object");
		goto done;
	}
	int64_t timestamp = wall_seconds();
	size_t body_len = strlen(t->body);
	if (!webhook_sign(key, key_len, post->event_id, timestamp, t->body, body_len, signature)) {
		snprintf(error, error_size, "cannot compute the signature");
		goto done;
	}
	/* An empty "Expect:" keeps curl from waiting for a 100 Continue that HTTP/1.0 servers
	 * never send; an empty "Accept:" drops a header nobody asked for. */
	if (!transfer_add_header(t, "Content-Type: application/json") ||
	    !transfer_add_header(t, "webhook-id: %s", post->event_id) ||
	    !transfer_add_header(t, "webhook-timestamp: %" PRId64, timestamp) ||
	    !transfer_add_header(t, "webhook-signature: %s", signature) ||
	    !transfer_add_header(t, "Expect:") || !transfer_add_header(t, "Accept:")) {
		snprintf(error, error_size, "out of memory");
		goto done;
	}
	ok = true;
done:
	OPENSSL_cleanse(key, sizeof key);
	return ok;
}

/* Every option of the attempt; false if curl refuses one (a libcurl without a feature we
 * insist on). */
static bool transfer_configure(struct webhook_transfer *t, bool fresh_connection)
{
	CURL *e = t->easy;
	long timeout_ms = (long)t->timeout_s * 1000;
	return curl_easy_setopt(e, CURLOPT_CURLU, t->url) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh_connection ? 1L : 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_MAXLIFETIME_CONN, (long)WEBHOOK_CONNECTION_LIFETIME_S) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)WEBHOOK_CONNECTION_IDLE_S) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NO_PARTIALCHAIN) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, transfer_ssl_ctx_cb) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, t) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_USERAGENT, "rollcalld/" ROLLCALL_VERSION_TEXT) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body)) ==
	           CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, transfer_header_cb) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_HEADERDATA, t) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, transfer_body_cb) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_WRITEDATA, t) == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error) == CURLE_OK;
}

struct webhook_transfer *webhook_transfer_start(struct curl_loop *loop, X509_STORE *trust,
                                                const struct webhook_post *post,
                                                webhook_done_fn done, void *arg, char *error,
                                                size_t error_size)
{
	struct webhook_transfer *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(error, error_size, "out of memory");
		return NULL;
	}
	t->loop = loop;
	t->timeout_s = post->timeout_s;
	t->content_length = -1;
	t->done = done;
	t->arg = arg;
	if (!transfer_parse_url(t, post->url)) {
		snprintf(error, error_size, "the %s endpoint is not an https URL", post->authority);
		goto failed;
	}
	if (!transfer_build_request(t, post, error, error_size))
		goto failed;
	if (X509_STORE_up_ref(trust) != 1) {
		snprintf(error, error_size, "out of memory");
		goto failed;
	}
	t->trust = trust;
	t->easy = curl_easy_init();
	if (!t->easy) {
		snprintf(error, error_size, "out of memory");
		goto failed;
	}
	/* After transfer_configure's "no proxy": curl copies the string. The proxy's own answer
	 * to CONNECT ("200 Connection established") must never reach the header callback, which
	 * takes the first final status line for the endpoint's verdict. */
	t->tail = evtimer_new(curl_loop_base(loop), transfer_tail_cb, t);
	if (!t->tail) {
		snprintf(error, error_size, "out of memory");
		goto failed;
	}
	if (!transfer_configure(t, post->fresh_connection) ||
	    (post->proxy &&
	     (curl_easy_setopt(t->easy, CURLOPT_PROXY, post->proxy) != CURLE_OK ||
	      curl_easy_setopt(t->easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) != CURLE_OK))) {
		snprintf(error, error_size, "libcurl refused an option of the request");
		goto failed;
	}
	if (!curl_loop_add(loop, t->easy, transfer_done_cb, t)) {
		snprintf(error, error_size, "cannot start the transfer");
		goto failed;
	}
	return t;
failed:
	transfer_free(t);
	return NULL;
}
