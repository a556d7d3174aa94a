#!/usr/bin/env python3
"""Check the student website in a real (headless) browser.

    python tests/browser/website_check.py --url http://127.0.0.1:8080 \
        --expect-students 6 --screenshot out.png

Opens the page in Debian's chromium (driven by Debian's chromedriver through
selenium; nothing is downloaded), clicks "List Student", waits for the table,
checks its rows and saves a screenshot (also on failure, when the browser got
that far). Exit status: 0 = OK, 1 = the page is wrong, 2 = the browser could
not be started or the arguments are wrong.

Without --expect-student, --expect-students 6 also checks the six students of
the labs (Ahmed 20, Amine 20, Hiba 21, Meryem 23, Omar 20, Sara 23).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

LAB_STUDENTS: Dict[str, str] = {
    "Ahmed": "20",
    "Amine": "20",
    "Hiba": "21",
    "Meryem": "23",
    "Omar": "20",
    "Sara": "23",
}

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


# Text that must never reach a visitor (display_errors must be off).
PHP_NOISE = ("Warning:", "Notice:", "Deprecated:", "Fatal error:", "Parse error:", "Stack trace:")


class CheckFailed(Exception):
    """The page does not show what it should (exit 1)."""


class BrowserUnavailable(Exception):
    """Chromium / chromedriver / selenium missing or not starting (exit 2)."""


@dataclass
class CheckResult:
    rows: List[Tuple[str, str]] = field(default_factory=list)
    screenshot: Optional[str] = None
    seconds: float = 0.0


def _find(explicit: Optional[str], candidates: Sequence[str], what: str) -> str:
    for candidate in ([explicit] if explicit else list(candidates)):
        path = shutil.which(candidate) if candidate and os.sep not in candidate else candidate
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BrowserUnavailable(
        f"{what} not found (tried {', '.join([explicit] if explicit else candidates)}); "
        "on Debian: apt-get install chromium chromium-driver"
    )


def start_browser(chromium: Optional[str], chromedriver: Optional[str], user_data_dir: str):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc
    binary = _find(chromium, ("/usr/bin/chromium", "chromium", "chromium-browser"), "chromium")
    driver_path = _find(chromedriver, ("/usr/bin/chromedriver", "chromedriver"), "chromedriver")
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


def _save_screenshot(driver, path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not driver.save_screenshot(path):
        raise CheckFailed(f"could not save the screenshot to {path}")
    return path


def check_website(
    url: str,
    expect_students: Optional[int] = None,
    expected: Optional[Dict[str, str]] = None,
    screenshot: Optional[str] = None,
    timeout: float = 20.0,
    chromium: Optional[str] = None,
    chromedriver: Optional[str] = None,
) -> CheckResult:
    """Open ``url``, click "List Student" and check the table. Raises
    CheckFailed or BrowserUnavailable; returns the rows on success."""
    try:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as exc:
        raise BrowserUnavailable(f"selenium is not installed ({exc}); pip install selenium") from exc

    started = time.monotonic()
    user_data_dir = tempfile.mkdtemp(prefix="website-check-chromium-")
    result = CheckResult()
    driver = None
    try:
        driver = start_browser(chromium, chromedriver, user_data_dir)
        driver.set_page_load_timeout(timeout)
        wait = WebDriverWait(driver, timeout)
        try:
            driver.get(url)
        except TimeoutException as exc:
            raise CheckFailed(f"{url} did not load within {timeout:g} s") from exc
        except WebDriverException as exc:
            raise CheckFailed(f"{url} could not be opened: {(exc.msg or str(exc)).strip()}") from exc
        document_uri = driver.execute_script("return document.documentURI") or ""
        if document_uri.startswith("chrome-error://"):
            result.screenshot = _save_screenshot(driver, screenshot)
            reason = " ".join(driver.find_element(By.TAG_NAME, "body").text.split())[:200]
            raise CheckFailed(f"{url} could not be opened: {reason}")
        try:
            button = wait.until(
                ec.element_to_be_clickable(
                    (By.XPATH, "//button[normalize-space()='List Student'] | "
                               "//input[@type='submit' and @value='List Student']")
                )
            )
        except TimeoutException as exc:
            result.screenshot = _save_screenshot(driver, screenshot)
            raise CheckFailed(
                f'no "List Student" button on {url} (title: {driver.title!r})'
            ) from exc
        button.click()
        try:
            wait.until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#students tbody tr")
                or d.find_elements(By.CSS_SELECTOR, "#students caption")
                or d.find_elements(By.ID, "error")
            )
        except TimeoutException as exc:
            result.screenshot = _save_screenshot(driver, screenshot)
            raise CheckFailed(
                f'after clicking "List Student" neither a student table nor an error appeared within {timeout:g} s'
            ) from exc
        result.screenshot = _save_screenshot(driver, screenshot)
        page_text = driver.find_element(By.TAG_NAME, "body").text
        for marker in PHP_NOISE:
            if marker in page_text:
                raise CheckFailed(f"the page shows PHP diagnostics ({marker!r}): {page_text[:300]!r}")
        errors = driver.find_elements(By.ID, "error")
        if errors:
            raise CheckFailed(f"the page shows an error instead of the students: {errors[0].text.strip()!r}")
        for row in driver.find_elements(By.CSS_SELECTOR, "#students tbody tr"):
            cells = [cell.text.strip() for cell in row.find_elements(By.TAG_NAME, "td")]
            if len(cells) != 2:
                raise CheckFailed(f"a table row does not have 2 cells (name, age): {cells!r}")
            result.rows.append((cells[0], cells[1]))
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # pragma: no cover - best effort
                pass
        shutil.rmtree(user_data_dir, ignore_errors=True)
        result.seconds = time.monotonic() - started

    if expect_students is not None and len(result.rows) != expect_students:
        raise CheckFailed(
            f"expected {expect_students} student rows, found {len(result.rows)}: {result.rows!r}"
        )
    if expected:
        shown = dict(result.rows)
        missing = {name: age for name, age in expected.items() if shown.get(name) != age}
        if missing:
            raise CheckFailed(
                "students missing or with another age: "
                + ", ".join(f"{n} ({a}; page shows {shown.get(n, 'nothing')})" for n, a in missing.items())
            )
    return result


def _parse_expect(values: Sequence[str]) -> Dict[str, str]:
    expected: Dict[str, str] = {}
    for value in values:
        name, sep, age = value.rpartition("=")
        if not sep or not name or not age:
            raise argparse.ArgumentTypeError(f"--expect-student wants NAME=AGE, got {value!r}")
        expected[name] = age
    return expected


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="website URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--expect-students", type=int, default=None, metavar="N",
                        help="exact number of rows the table must have")
    parser.add_argument("--expect-student", action="append", default=[], metavar="NAME=AGE",
                        help="a row that must be shown (repeatable)")
    parser.add_argument("--screenshot", default=None, metavar="PNG", help="where to save a screenshot")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait per step (default 20)")
    parser.add_argument("--chromium", default=None, help="chromium binary (default /usr/bin/chromium)")
    parser.add_argument("--chromedriver", default=None, help="chromedriver (default /usr/bin/chromedriver)")
    args = parser.parse_args(argv)
    try:
        expected = _parse_expect(args.expect_student)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if not expected and args.expect_students == len(LAB_STUDENTS):
        expected = dict(LAB_STUDENTS)
    if args.expect_students is None and not expected:
        args.expect_students = len(LAB_STUDENTS)
        expected = dict(LAB_STUDENTS)

    try:
        result = check_website(
            args.url,
            expect_students=args.expect_students,
            expected=expected,
            screenshot=args.screenshot,
            timeout=args.timeout,
            chromium=args.chromium,
            chromedriver=args.chromedriver,
        )
    except BrowserUnavailable as exc:
        print(f"website_check: ERROR: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"website_check: FAIL: {exc}", file=sys.stderr)
        if args.screenshot and os.path.exists(args.screenshot):
            print(f"website_check: screenshot of the failure: {args.screenshot}", file=sys.stderr)
        return 1
    print(
        f"website_check: OK: {len(result.rows)} student(s) shown at {args.url} "
        f"({', '.join(f'{n} {a}' for n, a in result.rows)}) in {result.seconds:.1f} s"
        + (f"; screenshot {result.screenshot}" if result.screenshot else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
