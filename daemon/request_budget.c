/* Token buckets per CN in a fixed, set-associative table: a CN hashes to one set of
 * BUDGET_WAYS slots; a CN not there takes a free slot or the least recently used one of its set.
 * A CN given up that way starts again with a full bucket, which is the generous mistake: the
 * table is sized for far more certificates than a deployment issues (every CN comes from the
 * deployment's CA), so it happens only under a flood of distinct CNs, where memory must stay
 * bounded. Tokens are counted in millionths (integers, no floating point). */
#include "request_budget.h"

#include <stdlib.h>
#include <string.h>

#define BUDGET_SETS 256 /* 1,024 certificates before any is given up: about 170 kB */
#define BUDGET_WAYS 4
#define BUDGET_CN_MAX 128 /* as struct request's cn */
#define MICRO 1000000LL

struct bucket {
	char cn[BUDGET_CN_MAX];
	int64_t tokens_micro; /* millionths of a request */
	int64_t refilled_us;  /* the instant tokens_micro was brought up to date */
	int64_t used_us;      /* last request, for eviction */
	bool used;
};

struct request_budget {
	int rate, burst;
	int in_use;
	unsigned long long evicted;
	struct bucket slots[BUDGET_SETS][BUDGET_WAYS];
};

struct request_budget *request_budget_new(int rate, int burst)
{
	struct request_budget *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->rate = rate < 0 ? 0 : rate;
	b->burst = burst < 1 ? 1 : burst;
	return b;
}

void request_budget_free(struct request_budget *budget)
{
	free(budget);
}

/* FNV-1a: short keys, no adversary who can choose them outside the CA's certificates. */
static unsigned hash_cn(const char *cn)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)cn; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % BUDGET_SETS;
}

static struct bucket *bucket_for(struct request_budget *b, const char *cn, int64_t now_us)
{
	struct bucket *set = b->slots[hash_cn(cn)];
	struct bucket *victim = NULL;
	for (int i = 0; i < BUDGET_WAYS; i++) {
		if (set[i].used && strcmp(set[i].cn, cn) == 0)
			return &set[i];
		if (!victim || (victim->used && (!set[i].used || set[i].used_us < victim->used_us)))
			victim = &set[i];
	}
	if (victim->used)
		b->evicted++;
	else
		b->in_use++;
	memset(victim, 0, sizeof *victim);
	victim->used = true;
	size_t len = strlen(cn);
	if (len >= sizeof victim->cn)
		len = sizeof victim->cn - 1;
	memcpy(victim->cn, cn, len);
	victim->tokens_micro = (int64_t)b->burst * MICRO;
	victim->refilled_us = now_us;
	return victim;
}

bool request_budget_take(struct request_budget *b, const char *cn, int64_t now_us,
                         int *retry_after_s)
{
	if (b->rate == 0)
		return true;
	struct bucket *k = bucket_for(b, cn, now_us);
	k->used_us = now_us;
	int64_t full = (int64_t)b->burst * MICRO;
	int64_t elapsed = now_us - k->refilled_us;
	if (elapsed > 0) {
		/* Refilling from empty takes burst / rate seconds; beyond that the bucket is full
		 * (and the product below cannot overflow). */
		int64_t cap_us = full / b->rate + 1;
		if (elapsed > cap_us)
			elapsed = cap_us;
		k->tokens_micro += elapsed * b->rate;
		if (k->tokens_micro > full)
			k->tokens_micro = full;
	}
	k->refilled_us = now_us;
	if (k->tokens_micro >= MICRO) {
		k->tokens_micro -= MICRO;
		return true;
	}
	/* Whole seconds until one token has come back, rounded up. */
	int64_t missing = MICRO - k->tokens_micro;
	int64_t per_second = (int64_t)b->rate * MICRO;
	int64_t wait_s = (missing + per_second - 1) / per_second;
	*retry_after_s = wait_s < 1 ? 1 : (int)wait_s;
	return false;
}

int request_budget_used(const struct request_budget *budget)
{
	return budget->in_use;
}

unsigned long long request_budget_evicted(const struct request_budget *budget)
{
	return budget->evicted;
}
