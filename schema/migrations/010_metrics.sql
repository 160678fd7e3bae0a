-- Monitoring (issue 17, docs/operations.md "Monitoring"): the `metrics` role, so that a
-- Prometheus server scrapes GET /metrics without holding an admin certificate, and an index
-- that keeps the scrape's count of unacknowledged alerts cheap however long the alert history
-- grows. The series themselves come from metrics_snapshot() in schema/code/metrics.sql.

-- accounts.role gains 'metrics' (001_core.sql's CHECK is unnamed: PostgreSQL named it
-- accounts_role_check). The list's order is rollcall/enums.h's enum_roles.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('staff', 'oncall', 'manager', 'admin', 'authority', 'metrics'));

-- Open alerts (neither acknowledged nor resolved) by centre and kind: what the scrape counts.
CREATE INDEX alerts_open ON alerts (centre, kind) WHERE acked_at IS NULL AND resolved_at IS NULL;
