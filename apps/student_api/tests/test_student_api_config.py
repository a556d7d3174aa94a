"""Configuration from the environment, with X_FILE variants for secrets."""

import pytest

from student_api import config
from student_api.config import ConfigError, load_settings

BASE = {"API_USERNAME": "teacher", "API_PASSWORD": "pw"}


def test_minimal_and_defaults():
    settings = load_settings(dict(BASE))
    assert settings.username == "teacher" and settings.password == "pw"
    assert settings.data_file == "/data/student_age.json"
    assert settings.port == 5000
    assert settings.workers >= 1 and settings.threads >= 1
    assert settings.seed_if_empty is True
    assert settings.access_log is False
    assert settings.worker_class == "gthread"
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    "env,fragment",
    [
        ({}, "API_USERNAME and API_PASSWORD not set"),
        ({"API_USERNAME": "teacher"}, "API_PASSWORD not set"),
        ({"API_PASSWORD": "pw"}, "API_USERNAME not set"),
        ({"API_USERNAME": "", "API_PASSWORD": "pw"}, "API_USERNAME not set"),
        ({"API_USERNAME": "root", "API_PASSWORD": "root"}, "root:root"),
        ({"API_USERNAME": "a:b", "API_PASSWORD": "pw"}, "':'"),
    ],
)
def test_refused_credentials(env, fragment):
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_root_with_another_password_is_allowed():
    assert load_settings({"API_USERNAME": "root", "API_PASSWORD": "long-secret"}).username == "root"


def test_file_variants_win(tmp_path):
    user_file = tmp_path / "user"
    pass_file = tmp_path / "pass"
    user_file.write_text("from-file\n")
    pass_file.write_text("p@ss word\n")
    env = {
        "API_USERNAME": "plain",
        "API_PASSWORD": "plain",
        "API_USERNAME_FILE": str(user_file),
        "API_PASSWORD_FILE": str(pass_file),
    }
    settings = load_settings(env)
    assert settings.username == "from-file"
    assert settings.password == "p@ss word"


def test_file_variant_root_root_is_refused(tmp_path):
    (tmp_path / "u").write_text("root")
    (tmp_path / "p").write_text("root\n")
    with pytest.raises(ConfigError, match="root:root"):
        load_settings({"API_USERNAME_FILE": str(tmp_path / "u"), "API_PASSWORD_FILE": str(tmp_path / "p")})


def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="API_PASSWORD_FILE=.*cannot be read"):
        load_settings({"API_USERNAME": "u", "API_PASSWORD_FILE": str(tmp_path / "absent")})


def test_empty_file_counts_as_missing(tmp_path):
    (tmp_path / "p").write_text("\n")
    with pytest.raises(ConfigError, match="API_PASSWORD not set"):
        load_settings({"API_USERNAME": "u", "API_PASSWORD_FILE": str(tmp_path / "p")})


def test_tuning_variables():
    settings = load_settings(
        {
            **BASE,
            "GUNICORN_WORKERS": "3",
            "GUNICORN_THREADS": "16",
            "PORT": "8081",
            "DATA_FILE": "/srv/x.json",
            "SEED_IF_EMPTY": "false",
            "MAX_BODY_BYTES": "2048",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "on",
            "GUNICORN_WORKER_CLASS": "sync",
        }
    )
    assert (settings.workers, settings.threads, settings.port) == (3, 16, 8081)
    assert settings.data_file == "/srv/x.json"
    assert settings.seed_if_empty is False
    assert settings.max_body_bytes == 2048
    assert settings.log_level == "warning"
    assert settings.access_log is True
    assert settings.worker_class == "sync"


@pytest.mark.parametrize(
    "extra,fragment",
    [
        ({"GUNICORN_WORKERS": "zero"}, "not an integer"),
        ({"GUNICORN_WORKERS": "0"}, "outside"),
        ({"PORT": "70000"}, "outside"),
        ({"DATA_FILE": "relative.json"}, "absolute"),
        ({"SEED_IF_EMPTY": "maybe"}, "boolean"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"GUNICORN_WORKER_CLASS": "gevent"}, "GUNICORN_WORKER_CLASS"),
    ],
)
def test_invalid_tuning(extra, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings({**BASE, **extra})


@pytest.fixture()
def cgroup(tmp_path, monkeypatch):
    """Point the quota readers at files of the test's own; two usable CPUs."""
    paths = {
        "CGROUP_CPU_MAX": tmp_path / "cpu.max",
        "CGROUP_V1_QUOTA": tmp_path / "cpu.cfs_quota_us",
        "CGROUP_V1_PERIOD": tmp_path / "cpu.cfs_period_us",
    }
    for name, path in paths.items():
        monkeypatch.setattr(config, name, str(path))
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: {0, 1})
    return paths


@pytest.mark.parametrize(
    "files,quota,workers",
    [
        ({}, None, 2),  # no cgroup files: one per CPU, at least 2
        ({"CGROUP_CPU_MAX": "max 100000"}, None, 2),
        ({"CGROUP_CPU_MAX": "100000 100000"}, 1.0, 1),  # --cpus 1: one worker, never throttled
        ({"CGROUP_CPU_MAX": "150000 100000"}, 1.5, 1),
        ({"CGROUP_CPU_MAX": "50000 100000"}, 0.5, 1),
        ({"CGROUP_CPU_MAX": "400000 100000"}, 4.0, 2),  # a quota above the CPUs changes nothing
        ({"CGROUP_V1_QUOTA": "-1", "CGROUP_V1_PERIOD": "100000"}, None, 2),
        ({"CGROUP_V1_QUOTA": "100000", "CGROUP_V1_PERIOD": "100000"}, 1.0, 1),
        ({"CGROUP_V1_QUOTA": "200000", "CGROUP_V1_PERIOD": "100000"}, 2.0, 2),
        ({"CGROUP_CPU_MAX": "garbage"}, None, 2),
    ],
)
def test_default_workers_follow_the_cpu_quota(cgroup, files, quota, workers):
    for name, content in files.items():
        cgroup[name].write_text(content + "\n")
    assert config.cpu_quota() == quota
    assert config.default_workers() == workers
    assert load_settings(dict(BASE)).workers == workers
    assert load_settings({**BASE, "GUNICORN_WORKERS": "3"}).workers == 3
