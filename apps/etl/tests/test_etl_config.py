"""Settings: environment, env file, secrets as files, validation, CLI."""

from __future__ import annotations

import pytest

from etl import cli
from etl.config import Settings, load_settings, parse_env_file
from etl.errors import EXIT_CONFIG, ConfigError


def test_defaults_and_stage_roles():
    settings = load_settings({})
    assert settings == Settings()
    assert settings.user_for("extract") == "etl_reader"
    assert settings.user_for("load") == "etl_writer"
    assert load_settings({"ETL_DB_USER": "alice"}).user_for("load") == "alice"
    # The password never shows in a repr (logs, tracebacks).
    assert "s3cret" not in repr(load_settings({"ETL_DB_PASSWORD": "s3cret"}))


def test_env_file_is_layered_under_the_environment(tmp_path):
    env_file = tmp_path / "etl.env"
    env_file.write_text(
        "# connection settings\n"
        "ETL_DB_HOST=db.internal\n"
        "export ETL_DB_PORT=6543\n"
        "ETL_DB_NAME='school_test'\n"
        'ETL_LOAD_MODE="naive"\n'
        "\n"
        "ETL_OUTPUT_DIR = /srv/out\n"
    )
    settings = load_settings({"ETL_ENV_FILE": str(env_file), "ETL_DB_PORT": "7000"})
    assert settings.db_host == "db.internal"
    assert settings.db_port == 7000  # the process environment wins
    assert settings.db_name == "school_test"
    assert settings.load_mode == "naive"
    assert settings.output_dir == "/srv/out"


def test_env_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings({"ETL_ENV_FILE": str(tmp_path / "missing.env")})
    bad = tmp_path / "bad.env"
    bad.write_text("ETL_DB_HOST=ok\nthis is not a setting\n")
    with pytest.raises(ConfigError, match="bad.env:2"):
        parse_env_file(str(bad))


def test_password_file_wins_and_loses_its_newline(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    settings = load_settings({"ETL_DB_PASSWORD": "from-env", "ETL_DB_PASSWORD_FILE": str(secret)})
    assert settings.db_password == "from-file"
    assert load_settings({"ETL_DB_PASSWORD": "from-env"}).db_password == "from-env"
    with pytest.raises(ConfigError, match="ETL_DB_PASSWORD_FILE"):
        load_settings({"ETL_DB_PASSWORD_FILE": str(tmp_path / "nope")})


def test_password_file_can_come_from_the_env_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("pw-in-file")
    env_file = tmp_path / "etl.env"
    env_file.write_text(f"ETL_DB_PASSWORD_FILE={secret}\n")
    assert load_settings({"ETL_ENV_FILE": str(env_file)}).db_password == "pw-in-file"


@pytest.mark.parametrize(
    "name, value",
    [
        ("ETL_DB_PORT", "0"),
        ("ETL_DB_PORT", "http"),
        ("ETL_DB_WAIT_SECONDS", "-1"),
        ("ETL_DB_WAIT_SECONDS", "nan"),
        ("ETL_LOAD_MODE", "bulk"),
        ("ETL_LOAD_DB", "maybe"),
        ("ETL_MAX_BAD_RATIO", "1.5"),
        ("ETL_DB_SSLMODE", "sometimes"),
        ("ETL_LOG_LEVEL", "chatty"),
    ],
)
def test_invalid_values_are_rejected(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_empty_metrics_dir_disables_metrics():
    assert load_settings({"ETL_METRICS_DIR": ""}).metrics_dir == ""
    assert load_settings({}).metrics_dir == "/data/metrics"


def test_cli_configuration_error_exit_code(capsys):
    assert cli.main(["extract"], env={"ETL_DB_PORT": "70000"}) == EXIT_CONFIG
    assert "ETL_DB_PORT" in capsys.readouterr().err


def test_cli_usage(capsys):
    assert cli.main(["--help"], env={}) == 0
    out = capsys.readouterr().out
    assert "exit codes" in out and "database unavailable" in out
    assert cli.main(["frobnicate"], env={}) == 2
    assert cli.main(["version"], env={}) == 0
    assert capsys.readouterr().out.strip() == "1.0.0"
