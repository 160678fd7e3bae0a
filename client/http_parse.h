/* Pure URL pieces for the client: the server URL and percent-encoding. No I/O (libcurl does the
 * HTTP in tls_http.c), so unit tests call these directly. */
#ifndef ROLLCALL_CLIENT_HTTP_PARSE_H
#define ROLLCALL_CLIENT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
