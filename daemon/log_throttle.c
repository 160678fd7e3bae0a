/* Once per key, then once per period: see log_throttle.h. A short list, because the keys are a
 * centre and an authority (a few dozen at most), looked up only when something failed. */
#include <stdlib.h>
#include <string.h>

#include "log_throttle.h"

#define LOG_THROTTLE_MAX_KEYS 4096

struct throttle_entry {
	struct throttle_entry *next;
	int64_t written_us; /* when the last line of this key was written */
	unsigned long held_back;
	char key[];
};

struct log_throttle {
	int64_t period_us;
	struct throttle_entry *entries;
	unsigned count;
};

struct log_throttle *log_throttle_new(int64_t period_us)
{
	struct log_throttle *t = calloc(1, sizeof *t);
	if (t)
		t->period_us = period_us;
	return t;
}

void log_throttle_free(struct log_throttle *t)
{
	if (!t)
		return;
	struct throttle_entry *e = t->entries;
	while (e) {
		struct throttle_entry *next = e->next;
		free(e);
		e = next;
	}
	free(t);
}

bool log_throttle_allow(struct log_throttle *t, const char *key, int64_t now_us,
                        unsigned long *held_back)
{
	*held_back = 0;
	for (struct throttle_entry *e = t->entries; e; e = e->next) {
		if (strcmp(e->key, key) != 0)
			continue;
		if (now_us - e->written_us < t->period_us) {
			e->held_back++;
			return false;
		}
		*held_back = e->held_back;
		e->held_back = 0;
		e->written_us = now_us;
		return true;
	}
	if (t->count >= LOG_THROTTLE_MAX_KEYS)
		return true;
	size_t len = strlen(key);
	struct throttle_entry *e = malloc(sizeof *e + len + 1);
	if (!e)
		return true;
	memcpy(e->key, key, len + 1);
	e->written_us = now_us;
	e->held_back = 0;
	e->next = t->entries;
	t->entries = e;
	t->count++;
	return true;
}
