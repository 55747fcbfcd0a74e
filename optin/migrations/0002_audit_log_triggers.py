"""The database itself refuses UPDATE, DELETE and TRUNCATE on the log and its checkpoints
(R53), and any change or deletion of a wording version once an entry references it (R57).

On PostgreSQL the triggers are marked ENABLE ALWAYS, so `session_replication_role = replica`
does not skip them; only the tables' owner can disable them (docs/AUDIT.md: in production the
application's role is not the owner). On SQLite, a table rebuilt by a later schema migration
loses its triggers: such a migration must install them again (tests check they hold).
"""

from django.db import migrations

APPEND_ONLY = ("optin_auditentry", "optin_auditcheckpoint")
WORDING_FIELDS = ("text", "sha256", "version", "channel", "language", "published_at")

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION optin_refuse_log_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'optin: % on % refused: the audit log is append-only',
            TG_OP, TG_TABLE_NAME USING ERRCODE = '42501';
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION optin_protect_used_wording() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            IF EXISTS (SELECT 1 FROM optin_auditentry WHERE wording_version <> '') THEN
                RAISE EXCEPTION 'optin: TRUNCATE on optin_wording refused: versions are in use'
                    USING ERRCODE = '42501';
            END IF;
            RETURN NULL;
        END IF;
        IF EXISTS (SELECT 1 FROM optin_auditentry WHERE wording_version = OLD.version) THEN
            IF TG_OP = 'DELETE' OR """
    + " OR ".join(f"NEW.{f} IS DISTINCT FROM OLD.{f}" for f in WORDING_FIELDS)
    + """ THEN
                RAISE EXCEPTION 'optin: % of wording % refused: a used version never changes',
                    TG_OP, OLD.version USING ERRCODE = '42501';
            END IF;
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END $$
    """,
]
for table in APPEND_ONLY:
    PG_FORWARD += [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION optin_refuse_log_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION optin_refuse_log_change()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
    ]
PG_FORWARD += [
    "CREATE TRIGGER optin_wording_used_immutable BEFORE UPDATE OR DELETE ON optin_wording "
    "FOR EACH ROW EXECUTE FUNCTION optin_protect_used_wording()",
    "CREATE TRIGGER optin_wording_no_truncate BEFORE TRUNCATE ON optin_wording "
    "FOR EACH STATEMENT EXECUTE FUNCTION optin_protect_used_wording()",
    "ALTER TABLE optin_wording ENABLE ALWAYS TRIGGER optin_wording_used_immutable",
    "ALTER TABLE optin_wording ENABLE ALWAYS TRIGGER optin_wording_no_truncate",
]
PG_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in APPEND_ONLY),
    *(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}" for t in APPEND_ONLY),
    "DROP TRIGGER IF EXISTS optin_wording_used_immutable ON optin_wording",
    "DROP TRIGGER IF EXISTS optin_wording_no_truncate ON optin_wording",
    "DROP FUNCTION IF EXISTS optin_refuse_log_change()",
    "DROP FUNCTION IF EXISTS optin_protect_used_wording()",
]

_USED = "EXISTS (SELECT 1 FROM optin_auditentry WHERE wording_version = OLD.version)"
SQLITE_FORWARD = []
for table in APPEND_ONLY:
    for op in ("UPDATE", "DELETE"):
        SQLITE_FORWARD.append(
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'optin: {op} on {table} refused: the audit log is "
            "append-only'); END"
        )
SQLITE_FORWARD += [
    "CREATE TRIGGER optin_wording_used_no_update BEFORE UPDATE ON optin_wording "
    f"WHEN {_USED} AND ("
    + " OR ".join(f"NEW.{f} IS NOT OLD.{f}" for f in WORDING_FIELDS)
    + ") BEGIN SELECT RAISE(ABORT, 'optin: UPDATE of a used wording refused: a used version "
    "never changes'); END",
    f"CREATE TRIGGER optin_wording_used_no_delete BEFORE DELETE ON optin_wording WHEN {_USED} "
    "BEGIN SELECT RAISE(ABORT, 'optin: DELETE of a used wording refused'); END",
]
SQLITE_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {t}_no_{op} " for t in APPEND_ONLY for op in ("update", "delete")),
    "DROP TRIGGER IF EXISTS optin_wording_used_no_update",
    "DROP TRIGGER IF EXISTS optin_wording_used_no_delete",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError("optin supports PostgreSQL and SQLite only")
        for statement in statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("optin", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
