/* bench_https: drives one HTTPS endpoint of rollcalld over mutual TLS with keep-alive from N
 * threads for a fixed time and prints requests/s with p50/p99 latency. Each request may carry a
 * fresh Idempotency-Key and a body read from a file in which every "@N@" is replaced by a
 * per-request counter, so that each request records something new. In PATH and BODYFILE, "@T@"
 * stands for the thread's index, so that each simulated terminal can work on its own round. In
 * CERT and KEY it gives each thread a certificate of its own: terminals do not share one, and
 * rollcalld lets one certificate use only part of its database pool (docs/config.md).
 *
 * With a last argument "new", every request has a connection and a full TLS handshake of its
 * own (no session resumption): new TLS connections per second rather than requests.
 *
 * usage: bench_https HOST PORT CA CERT KEY METHOD PATH BODYFILE|- THREADS SECONDS [new]
 * prints: one line "tps=... p50_ms=... p99_ms=... ok=... errors=..." */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct bench {
	const char *host, *port, *method, *path;
	SSL_CTX *ctx;
	int seconds;
	int new_connections; /* a connection per request */
	atomic_ullong counter;
	atomic_ullong errors;
};

struct worker {
	struct bench *bench;
	SSL_CTX *ctx;        /* the thread's own (CERT with @T@) or the bench's shared one */
	char *path;          /* the bench's path with @T@ replaced */
	char *body_template; /* the body file for this thread, or NULL */
	pthread_t thread;
	uint64_t *latencies_us;
	size_t count, cap;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static SSL *connect_tls(struct bench *b, SSL_CTX *ctx)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(b->host, b->port, &hints, &ai) != 0)
		return NULL;
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	SSL *ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void disconnect_tls(SSL *ssl)
{
	if (!ssl)
		return;
	int fd = SSL_get_fd(ssl);
	SSL_free(ssl);
	close(fd);
}

