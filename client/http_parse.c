/* Pure HTTP/1.1 parsing for the client: URL, percent-encoding, response head, chunked coding.
 * See http_parse.h; tls_http.c feeds these with what it reads from the socket. */
#include "http_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dates.h"

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

size_t http_head_length(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n')
			return i + 4;
	return 0;
}

/* Copies the header value (without surrounding blanks) into out, false if it does not fit. */
static bool header_value(const char *value, size_t len, char *out, size_t outlen)
{
	while (len > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		len--;
	}
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= outlen)
		return false;
	memcpy(out, value, len);
	out[len] = '\0';
	return true;
}

static bool header_is(const char *name, size_t name_len, const char *wanted)
{
	return strlen(wanted) == name_len && strncasecmp(name, wanted, name_len) == 0;
}

bool http_head_parse(const char *buf, size_t len, struct http_head *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->content_length = -1;

	const char *end = buf + len;
	const char *line = buf;
	const char *eol = memchr(line, '\n', (size_t)(end - line));
	if (eol == NULL || eol - line < 12 || strncmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
	    !isdigit((unsigned char)line[11])) {
		snprintf(err, errlen, "the server's answer is not HTTP/1.1");
		return false;
	}
	out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (out->status < 100 || out->status > 599) {
		snprintf(err, errlen, "the server answered with status %d", out->status);
		return false;
	}

	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			break;
		size_t line_len = (size_t)(eol - line);
		if (line_len > 0 && line[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			snprintf(err, errlen, "the server sent a folded header line");
			return false;
		}
		const char *colon = memchr(line, ':', line_len);
		if (colon == NULL || colon == line) {
			snprintf(err, errlen, "the server sent a malformed header line");
			return false;
		}
		size_t name_len = (size_t)(colon - line);
		const char *value = colon + 1;
		size_t value_len = line_len - name_len - 1;
		char text[128];

		if (header_is(line, name_len, "Content-Length")) {
			if (!header_value(value, value_len, text, sizeof(text)) ||
			    text[0] == '\0' || strspn(text, "0123456789") != strlen(text) ||
			    strlen(text) > 15) {
				snprintf(err, errlen, "the server sent a bad Content-Length");
				return false;
			}
			int64_t length = strtoll(text, NULL, 10);
			if (out->content_length >= 0 && out->content_length != length) {
				snprintf(err, errlen, "the server sent two Content-Lengths");
				return false;
			}
			out->content_length = length;
		} else if (header_is(line, name_len, "Transfer-Encoding")) {
			if (!header_value(value, value_len, text, sizeof(text)) ||
			    strcasecmp(text, "chunked") != 0) {
				snprintf(err, errlen,
				         "the server sent an unsupported Transfer-Encoding");
				return false;
			}
			out->chunked = true;
		} else if (header_is(line, name_len, "Content-Type")) {
			if (header_value(value, value_len, text, sizeof(text))) {
				text[strcspn(text, "; \t")] = '\0';
				for (char *c = text; *c; c++)
					*c = (char)tolower((unsigned char)*c);
				snprintf(out->content_type, sizeof(out->content_type), "%s", text);
			}
		} else if (header_is(line, name_len, "Date")) {
			time_t date;
			if (header_value(value, value_len, text, sizeof(text)) &&
			    http_date_parse(text, &date))
				out->date = date;
		}
	}
	/* RFC 9112 6.3: with both, Transfer-Encoding wins and Content-Length is ignored. */
	if (out->chunked)
		out->content_length = -1;
	return true;
}

void chunked_init(struct chunked_decoder *decoder)
{
	memset(decoder, 0, sizeof(*decoder));
	decoder->state = CHUNKED_SIZE;
}

/* Collects one line; returns true when it is complete (without CR/LF) in decoder->line. */
static bool collect_line(struct chunked_decoder *decoder, char c)
{
	if (c == '\n') {
		if (decoder->line_len > 0 && decoder->line[decoder->line_len - 1] == '\r')
			decoder->line_len--;
		decoder->line[decoder->line_len] = '\0';
		return true;
	}
	if (decoder->line_len + 1 < sizeof(decoder->line))
		decoder->line[decoder->line_len++] = c;
	else
		decoder->line_overflow = true;
	return false;
}

static void size_line_done(struct chunked_decoder *decoder)
{
	uint64_t size = 0;
	size_t digits = 0;
	for (const char *p = decoder->line; isxdigit((unsigned char)*p); p++, digits++) {
		if (size > (UINT64_C(1) << 59)) {
			decoder->state = CHUNKED_ERROR;
			return;
		}
		size = size * 16 + (uint64_t)(isdigit((unsigned char)*p)
		                                  ? *p - '0'
		                                  : tolower((unsigned char)*p) - 'a' + 10);
	}
	char after = decoder->line[digits];
	/* Only an extension (';'), blanks before it, or nothing may follow the size. */
	if (digits == 0 || (after != '\0' && after != ';' && after != ' ' && after != '\t')) {
		decoder->state = CHUNKED_ERROR;
		return;
	}
	decoder->remaining = size;
	decoder->state = size == 0 ? CHUNKED_TRAILER : CHUNKED_DATA;
}

size_t chunked_feed(struct chunked_decoder *decoder, const char *buf, size_t len,
                    chunked_sink_fn sink, void *arg, bool *stopped)
{
	size_t i = 0;
	*stopped = false;

	while (i < len && decoder->state != CHUNKED_DONE && decoder->state != CHUNKED_ERROR) {
		switch (decoder->state) {
		case CHUNKED_SIZE:
			if (collect_line(decoder, buf[i++])) {
				size_line_done(decoder);
				decoder->line_len = 0;
				decoder->line_overflow = false;
			}
			break;
		case CHUNKED_DATA: {
			size_t n = len - i;
			if ((uint64_t)n > decoder->remaining)
				n = (size_t)decoder->remaining;
			if (!sink(arg, buf + i, n)) {
				*stopped = true;
				return i;
			}
			i += n;
			decoder->remaining -= n;
			if (decoder->remaining == 0)
				decoder->state = CHUNKED_DATA_CRLF;
			break;
		}
		case CHUNKED_DATA_CRLF:
			/* Exactly CRLF: anything else means the size and the data disagree, and
			 * what follows cannot be trusted to be framed right. */
			if (decoder->line_len == 0 && buf[i] == '\r') {
				decoder->line_len = 1;
			} else if (decoder->line_len == 1 && buf[i] == '\n') {
				decoder->line_len = 0;
				decoder->state = CHUNKED_SIZE;
			} else {
				decoder->state = CHUNKED_ERROR;
			}
			i++;
			break;
		case CHUNKED_TRAILER:
			if (collect_line(decoder, buf[i++])) {
				if (decoder->line_len == 0 && !decoder->line_overflow)
					decoder->state = CHUNKED_DONE;
				decoder->line_len = 0;
				decoder->line_overflow = false;
			}
			break;
		case CHUNKED_DONE:
		case CHUNKED_ERROR:
			break;
		}
	}
	return i;
}
