"""Headless Chromium plumbing shared by the browser checks in tests/browser.

Used by website_check.py and registry_ui_check.py. It drives Debian's chromium
(/usr/bin/chromium) through Debian's chromedriver (/usr/bin/chromedriver) with
selenium; both paths are given to selenium, so its driver manager never runs and
nothing is downloaded (on Debian: apt-get install chromium chromium-driver;
pip install selenium).

What it offers:

- ``CHROMIUM_FLAGS``: the command-line flags every check starts chromium with
  (headless, no sandbox, no GPU, no QUIC, no background networking, updates,
  sync, extensions or first-run pages; 1280x900 window).
- ``CheckFailed`` (exit status 1: the page is wrong) and ``BrowserUnavailable``
  (exit status 2: chromium, chromedriver or selenium missing or not starting);
  ``EXIT_OK``, ``EXIT_FAILED`` and ``EXIT_UNAVAILABLE`` are those statuses.
- ``load_selenium()``: the selenium names the checks use (TimeoutException,
  WebDriverException, By, expected_conditions as ec, WebDriverWait), or
  BrowserUnavailable without selenium.
- ``find_executable()``, ``start_browser()``: locate chromium/chromedriver and
  start a driver on a given ``--user-data-dir``.
- ``chromium_session()``: a context manager giving a started driver on a fresh
  temporary user-data-dir; the browser is quit and the directory removed on exit.
- ``save_screenshot()``: a PNG of the current page (CheckFailed if it cannot).
- ``run_check()``: the common part of a script's ``main``: runs the check and
  maps CheckFailed/BrowserUnavailable to a message on stderr and exit 1/2.

The scripts are run standalone (``python tests/browser/<script>.py``) and loaded
by file path from the tests, so each puts its own directory on sys.path before
``import browser_session``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, Tuple, Type

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 2

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--window-size=1280,900",
)

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "chromedriver")


class CheckFailed(Exception):
    """The page does not show what it should (exit 1)."""


class BrowserUnavailable(Exception):
    """Chromium / chromedriver / selenium missing or not starting (exit 2)."""


class Selenium(NamedTuple):
    """The selenium names the checks use; unpack it or use the attributes."""

    TimeoutException: Any
    WebDriverException: Any
    By: Any
    ec: Any  # selenium.webdriver.support.expected_conditions
    WebDriverWait: Any


def load_selenium() -> Selenium:
    """``Selenium(TimeoutException, WebDriverException, By, ec, WebDriverWait)``;
    BrowserUnavailable when selenium is not installed."""
    try:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc
    return Selenium(TimeoutException, WebDriverException, By, ec, WebDriverWait)


def find_executable(explicit: Optional[str], candidates: Sequence[str], what: str) -> str:
    """``explicit`` if given, else the first of ``candidates`` (paths or names on
    PATH) that is an executable file; BrowserUnavailable if none is."""
    tried = [explicit] if explicit else list(candidates)
    for candidate in tried:
        path = shutil.which(candidate) if candidate and os.sep not in candidate else candidate
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BrowserUnavailable(
        f"{what} not found (tried {', '.join(tried)}); "
        "on Debian: apt-get install chromium chromium-driver"
    )


def start_browser(chromium: Optional[str], chromedriver: Optional[str], user_data_dir: str):
    """A selenium Chrome driver on Debian's chromium with CHROMIUM_FLAGS and
    ``--user-data-dir=user_data_dir``; BrowserUnavailable when it cannot start."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc
    binary = find_executable(chromium, CHROMIUM_CANDIDATES, "chromium")
    driver_path = find_executable(chromedriver, CHROMEDRIVER_CANDIDATES, "chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    # Given both paths, selenium does not run its driver manager (no download).
    service = Service(executable_path=driver_path)
    try:
        return webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        raise BrowserUnavailable(f"chromium did not start: {exc.msg or exc}".strip()) from exc


@contextlib.contextmanager
def chromium_session(
    prefix: str,
    chromium: Optional[str] = None,
    chromedriver: Optional[str] = None,
    page_load_timeout: Optional[float] = None,
) -> Iterator[Any]:
    """A started driver on a fresh temporary user-data-dir (named ``prefix``...);
    on exit the browser is quit and the directory removed, also on errors."""
    user_data_dir = tempfile.mkdtemp(prefix=prefix)
    driver = None
    try:
        driver = start_browser(chromium, chromedriver, user_data_dir)
        if page_load_timeout is not None:
            driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # pragma: no cover - best effort
                pass
        shutil.rmtree(user_data_dir, ignore_errors=True)


def save_screenshot(driver, path: Optional[str]) -> Optional[str]:
    """Save a PNG of the current page to ``path`` (its directory is created);
    None without a path, CheckFailed if the browser cannot save it."""
    if not path:
        return None
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not driver.save_screenshot(path):
        raise CheckFailed(f"could not save the screenshot to {path}")
    return path


def run_check(
    prog: str,
    check: Callable[[], Any],
    unavailable_label: str,
    failed_label: str,
    failures: Tuple[Type[BaseException], ...] = (CheckFailed,),
    on_failure: Optional[Callable[[], None]] = None,
) -> Tuple[int, Any]:
    """Run ``check()``; returns (EXIT_OK, its result), or prints
    ``prog: unavailable_label: message`` / ``prog: failed_label: message`` on
    stderr and returns (EXIT_UNAVAILABLE, None) / (EXIT_FAILED, None).
    ``on_failure`` runs after the failure message (e.g. to name a screenshot)."""
    try:
        return EXIT_OK, check()
    except BrowserUnavailable as exc:
        print(f"{prog}: {unavailable_label}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE, None
    except failures as exc:
        print(f"{prog}: {failed_label}: {exc}", file=sys.stderr)
        if on_failure is not None:
            on_failure()
        return EXIT_FAILED, None
