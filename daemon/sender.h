/* The webhook sender's figures for /metrics. Its life cycle (sender_new, sender_free,
 * sender_kick, sender_reload_ca) is declared in daemon.h. */
#ifndef ROLLCALL_SENDER_H
#define ROLLCALL_SENDER_H

struct sender;

struct sender_stats {
	unsigned long long delivered; /* attempts recorded as delivered by this instance */
	unsigned long long failed;    /* attempts recorded as failed by this instance */
	int in_flight;                /* attempts under way now */
};

void sender_stats(const struct sender *sender, struct sender_stats *out);

#endif
