/* `rollcall sync`: sends the rounds taken while the server could not be reached (see
 * round_offline.h), oldest first, and shows what the server made of them. */
#include "cli.h"
#include "round_offline.h"
#include "session.h"

int cmd_sync(struct session *session, const struct cmd_args *args)
{
	(void)args;
	return round_sync_pending(session, false);
}