/* Replaces every marker ("@N@" or "@T@") with the number. The caller frees the result. */
static char *render(const char *tmpl, const char *marker, unsigned long long n)
{
	char num[32];
	snprintf(num, sizeof num, "%llu", n);
	size_t out_len = 0, count = 0;
	for (const char *p = tmpl; (p = strstr(p, marker)); p += 3)
		count++;
	out_len = strlen(tmpl) + count * strlen(num) + 1;
	char *out = malloc(out_len), *o = out;
	if (!out)
		return NULL;
	for (const char *p = tmpl; *p;) {
		if (strncmp(p, marker, 3) == 0) {
			o += sprintf(o, "%s", num);
			p += 3;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static char *render_body(const char *tmpl, unsigned long long n)
{
	return render(tmpl, "@N@", n);
}

/* Sends one request and reads one Content-Length response; returns the status or -1. */
static int round_trip(SSL *ssl, struct worker *w, unsigned long long n)
{
	struct bench *b = w->bench;
	char *body = w->body_template ? render_body(w->body_template, n) : NULL;
	size_t body_len = body ? strlen(body) : 0;
	char head[1024];
	int head_len = snprintf(head, sizeof head,
	                        "%s %s HTTP/1.1\r\nHost: %s\r\nIdempotency-Key: bench-%d-%llu\r\n"
	                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	                        b->method, w->path, b->host, getpid(), n, body_len);
	int status = -1;
	if (SSL_write(ssl, head, head_len) != head_len ||
	    (body_len && SSL_write(ssl, body, (int)body_len) != (int)body_len))
		goto done;
	char buf[65536];
	size_t have = 0;
	char *end = NULL;
	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		int r = SSL_read(ssl, buf + have, (int)(sizeof buf - have - 1));
		if (r <= 0)
			goto done;
		have += (size_t)r;
		if (have >= sizeof buf - 1)
			goto done;
	}
	buf[have] = '\0';
	status = atoi(buf + 9);
	char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t content = cl ? strtoul(cl + 17, NULL, 10) : 0;
	size_t got = have - (size_t)(end + 4 - buf);
	while (got < content) {
		int r = SSL_read(ssl, buf,
		                 (int)(content - got < sizeof buf ? content - got : sizeof buf));
		if (r <= 0) {
			status = -1;
			goto done;
		}
		got += (size_t)r;
	}
done:
	free(body);
	return status;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->bench;
	SSL *ssl = connect_tls(b, w->ctx);
	uint64_t stop = now_us() + (uint64_t)b->seconds * 1000000u;
	while (ssl && now_us() < stop) {
		unsigned long long n = atomic_fetch_add(&b->counter, 1);
		uint64_t t0 = now_us();
		int status = round_trip(ssl, w, n);
		uint64_t took = now_us() - t0; /* with "new": the handshake is in the next one's */
		if (b->new_connections && status >= 0) {
			disconnect_tls(ssl);
			ssl = connect_tls(b, w->ctx);
		}
		if (status < 200 || status > 299) {
			atomic_fetch_add(&b->errors, 1);
			if (status < 0) {
				disconnect_tls(ssl);
				ssl = connect_tls(b, w->ctx);
			}
			continue;
		}
		if (w->count == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 4096;
			uint64_t *grown = realloc(w->latencies_us, cap * sizeof *grown);
			if (!grown)
				break;
			w->latencies_us = grown;
			w->cap = cap;
		}
		w->latencies_us[w->count++] = took;
	}
	if (!ssl)
		atomic_fetch_add(&b->errors, 1);
	disconnect_tls(ssl);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	char chunk[4096];
	size_t r;
	while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
		char *grown = realloc(buf, len + r + 1);
		if (!grown) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = grown;
		memcpy(buf + len, chunk, r);
		len += r;
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* A client context with the CA to verify the daemon and one certificate and key. */
static SSL_CTX *client_ctx(const char *ca, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "cannot load the TLS files %s, %s, %s\n", ca, cert, key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int main(int argc, char **argv)
{
	if ((argc != 11 && argc != 12) || (argc == 12 && strcmp(argv[11], "new") != 0)) {
		fprintf(stderr, "usage: bench_https HOST PORT CA CERT KEY METHOD PATH BODYFILE|- "
		                "THREADS SECONDS [new]\n");
		return 2;
	}
	struct bench b = {.host = argv[1], .port = argv[2], .method = argv[6], .path = argv[7]};
	b.new_connections = argc == 12;
	int threads = atoi(argv[9]);
	b.seconds = atoi(argv[10]);
	bool per_thread = strstr(argv[4], "@T@") || strstr(argv[5], "@T@");
	if (!per_thread && !(b.ctx = client_ctx(argv[3], argv[4], argv[5])))
		return 2;
	struct worker *workers = calloc((size_t)threads, sizeof *workers);
	if (!workers || threads < 1)
		return 2;
	uint64_t t0 = now_us();
	for (int i = 0; i < threads; i++) {
		workers[i].bench = &b;
		workers[i].ctx = b.ctx;
		if (per_thread) {
			char *cert = render(argv[4], "@T@", (unsigned long long)i);
			char *key = render(argv[5], "@T@", (unsigned long long)i);
			workers[i].ctx = cert && key ? client_ctx(argv[3], cert, key) : NULL;
			free(cert);
			free(key);
			if (!workers[i].ctx)
				return 2;
		}
		workers[i].path = render(b.path, "@T@", (unsigned long long)i);
		char *file = render(argv[8], "@T@", (unsigned long long)i);
		if (!workers[i].path || !file ||
		    (strcmp(file, "-") != 0 && !(workers[i].body_template = read_all(file)))) {
			fprintf(stderr, "cannot read %s\n", file ? file : argv[8]);
			return 2;
		}
		free(file);
	}
	for (int i = 0; i < threads; i++) {
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	size_t total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		total += workers[i].count;
	}
	double elapsed = (double)(now_us() - t0) / 1e6;
	uint64_t *all = malloc((total ? total : 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < threads; i++) {
		memcpy(all + k, workers[i].latencies_us, workers[i].count * sizeof *all);
		k += workers[i].count;
		free(workers[i].latencies_us);
		free(workers[i].path);
		free(workers[i].body_template);
		if (workers[i].ctx != b.ctx)
			SSL_CTX_free(workers[i].ctx);
	}
	qsort(all, total, sizeof *all, cmp_u64);
	double p50 = total ? (double)all[total / 2] / 1000.0 : 0;
	double p99 = total ? (double)all[(total * 99) / 100] / 1000.0 : 0;
	printf("tps=%.1f p50_ms=%.3f p99_ms=%.3f ok=%zu errors=%llu\n", (double)total / elapsed,
	       p50, p99, total, (unsigned long long)atomic_load(&b.errors));
	free(all);
	free(workers);
	SSL_CTX_free(b.ctx);
	return 0;
}
