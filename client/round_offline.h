/* Rounds without the server (SPEC sections 2 and 10, v2): what the terminal keeps of the last
 * round it fetched for a centre (the centre's check times and zone, the expected residents),
 * which round the terminal's own clock says is current, and the pending round files that
 * `sync` sends. The files themselves are offline_store's. */
#ifndef ROLLCALL_CLIENT_ROUND_OFFLINE_H
#define ROLLCALL_CLIENT_ROUND_OFFLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "dates.h"
#include "offline_store.h"
#include "session.h"

/* Keeps centre (the server's centre JSON) and the expected residents of one round
 * ([{"id","case_number","label"}]) as the centre's cache. False after saying why. */
bool round_cache_save(const json_t *centre, const char *date, int slot, const json_t *residents,
                      time_t fetched_at) __attribute__((warn_unused_result));

/* The cache of centre_id, or with NULL the only centre cached. RC_OK with *cache (new
 * reference), else RC_USAGE after saying why (nothing cached, several centres). */
int round_cache_load(const char *centre_id, json_t **cache);

/* The round the terminal's clock says is current at centre (its "timezone" and
 * "check_times"): the latest whose check time has passed, today's or yesterday's last. */
bool round_offline_pick(const json_t *centre, time_t now, struct date *day, int *slot)
    __attribute__((warn_unused_result));

/* A pending round of this centre, date and slot already on the terminal (a round a power cut or
 * a quit interrupted): its name and contents, or NULL. */
json_t *round_pending_find(const char *centre_id, const char *date, int slot,
                           char name[OFFLINE_PATH_SIZE]);

/* A new pending round: {"centre","date","slot","idempotency_key","started_at",
 * "observations":[]}; its file name begins with the start instant, so names sort oldest
 * first. NULL after saying why. */
json_t *round_pending_new(const char *centre_id, const char *date, int slot, time_t now,
                          char name[OFFLINE_PATH_SIZE]);

/* Sends every pending round, oldest first, and says what the server made of each: stored,
 * and which observations another terminal's later ones overtook. A corrupt file is reported
 * and renamed *.corrupt; one the server refuses, *.refused; both kept. When from_other_command,
 * says nothing if there is nothing to send and stays quiet about an unreachable server (the
 * command itself will say it). RC_OK, or the first failure's status. */
int round_sync_pending(struct session *session, bool from_other_command);

#endif
