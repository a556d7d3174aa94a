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
import sys
import time
from typing import List, Optional, Sequence, Tuple

# Run as a script or loaded by file path: the shared module sits next to this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from browser_session import EXIT_OK, BrowserUnavailable, CheckFailed, run_check  # noqa: E402
from browser_session import chromium_session, load_selenium, save_screenshot  # noqa: E402


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
    TimeoutException, WebDriverException, By, ec, WebDriverWait = load_selenium()

    shots: List[str] = []
    list_shot = None
    if screenshot:
        stem, ext = os.path.splitext(screenshot)
        list_shot = f"{stem}-repositories{ext or '.png'}"
    with chromium_session("registry-ui-check-chromium-", chromium, chromedriver, timeout) as driver:
        wait = WebDriverWait(driver, timeout)
        try:
            driver.get(url)
        except (TimeoutException, WebDriverException) as exc:
            raise CheckFailed(f"{url} could not be opened: {exc}") from exc
        try:
            wait.until(ec.presence_of_element_located((By.ID, "login-form")))
        except TimeoutException as exc:
            save_screenshot(driver, screenshot)
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
            save_screenshot(driver, screenshot)
            raise CheckFailed(f"after logging in, no repository list within {timeout:g} s") from exc
        errors = driver.find_elements(By.ID, "error-message") + driver.find_elements(By.CSS_SELECTOR, ".flash.error")
        if errors:
            save_screenshot(driver, screenshot)
            raise CheckFailed(f"the UI shows an error after logging in: {errors[0].text.strip()!r}")
        current = driver.find_elements(By.ID, "current-user")
        if not current or current[0].text.strip() != username:
            raise CheckFailed(f"not logged in as {username!r}")
        listed = [row.get_attribute("data-repository") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-repository]")]
        if list_shot:
            shots.append(save_screenshot(driver, list_shot))
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
                save_screenshot(driver, screenshot)
                raise CheckFailed(f"tag {tag!r} of {repository!r} not in {tags!r}")
        if screenshot:
            shots.append(save_screenshot(driver, screenshot))
        return shots


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
    started = time.monotonic()

    def check() -> List[str]:
        if args.password_file:
            with open(args.password_file, encoding="utf-8") as handle:
                password = handle.readline().rstrip("\n")
        else:
            password = os.environ.get(args.password_env, "")
        if not password:
            raise BrowserUnavailable("empty password")
        return check_registry_ui(args.url, args.username, password, args.expect_tag, args.screenshot,
                                 args.timeout, args.chromium, args.chromedriver)

    # OSError: the password file cannot be read (exit 1, as a wrong UI).
    status, shots = run_check("registry_ui_check", check, unavailable_label="browser unavailable",
                              failed_label="FAILED", failures=(CheckFailed, OSError))
    if status != EXIT_OK:
        return status
    checked = ", ".join(f"{r}:{t}" for r, t in args.expect_tag) or "login only"
    print(f"registry_ui_check: OK in {time.monotonic() - started:.1f} s ({checked}); screenshots: {', '.join(shots) or 'none'}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
