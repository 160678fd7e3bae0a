/* Pure HTTP/1.1 pieces for the client: the server URL, percent-encoding, the response head and
 * the chunked transfer coding. No sockets here (tls_http.c does the I/O), so unit tests feed
 * these byte by byte. */
#ifndef ROLLCALL_CLIENT_HTTP_PARSE_H
#define ROLLCALL_CLIENT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* https://HOST[:PORT][/PREFIX]; HOST may be a name, an IPv4 address or [IPv6]. */
struct url {
	char host[256];   /* without brackets */
	char port[8];     /* "443" when not given */
	char prefix[256]; /* "" or "/path" without a trailing slash */
	bool host_is_ip;
	bool host_is_ipv6;
};

/* False with a reason in err (e.g. "only https:// URLs are allowed") if text is not such a URL. */
bool url_parse(const char *text, struct url *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Percent-encodes s for a path segment or query value (RFC 3986 unreserved characters stay)
 * into out. False if it does not fit. */
bool url_escape(const char *s, char *out, size_t outlen) __attribute__((warn_unused_result));

/* The head of a response, parsed once "\r\n\r\n" has arrived. */
struct http_head {
	int status;             /* 100-599 */
	int64_t content_length; /* -1 when absent */
	bool chunked;           /* Transfer-Encoding: chunked */
	char content_type[128]; /* lower-cased media type without parameters, "" when absent */
	time_t date;            /* Date header, 0 when absent or unreadable */
};

/* Length of the head including the blank line if buf holds a whole head, 0 if more bytes are
 * needed. */
size_t http_head_length(const char *buf, size_t len);
/* Parses a whole head (as counted by http_head_length). False with a reason on malformed input. */
bool http_head_parse(const char *buf, size_t len, struct http_head *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Decoder for Transfer-Encoding: chunked. Chunk extensions and trailers are skipped. */
enum chunked_state {
	CHUNKED_SIZE,      /* reading the hexadecimal size line */
	CHUNKED_DATA,      /* `remaining` bytes of data to pass on */
	CHUNKED_DATA_CRLF, /* the CRLF after a chunk's data */
	CHUNKED_TRAILER,   /* trailer lines until an empty one */
	CHUNKED_DONE,      /* the last chunk and trailers have been read */
	CHUNKED_ERROR,
};

struct chunked_decoder {
	enum chunked_state state;
	uint64_t remaining;
	char line[128]; /* the size line (or a trailer line's start) being collected */
	size_t line_len;
	bool line_overflow;
};

/* Called with each run of decoded data; returning false stops decoding (CHUNKED_ERROR is not
 * set: the caller stopped it). */
typedef bool (*chunked_sink_fn)(void *arg, const char *data, size_t len);

void chunked_init(struct chunked_decoder *decoder);
/* Consumes up to len bytes; returns how many were used. Stops early at CHUNKED_DONE (bytes after
 * the message are not its own), at CHUNKED_ERROR, or when sink returns false (*stopped set). */
size_t chunked_feed(struct chunked_decoder *decoder, const char *buf, size_t len,
                    chunked_sink_fn sink, void *arg, bool *stopped);

#endif
