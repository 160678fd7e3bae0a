/* The request gate: one entry per CN with calls through or waiting, in a chained hash table;
 * an entry lives only while it has calls, so memory follows the requests in flight (each holds
 * a connection, and connections are capped). A CN gets its full per_cn only while it is alone:
 * when another CN has a call through or started one within GATE_SHARE_WINDOW_US, its limit is
 * halved (docs/decisions.md, "Sharing the gate"). */
#include "request_gate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GATE_BUCKETS 256
/* How long after its last start another CN still counts as present: terminals send their
 * requests one after another with a few milliseconds between them, so a CN with none through
 * at this instant is usually still there. */
#define GATE_SHARE_WINDOW_US 1000000

struct gate_waiter {
	struct gate_waiter *next;
	void (*start)(void *arg);
	void *arg;
};

struct gate_entry {
	struct gate_entry *next; /* in its hash bucket */
	int through;             /* started and not yet left */
	int waiting;
	struct gate_waiter *head, *tail;
	char cn[]; /* NUL-terminated */
};

/* The two CNs (by hash) that started calls most recently, with when: enough to tell whether
 * any CN other than a given one started a call within the window. */
struct gate_recent {
	uint32_t hash;
	int64_t at_us;
	bool set;
};

struct request_gate {
	int per_cn;
	int shared; /* the limit while another CN is present: half of per_cn, at least 1 */
	int waiting;
	int through; /* over every CN */
	int64_t (*now_us)(void);
	struct gate_recent recent[2]; /* [0] the latest */
	struct gate_entry *buckets[GATE_BUCKETS];
};

static int64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct request_gate *request_gate_new(int per_cn)
{
	struct request_gate *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->per_cn = per_cn < 1 ? 1 : per_cn;
	g->shared = g->per_cn / 2 < 1 ? 1 : g->per_cn / 2;
	g->now_us = monotonic_us;
	return g;
}

void request_gate_set_clock(struct request_gate *gate, int64_t (*now_us)(void))
{
	gate->now_us = now_us ? now_us : monotonic_us;
}

void request_gate_free(struct request_gate *gate)
{
	if (!gate)
		return;
	for (int i = 0; i < GATE_BUCKETS; i++) {
		struct gate_entry *e = gate->buckets[i];
		while (e) {
			struct gate_entry *next = e->next;
			while (e->head) {
				struct gate_waiter *w = e->head;
				e->head = w->next;
				free(w);
			}
			free(e);
			e = next;
		}
	}
	free(gate);
}

static uint32_t cn_hash(const char *cn)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)cn; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

static struct gate_entry **slot_of(struct request_gate *g, const char *cn)
{
	struct gate_entry **slot = &g->buckets[cn_hash(cn) % GATE_BUCKETS];
	while (*slot && strcmp((*slot)->cn, cn) != 0)
		slot = &(*slot)->next;
	return slot;
}

/* Whether a CN other than e's is present: has a call through, or started one lately. */
static bool others_present(const struct request_gate *g, const struct gate_entry *e, uint32_t hash)
{
	if (g->through > e->through)
		return true;
	int64_t now = g->now_us();
	for (int i = 0; i < 2; i++)
		if (g->recent[i].set && g->recent[i].hash != hash &&
		    now - g->recent[i].at_us < GATE_SHARE_WINDOW_US)
			return true;
	return false;
}

static void note_start(struct request_gate *g, uint32_t hash)
{
	int64_t now = g->now_us();
	if (!g->recent[0].set || g->recent[0].hash != hash)
		g->recent[1] = g->recent[0];
	g->recent[0] = (struct gate_recent){.hash = hash, .at_us = now, .set = true};
}

/* Starts cn's waiting calls, oldest first, while it is under its limit. A start may leave at
 * once (and so re-enter here, or free the entry): the entry is looked up again each time. */
static void gate_pump(struct request_gate *gate, const char *cn)
{
	uint32_t hash = cn_hash(cn);
	for (;;) {
		struct gate_entry *e = *slot_of(gate, cn);
		if (!e || !e->head)
			return;
		int limit = others_present(gate, e, hash) ? gate->shared : gate->per_cn;
		if (e->through >= limit)
			return;
		struct gate_waiter *w = e->head;
		e->head = w->next;
		if (!e->head)
			e->tail = NULL;
		gate->waiting--;
		e->waiting--;
		e->through++;
		gate->through++;
		note_start(gate, hash);
		void (*start)(void *) = w->start;
		void *arg = w->arg;
		free(w);
		start(arg);
	}
}

bool request_gate_enter(struct request_gate *gate, const char *cn, void (*start)(void *arg),
                        void *arg)
{
	struct gate_entry **slot = slot_of(gate, cn);
	struct gate_entry *e = *slot;
	if (!e) {
		size_t len = strlen(cn);
		e = calloc(1, sizeof *e + len + 1);
		if (!e)
			return false;
		memcpy(e->cn, cn, len + 1);
		*slot = e;
	}
	/* The CN's own calls before it keep their order: a new one goes behind them. */
	if (e->head == NULL) {
		uint32_t hash = cn_hash(cn);
		int limit = others_present(gate, e, hash) ? gate->shared : gate->per_cn;
		if (e->through < limit) {
			e->through++;
			gate->through++;
			note_start(gate, hash);
			start(arg); /* may leave at once, which may free e: do not touch it */
			return true;
		}
	}
	struct gate_waiter *w = calloc(1, sizeof *w);
	if (!w) {
		if (e->through == 0 && !e->head) {
			*slot = e->next;
			free(e);
		}
		return false;
	}
	w->start = start;
	w->arg = arg;
	if (e->tail)
		e->tail->next = w;
	else
		e->head = w;
	e->tail = w;
	gate->waiting++;
	e->waiting++;
	return true;
}

bool request_gate_full(struct request_gate *gate, const char *cn)
{
	const struct gate_entry *e = *slot_of(gate, cn);
	return e && e->waiting >= REQUEST_GATE_WAITING_MAX;
}

void request_gate_leave(struct request_gate *gate, const char *cn)
{
	struct gate_entry *e = *slot_of(gate, cn);
	if (!e || e->through <= 0)
		return; /* a caller's bug; nothing to release */
	e->through--;
	gate->through--;
	/* The next waiting call takes the place just left (or two, when the CN's limit has
	 * grown back because the others have gone). */
	gate_pump(gate, cn);
	struct gate_entry **slot = slot_of(gate, cn);
	e = *slot;
	if (e && e->through == 0 && !e->head) {
		*slot = e->next;
		free(e);
	}
}

int request_gate_waiting(const struct request_gate *gate)
{
	return gate->waiting;
}
