/* The hosts of a multi-host `database` conninfo (libpq's host=a,b port=p,q), so that the pool
 * can start each connection attempt at a different host. libpq's connect_timeout does not apply
 * to asynchronous connects (PQconnectPoll): a first host that accepts TCP but never answers
 * (a frozen primary) would hold every attempt, which the pool's own timer then starts over
 * at the same host. Rotating the list after an attempt timed out lets the next one reach the
 * standby that was promoted meanwhile. */
#ifndef ROLLCALL_DB_HOSTS_H
#define ROLLCALL_DB_HOSTS_H

#include <libpq-fe.h>

struct db_hosts;

/* NULL when out of memory or the conninfo does not parse (the connect then reports why). */
struct db_hosts *db_hosts_new(const char *conninfo);
void db_hosts_free(struct db_hosts *hosts);

/* How many hosts the conninfo names (1 when it names one or none). */
int db_hosts_count(const struct db_hosts *hosts);

/* PQconnectStartParams with the host, hostaddr and port lists rotated to start at host
 * number first (modulo the count); NULL only when out of memory. */
PGconn *db_hosts_connect_start(const struct db_hosts *hosts, int first);

/* The conninfo's connect_timeout in ms (at least 2 s, as libpq counts it), which libpq itself
 * ignores for asynchronous connects; fallback_ms when it sets none. */
long db_hosts_connect_timeout_ms(const struct db_hosts *hosts, long fallback_ms);

#endif
