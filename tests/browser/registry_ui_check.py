#!/usr/bin/env python3
"""Check the registry web UI in a real (headless) browser.

    python tests/browser/registry_ui_check.py --url http://127.0.0.1:8081 \
        --username admin --password-file .secrets/registry_ui_password \
        --expect-tag molecule/kept:1 --screenshot artifacts/registry_ui.png

Opens the UI in Debian's chromium (driven by Debian's chromedriver through selenium;
nothing is downloaded), logs in through the form, checks the repository list shows
each expected repository, opens each one and checks its tag is listed, and saves
screenshots of the repository list (<screenshot stem>-repositories.png) and of the
last tag list (--screenshot). Exit status: 0 = OK, 1 = the UI is wrong, 2 = the browser
could not be started or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

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
    "--window-size=1280,900",
)


class CheckFailed(Exception):
    """The UI does not show what it should (exit 1)."""


class BrowserUnavailable(Exception):
    """Chromium / chromedriver / selenium missing or not starting (exit 2)."""


def _find(explicit: Optional[str], candidates: Sequence[str], what: str) -> str:
    for candidate in [explicit] if explicit else list(candidates):
        path = shutil.which(candidate) if candidate and os.sep not in candidate else candidate
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BrowserUnavailable(f"{what} not found; on Debian: apt-get install chromium chromium-driver")


def start_browser(chromium: Optional[str], chromedriver: Optional[str], user_data_dir: str):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc
    options = webdriver.ChromeOptions()
    options.binary_location = _find(chromium, ("/usr/bin/chromium", "chromium", "chromium-browser"), "chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    # With an explicit driver path selenium does not run its driver manager (no download).
    service = Service(executable_path=_find(chromedriver, ("/usr/bin/chromedriver", "chromedriver"), "chromedriver"))
    try:
        return webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        raise BrowserUnavailable(f"chromium did not start: {exc.msg or exc}".strip()) from exc


def _shot(driver, path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not driver.save_screenshot(path):
        raise CheckFailed(f"could not save the screenshot to {path}")
    return path


def check_registry_ui(
    url: str,
    username: str,
    password: str,
    expected: Sequence[Tuple[str, str]],
    screenshot: Optional[str] = None,
    timeout: float = 20.0,
    chromium: Optional[str] = None,
    chromedriver: Optional[str] = None,
) -> List[str]:
    """Log in, check each (repository, tag) of ``expected``; returns the screenshots saved."""
    try:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc

    shots: List[str] = []
    list_shot = None
    if screenshot:
        stem, ext = os.path.splitext(screenshot)
        list_shot = f"{stem}-repositories{ext or '.png'}"
    user_data_dir = tempfile.mkdtemp(prefix="registry-ui-check-chromium-")
    driver = None
    try:
        driver = start_browser(chromium, chromedriver, user_data_dir)
        driver.set_page_load_timeout(timeout)
        wait = WebDriverWait(driver, timeout)
        try:
            driver.get(url)
        except (TimeoutException, WebDriverException) as exc:
            raise CheckFailed(f"{url} could not be opened: {exc}") from exc
        try:
            wait.until(ec.presence_of_element_located((By.ID, "login-form")))
        except TimeoutException as exc:
            _shot(driver, screenshot)
            raise CheckFailed(f"no login form at {driver.current_url} (title {driver.title!r})") from exc
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "login-submit").click()
        try:
            wait.until(
                lambda d: d.find_elements(By.ID, "repositories")
                or d.find_elements(By.ID, "no-repositories")
                or d.find_elements(By.ID, "error-message")
                or d.find_elements(By.CSS_SELECTOR, ".flash.error")
            )
        except TimeoutException as exc:
            _shot(driver, screenshot)
            raise CheckFailed(f"after logging in, no repository list within {timeout:g} s") from exc
        errors = driver.find_elements(By.ID, "error-message") + driver.find_elements(By.CSS_SELECTOR, ".flash.error")
        if errors:
            _shot(driver, screenshot)
            raise CheckFailed(f"the UI shows an error after logging in: {errors[0].text.strip()!r}")
        current = driver.find_elements(By.ID, "current-user")
        if not current or current[0].text.strip() != username:
            raise CheckFailed(f"not logged in as {username!r}")
        listed = [row.get_attribute("data-repository") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-repository]")]
        if list_shot:
            shots.append(_shot(driver, list_shot))
        for repository, tag in expected:
            if repository not in listed:
                raise CheckFailed(f"repository {repository!r} not in the list {listed!r}")
        for repository, tag in expected:
            driver.get(url.rstrip("/") + "/")
            link = wait.until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, f'tr[data-repository="{repository}"] a'))
            )
            link.click()
            try:
                wait.until(lambda d: d.find_elements(By.ID, "tags") or d.find_elements(By.ID, "no-tags"))
            except TimeoutException as exc:
                raise CheckFailed(f"no tag list for {repository!r} within {timeout:g} s") from exc
            tags = [row.get_attribute("data-tag") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-tag]")]
            if tag not in tags:
                _shot(driver, screenshot)
                raise CheckFailed(f"tag {tag!r} of {repository!r} not in {tags!r}")
        if screenshot:
            shots.append(_shot(driver, screenshot))
        return shots
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # pragma: no cover - best effort
                pass
        shutil.rmtree(user_data_dir, ignore_errors=True)


def _repo_tag(text: str) -> Tuple[str, str]:
    repository, sep, tag = text.rpartition(":")
    if not sep or not repository or not tag or "/" in tag:
        raise argparse.ArgumentTypeError(f"expected REPOSITORY:TAG, got {text!r}")
    return repository, tag


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of the UI, e.g. http://127.0.0.1:8081")
    parser.add_argument("--username", required=True)
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-file", help="file holding the password (first line)")
    secret.add_argument("--password-env", help="environment variable holding the password")
    parser.add_argument("--expect-tag", type=_repo_tag, action="append", default=[], metavar="REPOSITORY:TAG",
                        help="a repository the list must show and a tag its page must show (repeatable)")
    parser.add_argument("--screenshot", help="PNG of the last tag list (the repository list goes next to it)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per step (default 20)")
    parser.add_argument("--chromium")
    parser.add_argument("--chromedriver")
    args = parser.parse_args(argv)
    try:
        if args.password_file:
            with open(args.password_file, encoding="utf-8") as handle:
                password = handle.readline().rstrip("\n")
        else:
            password = os.environ.get(args.password_env, "")
        if not password:
            raise BrowserUnavailable("empty password")
        started = time.monotonic()
        shots = check_registry_ui(args.url, args.username, password, args.expect_tag, args.screenshot,
                                  args.timeout, args.chromium, args.chromedriver)
    except BrowserUnavailable as exc:
        print(f"registry_ui_check: browser unavailable: {exc}", file=sys.stderr)
        return 2
    except (CheckFailed, OSError) as exc:
        print(f"registry_ui_check: FAILED: {exc}", file=sys.stderr)
        return 1
    checked = ", ".join(f"{r}:{t}" for r, t in args.expect_tag) or "login only"
    print(f"registry_ui_check: OK in {time.monotonic() - started:.1f} s ({checked}); screenshots: {', '.join(shots) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
