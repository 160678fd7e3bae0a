"""rollcalld's start-up (SPEC section 10, Daemon): the configuration file is checked key by key
(an unknown key or a bad value refuses to start, naming the key and its line), and the daemon
refuses a database whose schema `rollcalld --migrate` has not brought up to date."""

import re
import subprocess

import pytest
from harness import ROLLCALLD


def write_config(daemon, extra_lines, drop=()):
    """Writes the daemon's config with extra_lines appended; returns the 1-based line number of
    the first extra line."""
    lines = ["[rollcalld]"]
    lines += [f"{k} = {v}" for k, v in daemon.settings.items() if k not in drop]
    first = len(lines) + 1
    lines += extra_lines
    daemon.config_path.write_text("\n".join(lines) + "\n")
    return first


def assert_names_key_and_line(output, key, line):
    assert key in output, output
    assert re.search(rf"(?<!\d){line}(?!\d)", output), f"line {line} not named:\n{output}"


def test_unknown_key_refuses_to_start_naming_key_and_line(daemon_factory):
    daemon = daemon_factory(start=False)
    line = write_config(daemon, ["colour_scheme = blue"])
    code, output = daemon.run_once(timeout=30)
    assert code != 0
    assert_names_key_and_line(output, "colour_scheme", line)


@pytest.mark.parametrize(
    "key, value",
    [
        ("test_clock", "maybe"),
        ("log_level", "chatty"),
        ("listen", "127.0.0.1:notaport"),
        ("db_pool_size", "-3"),
        ("max_body_bytes", "lots"),
    ],
)
def test_bad_value_refuses_to_start_naming_key_and_line(daemon_factory, key, value):
    daemon = daemon_factory(start=False)
    line = write_config(daemon, [f"{key} = {value}"], drop=(key,))
    code, output = daemon.run_once(timeout=30)
    assert code != 0
    assert_names_key_and_line(output, key, line)


@pytest.mark.parametrize("key", ["listen", "tls_cert", "tls_key", "tls_ca", "database"])
def test_missing_required_key_refuses_to_start(daemon_factory, key):
    daemon = daemon_factory(start=False)
    write_config(daemon, [], drop=(key,))
    code, output = daemon.run_once(timeout=30)
    assert code != 0
    assert key in output, output


def test_unreadable_certificate_refuses_to_start(daemon_factory, workdir):
    daemon = daemon_factory(start=False, config={"tls_cert": workdir / "no-such-file.pem"})
    code, output = daemon.run_once(timeout=30)
    assert code != 0
    assert "no-such-file.pem" in output, output


def test_missing_config_file_refuses_to_start(daemon_factory):
    daemon = daemon_factory(start=False)
    daemon.config_path.unlink()
    code, output = daemon.run_once(timeout=30)
    assert code != 0
    assert str(daemon.config_path) in output or "rollcalld.ini" in output, output


def test_unmigrated_database_refuses_to_start_and_says_to_migrate(daemon_factory):
    daemon = daemon_factory(start=False, migrated=False)
    code, output = daemon.run_once(timeout=60)
    assert code != 0
    assert "--migrate" in output, output
    # Nothing was created behind the operator's back.
    assert daemon.db.scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    ) == 0


def test_migrate_brings_a_new_database_up_and_is_idempotent(daemon_factory, environment):
    daemon = daemon_factory(start=False, migrated=False)
    code, output = daemon.run_once("--migrate", timeout=120)
    assert code == 0, output
    versions = daemon.db.query("SELECT version FROM schema_migrations ORDER BY version")
    template = environment.cluster.database("rc_template")
    assert versions == template.query("SELECT version FROM schema_migrations ORDER BY version")
    assert len(versions) >= 1

    # Running it again applies nothing and succeeds.
    code, output = daemon.run_once("--migrate", timeout=120)
    assert code == 0, output
    assert daemon.db.query("SELECT version FROM schema_migrations ORDER BY version") == versions

    # And the daemon now starts on it.
    daemon.start()


def test_schema_newer_than_the_daemon_refuses_to_start(daemon_factory):
    daemon = daemon_factory(start=False)
    top = daemon.db.scalar("SELECT max(version) FROM schema_migrations")
    daemon.db.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) "
        "VALUES (%s, 'from the future', '2030-01-01T00:00:00Z')",
        top + 1,
    )
    code, output = daemon.run_once(timeout=60)
    assert code != 0
    assert "version" in output.lower(), output


def test_help_and_usage():
    proc = subprocess.run([str(ROLLCALLD), "--help"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0
    assert "--config" in proc.stdout + proc.stderr
    assert "--migrate" in proc.stdout + proc.stderr
    proc = subprocess.run([str(ROLLCALLD)], capture_output=True, text=True, timeout=10)
    assert proc.returncode != 0, "no --config must be a usage error"
