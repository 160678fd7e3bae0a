/* libFuzzer harness: the client's reading of an HTTP answer (client/tls_http.c) on any bytes a
 * server might send. The client has no HTTP parser of its own: libcurl reads the status line,
 * headers and Content-Length or chunked body, and tls_http.c's callbacks take it from there
 * (on_header; on_body with the sink decision and the body limit; take_answer and read_head with
 * the checks of http_answer.c, the media type and the Date header through http_date_parse;
 * classify on failure). This file includes tls_http.c so that those static functions run as in
 * the client, the request set up by its setup() and driven by its run_transfer(); only the
 * connection differs: curl speaks plain HTTP over an AF_UNIX SOCK_SEQPACKET connection to a
 * listener here, which writes the answer in records once curl has connected, so that each recv
 * curl makes returns one record. The first byte picks sink mode (bit 0: a streaming GET as
 * `watch` makes) and the record size (the rest: 0 whole, else that many bytes a record, 1 a
 * byte at a time). Such an input runs twice, whole and in records: what the client sees must
 * not depend on where reads cut the answer (unless a NUL byte is in the head: nul_in_head).
 * Invariants (abort): an accepted answer's status is 200..599, its body and what went to the sink
 * never exceed the input, the body is NUL-terminated, only a 2xx answer streams to the sink, the
 * media type is lower case without parameters, and a failure always says why. Also run by
 * tests/unit/test_client_http_answer.c on fixed answers. */
#include "../../client/tls_http.c"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest answer fed (libFuzzer's own inputs are shorter; the seeds fit). */
#define MAX_ANSWER 65536
#define MAX_RECORD 4096
#define MAX_RECORDS 128

struct verdict {
	bool ok;
	int status;
	char content_type[128];
	time_t date;
	enum net_failure kind;
	char *bytes; /* the body as buffered, then what went to the sink */
	size_t len;
	size_t sink_len;
	bool sink_used;
};

/* The sink of a streaming request (watch, exports): counts and keeps what it is given. */
struct sink {
	char *data;
	size_t len;
	size_t limit; /* the input's length: more than that cannot have come from it */
};

static bool to_sink(void *arg, const char *data, size_t len)
{
	struct sink *sink = arg;
	if (len > sink->limit - sink->len)
		abort();
	memcpy(sink->data + sink->len, data, len);
	sink->len += len;
	return true;
}

/* The server's side: a listening AF_UNIX SOCK_SEQPACKET socket curl is pointed at (as an
 * abstract socket name), and the answer to write once curl has connected. */
static int listener = -1;
static char listener_name[64];
static int server_fd = -1;
static const uint8_t *answer;
static size_t answer_size, answer_record;

/* curl asks for a stream socket; a SOCK_SEQPACKET one keeps the records apart. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	(void)arg;
	(void)purpose;
	(void)address;
	return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
}

/* Once curl has connected (and before it sends the request), the server accepts and writes
 * the whole answer in records, then ends its side: curl reads the records and then the end of
 * the stream. Then tls_http.c's own callback runs. */
