/* rollcalld's configuration: the [rollcalld] section of an INI file, read with inih against a
 * declarative key table (config.c) so that an unknown key or a bad value refuses to start with
 * the key's name and line. */
#ifndef ROLLCALL_CONFIG_H
#define ROLLCALL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

struct config {
	char *listen_host; /* listen = host:port */
	int listen_port;
	char *tls_cert, *tls_key, *tls_ca, *tls_crl; /* tls_crl may be NULL */
	int tls_min_version;                         /* tls_min_version: 12 or 13, default 13 */
	char *database;                              /* libpq conninfo */
	char *bootstrap_admin;                       /* may be NULL */
	char *webhook_ca;                            /* may be NULL: system store */
	char *webhook_proxy;                         /* may be NULL: webhooks go direct */
	char *public_url;                            /* receipt_url's base; set by config_load */
	char *smtp_relay;                            /* may be NULL: e-mail channels fail */
	char *smtp_from;                             /* may be NULL: rollcalld@<hostname> */
	char *smtp_ca;                               /* may be NULL: system store */
	char *admin_email;                           /* may be NULL: no expiry e-mails */
	bool test_clock;
	enum log_level log_level;
	enum log_format log_format;
	int db_pool_size;        /* db_pool_size, default 4 */
	int max_connections;     /* max_connections, default 10000 */
	long max_body_bytes;     /* max_body_bytes, default 1 MiB */
	int max_header_bytes;    /* max_header_bytes, default 16 KiB */
	int idle_timeout_s;      /* idle_timeout, default 60 */
	int request_timeout_s;   /* request_timeout: whole request must arrive within, default 30 */
	int handshake_timeout_s; /* handshake_timeout: TLS done within, from accept, default 10 */
	int request_rate;        /* request_rate: per CN and second, 0 off, default 500 */
	int request_burst;       /* request_burst: per CN at once, default 1000 */
	int sse_heartbeat_s;     /* sse_heartbeat, default 15 */
	int webhook_timeout_s;   /* webhook_timeout: connect+response bound, default 10 */
	int webhook_backoff_max_s; /* webhook_backoff_max: retry backoff cap, default 600 */
	char *instance_name;       /* instance_name, default hostname:pid; names lease holders */
};

/* Reads and checks FILE. On failure returns false, writes one line naming the key and line
 * to errbuf and leaves *out untouched (so SIGHUP can load into a local and keep the running
 * config on failure). On success *out owns copies of every string; release with config_free. */
bool config_load(const char *path, struct config *out, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
void config_free(struct config *config);

/* The key table, for --help and the docs test: NULL-terminated names. */
extern const char *const config_key_names[];

/* For SIGHUP: true if `loaded` changes keys that only a restart applies (every key except
 * tls_cert, tls_key, tls_ca, tls_crl, tls_min_version, log_level, log_format, webhook_ca); their
 * names,
 * comma-separated, go to out so the log can say which changes wait for a restart. */
bool config_restart_keys(const struct config *running, const struct config *loaded, char *out,
                         size_t out_size);

/* Writes the Markdown table of every key (type, default, reload, meaning) that docs/config.md
 * carries verbatim; the unit test compares the two. False on a write error. */
bool config_write_reference(FILE *out);

#endif
