"""The API's closed vocabularies are spelt once in C (include/rollcall/enums.h, common/enums.c)
and once in the schema's CHECK (x IN (...)) constraints; this checks that they are the same
lists, so a status, reason, alert kind, role or authority kind added on one side only fails here
instead of as a 400 or a constraint violation in production.

The C side comes from the build's `enums_json` (tests/tools/enums_json.c), the SQL side from
pg_constraint of the migrated template database, by table and column name: nothing here depends
on how the schema's files are laid out."""

import json
import re
import subprocess

from conftest import BUILD, SANITIZER_REPORT, TEMPLATE_DB

ENUMS_JSON = BUILD / "enums_json"

# Which columns each C table must equal. A column's CHECK is found by its table and name.
COLUMNS = {
    "observation_statuses": [("observations", "status")],
    "excuse_reasons": [("observations", "reason")],
    "alert_kinds": [("alerts", "kind"), ("alert_kinds", "kind")],
    "alert_priorities": [("alert_kinds", "priority"), ("oncall_channels", "min_priority")],
    "channel_kinds": [("oncall_channels", "kind")],
    "roles": [("accounts", "role")],
    "authority_kinds": [
        ("accounts", "authority"),
        ("centre_authorities", "kind"),
        ("deliveries", "authority"),
    ],
}

# The single-column CHECK constraints of a column, as PostgreSQL prints them back, e.g.
# CHECK ((status = ANY (ARRAY['present'::text, 'absent'::text, 'excused'::text]))).
CONSTRAINTS_SQL = """
SELECT c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (c.conkey)
 WHERE c.contype = 'c'
   AND cardinality(c.conkey) = 1
   AND t.relname = %s
   AND a.attname = %s
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY c.conname
"""

ARRAY_LITERAL = re.compile(r"= ANY \(+ARRAY\[(.*)\]")
QUOTED = re.compile(r"'((?:[^']|'')*)'")


def c_tables():
    proc = subprocess.run([str(ENUMS_JSON)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{ENUMS_JSON} failed ({proc.returncode}):\n{proc.stderr}"
    assert not SANITIZER_REPORT.search(proc.stderr), proc.stderr
    return json.loads(proc.stdout)


def check_list(db, table, column):
    """The values of the column's CHECK (column IN (...)), in the constraint's order, or a
    sentence saying why there is not exactly one."""
    rows = db.query(CONSTRAINTS_SQL, table, column)
    lists = []
    for name, definition in rows:
        match = ARRAY_LITERAL.search(definition)
        if match:
            values = [v.replace("''", "'") for v in QUOTED.findall(match.group(1))]
            lists.append((name, values))
    if len(lists) != 1:
        found = "; ".join(definition for _, definition in rows) or "no CHECK at all"
        return None, f"expected one CHECK ({column} IN (...)), found {len(lists)}: {found}"
    return lists[0][1], None


def difference(c_values, sql_values):
    """What differs, in words, or None."""
    only_c = [v for v in c_values if v not in sql_values]
    only_sql = [v for v in sql_values if v not in c_values]
    words = []
    if only_c:
        words.append(f"in C only: {only_c}")
    if only_sql:
        words.append(f"in the CHECK only: {only_sql}")
    if not words and c_values != sql_values:
        words.append(f"same values in another order: C {c_values}, CHECK {sql_values}")
    if not words and len(set(c_values)) != len(c_values):
        words.append(f"C lists a value twice: {c_values}")
    return "; ".join(words) or None


def test_every_c_enum_table_is_compared_with_the_schema():
    tables = c_tables()
    assert set(tables) == set(COLUMNS), (
        f"enum tables in C {sorted(tables)} and in this test {sorted(COLUMNS)} differ: "
        "say which columns a new table must equal"
    )
    for name, values in tables.items():
        assert values, f"C table {name} is empty"


def test_c_enum_tables_equal_the_check_constraints(environment):
    tables = c_tables()
    db = environment.cluster.database(TEMPLATE_DB)
    problems = []
    for name, columns in COLUMNS.items():
        c_values = tables.get(name)
        if c_values is None:
            problems.append(f"enum_{name}: no such table in C (enums_json)")
            continue
        for table, column in columns:
            sql_values, why = check_list(db, table, column)
            if why is not None:
                problems.append(f"{table}.{column} (C enum_{name}): {why}")
                continue
            diff = difference(c_values, sql_values)
            if diff is not None:
                problems.append(f"{table}.{column} != C enum_{name}: {diff}")
    assert not problems, "C enum tables and schema CHECK lists disagree:\n  " + "\n  ".join(
        problems
    )
