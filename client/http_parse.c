/* Pure URL pieces for the client: the server URL and percent-encoding (see http_parse.h). */
#include "http_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Long because it is one pass over the URL's parts (scheme, userinfo, host, port, path) in the
 * order they appear; each part's check is a few lines. */
bool url_parse(const char *text, struct url *out, char *err, size_t errlen)
{
	static const char scheme[] = "https://";
	memset(out, 0, sizeof(*out));

	if (text == NULL || strncasecmp(text, scheme, sizeof(scheme) - 1) != 0) {
		snprintf(err, errlen, "the url must start with https://");
		return false;
	}
	const char *p = text + sizeof(scheme) - 1;
	const char *host_end;
	const char *host = p;

	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL) {
			snprintf(err, errlen, "the url has '[' without ']'");
			return false;
		}
		p = host_end + 1;
		out->host_is_ipv6 = true;
	} else {
		host_end = p + strcspn(p, ":/?#");
		p = host_end;
	}
	size_t host_len = (size_t)(host_end - host);
	if (host_len == 0 || host_len >= sizeof(out->host)) {
		snprintf(err, errlen, "the url has no host name (or a too long one)");
		return false;
	}
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	if (strchr(out->host, '@') != NULL) {
		snprintf(err, errlen, "the url must not contain a user name");
		return false;
	}

	unsigned char addr[16];
	if (out->host_is_ipv6) {
		if (inet_pton(AF_INET6, out->host, addr) != 1) {
			snprintf(err, errlen, "'%s' is not an IPv6 address", out->host);
			return false;
		}
		out->host_is_ip = true;
	} else {
		out->host_is_ip = inet_pton(AF_INET, out->host, addr) == 1;
		for (const char *c = out->host; *c; c++) {
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.') {
				snprintf(err, errlen, "'%s' is not a host name", out->host);
				return false;
			}
		}
	}

	strcpy(out->port, "443");
	if (*p == ':') {
		p++;
		size_t digits = strspn(p, "0123456789");
		long port = digits > 0 && digits <= 5 ? strtol(p, NULL, 10) : 0;
		if (port < 1 || port > 65535) {
			snprintf(err, errlen, "the url's port must be a number from 1 to 65535");
			return false;
		}
		snprintf(out->port, sizeof(out->port), "%ld", port);
		p += digits;
	}

	if (*p != '\0' && *p != '/') {
		snprintf(err, errlen, "unexpected '%c' in the url", *p);
		return false;
	}
	if (strpbrk(p, "?#") != NULL) {
		snprintf(err, errlen, "the url must not have a query or fragment");
		return false;
	}
	size_t prefix_len = strlen(p);
	while (prefix_len > 0 && p[prefix_len - 1] == '/')
		prefix_len--;
	if (prefix_len >= sizeof(out->prefix)) {
		snprintf(err, errlen, "the url's path is too long");
		return false;
	}
	for (size_t i = 0; i < prefix_len; i++) {
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f) {
			snprintf(err, errlen, "the url's path has a character that needs encoding");
			return false;
		}
	}
	memcpy(out->prefix, p, prefix_len);
	out->prefix[prefix_len] = '\0';
	return true;
}

bool url_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
		size_t need = plain ? 1 : 3;
		if (o + need >= outlen)
			return false;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outlen)
		return false;
	out[o] = '\0';
	return true;
}
