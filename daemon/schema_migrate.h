/* rollcalld --migrate: brings a database to this build's schema (docs/DESIGN.md, "Changing the
 * schema"). Pending migrations and the whole code layer are applied in one transaction under an
 * advisory lock, so an upgrade either happens whole or leaves the database as it was. */
#ifndef ROLLCALL_SCHEMA_MIGRATE_H
#define ROLLCALL_SCHEMA_MIGRATE_H

#include <stdbool.h>

/* Applies schema_dir/migrations not yet recorded and, when its hash differs from the recorded
 * one (or a migration was applied), re-creates the code layer from schema_dir/code. Refuses a
 * schema directory other than the one this rollcalld was built with, and a database whose
 * applied migration no longer matches its file (naming the file). */
bool schema_migrate(const char *conninfo, const char *schema_dir)
    __attribute__((warn_unused_result));

#endif
