"""labs_common, the code the apps' images share (apps/labs_common/README.md): each module on its own.

The apps' tests cover it in use (student API and registry UI logins, the API pair's serving, every app's
*_FILE settings); here the parts are checked alone, against plain models.
"""

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from labs_common import waitress_app
from labs_common.secret_files import read_secret
from labs_common.throttle import FailureThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class AppConfigError(ValueError):
    pass


# -- secret_files ---------------------------------------------------------------------------------------

def test_the_file_wins_over_the_variable_and_loses_its_newline(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\r\n")
    assert read_secret({"PW": "from-env", "PW_FILE": str(secret)}, "PW") == "from-file"


@pytest.mark.parametrize("env, expected", [
    ({}, None), ({"PW": ""}, None), ({"PW": "plain"}, "plain"), ({"PW_FILE": "", "PW": "plain"}, "plain")])
def test_the_variable_when_no_file_is_named(env, expected):
    assert read_secret(env, "PW") == expected


def test_an_empty_file_is_no_value(tmp_path):
    (tmp_path / "empty").write_text("\n")
    assert read_secret({"PW_FILE": str(tmp_path / "empty"), "PW": "x"}, "PW") is None


def test_an_unreadable_file_raises_the_apps_error_naming_variable_and_path(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(AppConfigError, match=rf"^PW_FILE={missing} cannot be read: "):
        read_secret({"PW_FILE": str(missing)}, "PW", AppConfigError)


# -- waitress_app ---------------------------------------------------------------------------------------

def test_listen_settings_defaults_and_values():
    assert waitress_app.listen_settings({}, 8001) == ("0.0.0.0", 8001, 4)
    assert waitress_app.listen_settings({"LISTEN_HOST": "127.0.0.1", "LISTEN_PORT": "9000", "THREADS": "2"},
                                        8001) == ("127.0.0.1", 9000, 2)


@pytest.mark.parametrize("var, value", [("LISTEN_PORT", "http"), ("LISTEN_PORT", "0"), ("LISTEN_PORT", "70000"),
                                        ("THREADS", "0"), ("THREADS", "many")])
def test_bad_listen_settings_name_the_variable(var, value):
    with pytest.raises(ValueError, match=f"^{var} must be"):
        waitress_app.listen_settings({var: value}, 8001)


def test_run_exits_2_with_one_line_on_bad_settings(tmp_path):
    code = textwrap.dedent("""
        from labs_common import waitress_app
        waitress_app.run("demo", None, {"LISTEN_PORT": "http"}, 8001)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={"PYTHONPATH": str(waitress_app.__file__.rsplit("/labs_common/", 1)[0])})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["demo: error: LISTEN_PORT must be a TCP port number (1-65535), got 'http'"]


# -- throttle -------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 6), window=st.integers(1, 100),
       events=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["fail", "ok"]),
                                 st.floats(0, 50)), max_size=40))
def test_throttle_matches_a_sliding_window_model(limit, window, events):
    """FailureThrottle against a plain model: blocked iff the client's last
    ``limit`` failures since its last success all lie within the window."""
    clock = Clock()
    throttle = FailureThrottle(limit, window, clock=clock)
    model = {"a": [], "b": []}
    for client, outcome, advance in events:
        clock.now += advance
        recent = [t for t in model[client] if t > clock.now - window]
        expected_blocked = len(recent) >= limit
        wait = throttle.retry_after(client)
        assert (wait is not None) == expected_blocked, (model, clock.now)
        if expected_blocked:
            assert 0 < wait <= window
            continue  # a blocked client is not checked, nothing recorded
        if outcome == "fail":
            throttle.failed(client)
            model[client].append(clock.now)
        else:
            throttle.succeeded(client)
            model[client] = []


def test_throttle_table_is_bounded():
    throttle = FailureThrottle(3, 60, max_clients=100)
    for number in range(1000):
        throttle.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(throttle._failures) == 100