static int write_answer(void *arg, char *primary_ip, char *local_ip, int primary_port,
                        int local_port)
{
	server_fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (server_fd < 0)
		abort();
	int buffer = 1 << 20;
	(void)setsockopt(server_fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
	size_t record = answer_record;
	if (record == 0 || record > MAX_RECORD)
		record = MAX_RECORD;
	/* Few enough records for the socket's buffer: a byte at a time for short answers. */
	while (answer_size / record > MAX_RECORDS)
		record *= 2;
	for (size_t at = 0; at < answer_size; at += record) {
		size_t n = answer_size - at < record ? answer_size - at : record;
		if (send(server_fd, answer + at, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
			abort(); /* the harness's own limit, not the client's */
	}
	if (shutdown(server_fd, SHUT_WR) != 0)
		abort();
	return on_connected(arg, primary_ip, local_ip, primary_port, local_port);
}

/* The listening socket, made on first use under a name of this process's own. */
static bool listening(void)
{
	if (listener >= 0)
		return true;
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	snprintf(listener_name, sizeof(listener_name), "rollcall-fuzz-http-response-%ld",
	         (long)getpid());
	memcpy(address.sun_path + 1, listener_name, strlen(listener_name));
	listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	return listener >= 0 &&
	       bind(listener, (const struct sockaddr *)&address,
	            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	                        strlen(listener_name))) == 0 &&
	       listen(listener, 4) == 0;
}

/* http_exchange as the client runs it, minus the choice of lane and the TLS probes after a
 * lost connection (they would connect to a real server). */
static bool exchange(const uint8_t *data, size_t size, size_t record, bool sink_mode,
                     struct verdict *out)
{
	static struct client_config config = {
	    .path = "fuzz", .url = "https://rollcall.test", .cert = "", .key = "", .ca = ""};
	struct http_client client = {.config = &config};
	snprintf(client.base_url, sizeof(client.base_url), "http://127.0.0.1:8443");
	struct sink sink = {.data = malloc(size + 1), .limit = size};
	struct http_request request = {
	    .method = sink_mode ? "GET" : "POST",
	    .path = "/v1/alerts",
	    .body = sink_mode ? NULL : "{}",
	    .body_len = sink_mode ? 0 : 2,
	    .accept = sink_mode ? "text/event-stream" : NULL,
	    .idempotency_key = sink_mode ? NULL : "0123456789abcdef0123456789abcdef",
	    .read_timeout_ms = 5000,
	    .sink = sink_mode ? to_sink : NULL,
	    .sink_arg = &sink,
	};
	struct http_response response;
	struct net_error error = {.kind = NET_NONE};
	struct lane *lane = &client.lanes[0];
	struct transfer t = {
	    .client = &client, .lane = lane, .request = &request, .response = &response};
	struct curl_slist *headers = NULL;
	CURLcode result = CURLE_OK;
	bool ok = false;

	answer = data;
	answer_size = size;
	answer_record = record;
	memset(&response, 0, sizeof(response));
	memset(out, 0, sizeof(*out));
	lane->alert = -1;
	lane->multi = curl_multi_init();
	lane->easy = curl_easy_init();
	if (sink.data == NULL || lane->multi == NULL || lane->easy == NULL || !listening())
		abort(); /* the harness's own failure: nothing was tested */
	if (!setup(&t, &headers) ||
	    curl_easy_setopt(lane->easy, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
	    curl_easy_setopt(lane->easy, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl_easy_setopt(lane->easy, CURLOPT_ABSTRACT_UNIX_SOCKET, listener_name) != CURLE_OK ||
	    curl_easy_setopt(lane->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
	    curl_easy_setopt(lane->easy, CURLOPT_PREREQFUNCTION, write_answer) != CURLE_OK ||
	    curl_multi_add_handle(lane->multi, lane->easy) != CURLM_OK)
		abort();
	enum stopped_by stopped = run_transfer(&t, &result);
	if (stopped == STOPPED_NOT && result == CURLE_OK) {
		ok = take_answer(&t, &error);
	} else if (stopped == STOPPED_NOT) {
		classify(&t, result, &error);
	} else {
		error.kind = stopped == STOPPED_SILENCE ? NET_TIMEOUT : NET_LOCAL;
	}
	long code = 0;
	(void)curl_easy_getinfo(lane->easy, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_multi_remove_handle(lane->multi, lane->easy);
	curl_easy_cleanup(lane->easy);
	curl_multi_cleanup(lane->multi);
	curl_slist_free_all(headers);
	free(t.body);
	if (server_fd >= 0) {
		close(server_fd);
		server_fd = -1;
	}

	/* What any answer must satisfy, however it was read. */
	if (response.sink_used && (!sink_mode || code < 200 || code > 299 || sink.len == 0))
		abort();
	if (ok) {
		if (response.status < 200 || response.status > 599)
			abort();
		if (response.body_len + sink.len > size || response.body[response.body_len] != '\0')
			abort();
		if (sink_mode && response.status < 300 && response.body_len != 0)
			abort();
		size_t type_len = strlen(response.content_type);
		if (type_len >= sizeof(response.content_type) ||
		    strcspn(response.content_type, "; \tABCDEFGHIJKLMNOPQRSTUVWXYZ") != type_len)
			abort();
	} else if (error.kind == NET_NONE) {
		abort();
	}

	out->ok = ok;
	out->status = response.status;
	memcpy(out->content_type, response.content_type, sizeof(out->content_type));
	out->date = response.date;
	out->kind = error.kind;
	out->sink_used = response.sink_used;
	out->sink_len = sink.len;
	out->len = response.body_len + sink.len;
	out->bytes = malloc(out->len + 1);
	if (out->bytes == NULL)
		abort();
	if (response.body_len > 0)
		memcpy(out->bytes, response.body, response.body_len);
	if (sink.len > 0)
		memcpy(out->bytes + response.body_len, sink.data, sink.len);
	free(sink.data);
	http_response_free(&response);
	return ok;
}

/* Where the reads cut the answer must change nothing the client sees. */
static void same(const struct verdict *a, const struct verdict *b)
{
	if (a->ok != b->ok || a->status != b->status || a->date != b->date ||
	    strcmp(a->content_type, b->content_type) != 0 || a->sink_used != b->sink_used)
		abort();
	if (a->ok && (a->len != b->len || (a->len > 0 && memcmp(a->bytes, b->bytes, a->len) != 0)))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		abort();
	return 0;
}

/* True if a NUL byte comes before the answer's first blank line. libcurl 7.88 reads such a head
 * differently by where reads cut it (it drops bytes around the NUL, or ends the head there):
 * the client refuses what it can see of that (on_header, take_answer), but what libcurl
 * passes on can still differ, so such answers are held to the invariants only, not compared. */
static bool nul_in_head(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\0')
			return true;
		if (data[i] == '\n' && i + 1 < size &&
		    (data[i + 1] == '\n' ||
		     (data[i + 1] == '\r' && i + 2 < size && data[i + 2] == '\n')))
			return false;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > MAX_ANSWER)
		return 0;
	bool sink_mode = data[0] & 1;
	size_t record = data[0] >> 1;
	struct verdict whole, pieces;
	(void)exchange(data + 1, size - 1, 0, sink_mode, &whole);
	if (record > 0) {
		(void)exchange(data + 1, size - 1, record, sink_mode, &pieces);
		if (!nul_in_head(data + 1, size - 1))
			same(&whole, &pieces);
		free(pieces.bytes);
	}
	free(whole.bytes);
	return 0;
}
