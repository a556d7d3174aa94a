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
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

# Run as a script or loaded by file path (tests): the shared module sits next to this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from browser_session import EXIT_OK, BrowserUnavailable, CheckFailed, run_check  # noqa: E402
from browser_session import chromium_session, load_selenium, save_screenshot  # noqa: E402

LAB_STUDENTS: Dict[str, str] = {
    "Ahmed": "20",
    "Amine": "20",
    "Hiba": "21",
    "Meryem": "23",
    "Omar": "20",
    "Sara": "23",
}

# Text that must never reach a visitor (display_errors must be off).
PHP_NOISE = ("Warning:", "Notice:", "Deprecated:", "Fatal error:", "Parse error:", "Stack trace:")


@dataclass
class CheckResult:
    rows: List[Tuple[str, str]] = field(default_factory=list)
    screenshot: Optional[str] = None
    seconds: float = 0.0


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
    TimeoutException, WebDriverException, By, ec, WebDriverWait = load_selenium()

    started = time.monotonic()
    result = CheckResult()
    try:
        with chromium_session("website-check-chromium-", chromium, chromedriver, timeout) as driver:
            wait = WebDriverWait(driver, timeout)
            try:
                driver.get(url)
            except TimeoutException as exc:
                raise CheckFailed(f"{url} did not load within {timeout:g} s") from exc
            except WebDriverException as exc:
                raise CheckFailed(f"{url} could not be opened: {(exc.msg or str(exc)).strip()}") from exc
            document_uri = driver.execute_script("return document.documentURI") or ""
            if document_uri.startswith("chrome-error://"):
                result.screenshot = save_screenshot(driver, screenshot)
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
                result.screenshot = save_screenshot(driver, screenshot)
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
                result.screenshot = save_screenshot(driver, screenshot)
                raise CheckFailed(
                    f'after clicking "List Student" neither a student table nor an error appeared within {timeout:g} s'
                ) from exc
            result.screenshot = save_screenshot(driver, screenshot)
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

    def note_screenshot() -> None:
        if args.screenshot and os.path.exists(args.screenshot):
            print(f"website_check: screenshot of the failure: {args.screenshot}", file=sys.stderr)

    status, result = run_check(
        "website_check",
        lambda: check_website(
            args.url,
            expect_students=args.expect_students,
            expected=expected,
            screenshot=args.screenshot,
            timeout=args.timeout,
            chromium=args.chromium,
            chromedriver=args.chromedriver,
        ),
        unavailable_label="ERROR",
        failed_label="FAIL",
        on_failure=note_screenshot,
    )
    if status != EXIT_OK:
        return status
    print(
        f"website_check: OK: {len(result.rows)} student(s) shown at {args.url} "
        f"({', '.join(f'{n} {a}' for n, a in result.rows)}) in {result.seconds:.1f} s"
        + (f"; screenshot {result.screenshot}" if result.screenshot else "")
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
