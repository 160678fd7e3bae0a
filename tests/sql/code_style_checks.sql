-- Style checks of the code layer (schema/code/*.sql) that the database itself can answer.
-- Run against a migrated database:
--     psql -X -v ON_ERROR_STOP=1 -d DB -f tests/sql/code_style_checks.sql
-- Reads the catalogue only; fails with an exception naming what breaks the rule.
\set ON_ERROR_STOP on

-- Parameter names (docs/DESIGN.md, "Changing the schema"): every parameter of a function in
-- schema public starts with p_, except ctx and args, which always mean the request context and
-- the request arguments (op_<name>(ctx, args), and helpers handed them). OUT and TABLE columns
-- (proargmodes 'o' and 't') are the shape of the result, not parameters: not checked. Functions
-- of extensions are not ours: skipped.
DO $$
DECLARE
    offenders text;
BEGIN
    SELECT string_agg(format('%s(%s)', p.oid::regprocedure, a.name), ', '
                      ORDER BY p.oid::regprocedure::text, a.n)
      INTO offenders
      FROM pg_proc p
      JOIN pg_namespace ns ON ns.oid = p.pronamespace
      CROSS JOIN LATERAL unnest(p.proargnames, coalesce(p.proargmodes,
                                array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)])))
                 WITH ORDINALITY AS a(name, mode, n)
     WHERE ns.nspname = 'public'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
       AND a.mode NOT IN ('o', 't')
       AND a.name <> ''
       AND a.name NOT LIKE 'p\_%'
       AND a.name NOT IN ('ctx', 'args');
    IF offenders IS NOT NULL THEN
        RAISE EXCEPTION 'code_style_checks: parameters not named p_* (nor ctx/args): %',
            offenders;
    END IF;
    RAISE NOTICE 'code_style_checks: parameter names ok';
END $$;
