/* The text of GET /metrics: Prometheus text exposition format 0.0.4, from the in-process
 * counters (metrics.h), the server's, pool's, sender's and alert hub's figures, the TLS files'
 * expiry and the database's snapshot (metrics_snapshot() in schema/code/metrics.sql). The
 * series are listed in docs/operations.md, "Monitoring". */
#ifndef ROLLCALL_METRICS_TEXT_H
#define ROLLCALL_METRICS_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "sender.h"
#include "server.h"
#include "tls.h"

struct alert_hub;

struct metrics_inputs {
	struct server_stats server;
	struct db_stats db;
	int db_pool_size;
	struct sender_stats sender;
	const struct alert_hub *alerts; /* may be NULL */
	struct tls_expiry expiry;       /* 0 fields are left out */
	int64_t now_us;                 /* the daemon's clock, for the expiry gauges */
	const json_t *snapshot;         /* borrowed */
};

/* The whole text (malloc'd, the caller frees it) and its length; NULL when out of memory. */
char *metrics_text(const struct metrics_inputs *in, size_t *len);

#endif
