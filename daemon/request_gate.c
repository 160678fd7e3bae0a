/* The request gate: one entry per CN with calls through or waiting, in a chained hash table;
 * an entry lives only while it has calls, so memory follows the requests in flight (each holds
 * a connection, and connections are capped). */
#include "request_gate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GATE_BUCKETS 256

struct gate_waiter {
	struct gate_waiter *next;
	void (*start)(void *arg);
	void *arg;
};

struct gate_entry {
	struct gate_entry *next; /* in its hash bucket */
	int through;             /* started and not yet left */
	struct gate_waiter *head, *tail;
	char cn[]; /* NUL-terminated */
};

struct request_gate {
	int per_cn;
	int waiting;
	struct gate_entry *buckets[GATE_BUCKETS];
};

struct request_gate *request_gate_new(int per_cn)
{
	struct request_gate *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->per_cn = per_cn < 1 ? 1 : per_cn;
	return g;
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

static struct gate_entry **slot_of(struct request_gate *g, const char *cn)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)cn; *p; p++)
		h = (h ^ *p) * 16777619u;
	struct gate_entry **slot = &g->buckets[h % GATE_BUCKETS];
	while (*slot && strcmp((*slot)->cn, cn) != 0)
		slot = &(*slot)->next;
	return slot;
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
	if (e->through < gate->per_cn) {
		e->through++;
		start(arg); /* may leave at once, which may free e: do not touch it afterwards */
		return true;
	}
	struct gate_waiter *w = calloc(1, sizeof *w);
	if (!w)
		return false; /* e has calls through, so it stays */
	w->start = start;
	w->arg = arg;
	if (e->tail)
		e->tail->next = w;
	else
		e->head = w;
	e->tail = w;
	gate->waiting++;
	return true;
}

void request_gate_leave(struct request_gate *gate, const char *cn)
{
	struct gate_entry **slot = slot_of(gate, cn);
	struct gate_entry *e = *slot;
	if (!e || e->through <= 0)
		return; /* a caller's bug; nothing to release */
	e->through--;
	if (e->head) {
		/* The next waiting call takes the place just left. */
		struct gate_waiter *w = e->head;
		e->head = w->next;
		if (!e->head)
			e->tail = NULL;
		gate->waiting--;
		e->through++;
		void (*start)(void *) = w->start;
		void *arg = w->arg;
		free(w);
		start(arg); /* may re-enter leave for this cn */
		return;
	}
	if (e->through == 0) {
		*slot = e->next;
		free(e);
	}
}

int request_gate_waiting(const struct request_gate *gate)
{
	return gate->waiting;
}
