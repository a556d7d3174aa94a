#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: wait until an HTTP endpoint is healthy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_healthcheck
short_description: Wait until a URL answers an expected status and content
description:
  - Requests O(url) until it answers one of O(status_code) and, optionally, its body
    contains O(body_contains) and the JSON value at O(json_path) equals O(json_equals)
    or contains O(json_contains).
  - Between attempts it waits O(delay) seconds, multiplied by O(backoff) after each
    attempt and capped at O(max_delay); connection errors and timeouts are retried too.
  - Redirects are not followed; add the 3xx code to O(status_code) to accept one.
  - The module only reads, so it runs in check mode as well and never reports a change.
  - Uses only the Python standard library on the target.
version_added: "1.0.0"
author:
  - Labs project
options:
  url:
    description: HTTP or HTTPS URL to check.
    type: str
    required: true
  method:
    description: HTTP method. Only read-only methods are allowed; V(HEAD) has no body to check.
    type: str
    default: GET
    choices: [GET, HEAD]
  status_code:
    description: Statuses that count as healthy.
    type: list
    elements: int
    default: [200]
  headers:
    description: Extra request headers.
    type: dict
  json_path:
    description:
      - Where to look in the JSON body, as a dotted string such as V(student_ages.alice)
        (write V(\\.) for a dot inside a key, digits index lists) or as a list of keys
        such as V([return, body]).
      - Given alone, the path must exist. Without it, O(json_equals) and O(json_contains)
        apply to the whole document.
    type: raw
  json_equals:
    description: The value at O(json_path) must equal this (types matter, V(30) is not V("30")).
    type: raw
  json_contains:
    description:
      - The value at O(json_path) must contain this. A string contains a substring; a list
        contains an item (or every item of a list); a mapping contains a key (or every
        key/value of a mapping).
    type: raw
  body_contains:
    description: The decoded response body must contain this text.
    type: str
  url_username:
    description: User name for HTTP basic authentication.
    type: str
  url_password:
    description: Password for HTTP basic authentication.
    type: str
  timeout:
    description: Seconds one request may take (connect and read).
    type: float
    default: 10
  retries:
    description: How many times to retry after the first attempt; V(0) checks once.
    type: int
    default: 10
  delay:
    description: Seconds to wait before the first retry.
    type: float
    default: 1
  backoff:
    description: Factor applied to the wait after each retry (V(1) keeps it constant).
    type: float
    default: 1.5
  max_delay:
    description: Upper bound of the wait between two attempts, in seconds.
    type: float
    default: 10
extends_documentation_fragment:
  - labs
  - labs.read_only
  - labs.tls
notes:
  - Shares its HTTP client (C(module_utils/labs_http.py)) with the other modules of the project.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Wait for the student API to list alice's age
  http_healthcheck:
    url: http://127.0.0.1:5000/pozos/api/v1.0/get_student_ages
    url_username: toto
    url_password: "{{ student_api_password }}"
    json_path: student_ages.alice
    retries: 20
    delay: 1

- name: The frontend answers and shows its title
  http_healthcheck:
    url: http://127.0.0.1:8080/
    body_contains: Student Checking App

- name: The API pair returns a body through the backend
  http_healthcheck:
    url: https://api.lab.internal/
    ca_path: /etc/labs/ca.pem
    json_path: [return, body]
    json_contains: backend

- name: A service in maintenance is expected to answer 503
  http_healthcheck:
    url: http://127.0.0.1:9000/health
    status_code: [503]
    retries: 0
"""

RETURN = r"""
url:
  description: The URL that was checked.
  returned: always
  type: str
  sample: http://127.0.0.1:5000/health
status:
  description: HTTP status of the last answer; V(null) when no attempt got an answer.
  returned: always
  type: int
  sample: 200
attempts:
  description: Number of requests made.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting, all attempts included.
  returned: always
  type: float
  sample: 2.51
body_excerpt:
  description: Start of the last response body (at most 512 characters).
  returned: always
  type: str
  sample: '{"status": "ok"}'
json_value:
  description: The value found at O(json_path) in the last healthy answer.
  returned: when O(json_path), O(json_equals) or O(json_contains) is set and the check succeeded
  type: raw
  sample: 23
reason:
  description: Why the last attempt was not healthy.
  returned: failure
  type: str
  sample: status 503 is not one of [200]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labs_http import (
    HttpError, json_path_get, request, tls_argument_spec, wait_until)

ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    method=dict(type="str", default="GET", choices=["GET", "HEAD"]),
    status_code=dict(type="list", elements="int", default=[200]),
    headers=dict(type="dict"),
    json_path=dict(type="raw"),
    json_equals=dict(type="raw"),
    json_contains=dict(type="raw"),
    body_contains=dict(type="str"),
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    timeout=dict(type="float", default=10),
    retries=dict(type="int", default=10),
    delay=dict(type="float", default=1),
    backoff=dict(type="float", default=1.5),
    max_delay=dict(type="float", default=10),
    **tls_argument_spec(),
)

JSON_OPTIONS = ("json_path", "json_equals", "json_contains")


class Outcome:
    """The verdict of one attempt; truthy when healthy."""

    def __init__(self, reason=None, response=None, json_value=None):
        self.reason = reason
        self.response = response
        self.json_value = json_value

    def __bool__(self):
        return self.reason is None


def contains(value, needle):
    """See the json_contains option."""
    if isinstance(value, str):
        return isinstance(needle, str) and needle in value
    if isinstance(value, list):
        needles = needle if isinstance(needle, list) else [needle]
        return all(item in value for item in needles)
    if isinstance(value, dict):
        if isinstance(needle, dict):
            return all(k in value and value[k] == v for k, v in needle.items())
        return needle in value
    return False


def evaluate(response, params):
    """Outcome of one HTTP answer against the options."""
    if response.status not in params["status_code"]:
        return Outcome("status %d is not one of %s" % (response.status, params["status_code"]),
                       response)
    body_contains = params["body_contains"]
    if body_contains is not None and body_contains not in response.text():
        return Outcome("body does not contain %r" % (body_contains,), response)
    if all(params[name] is None for name in JSON_OPTIONS):
        return Outcome(None, response)
    try:
        document = response.json()
    except ValueError:
        return Outcome("body is not JSON", response)
    try:
        value = json_path_get(document, params["json_path"])
    except LookupError as exc:
        return Outcome(str(exc), response)
    where = "value at %s" % params["json_path"] if params["json_path"] else "document"
    expected = params["json_equals"]
    if expected is not None and value != expected:
        return Outcome("%s is %r, expected %r" % (where, value, expected), response)
    needle = params["json_contains"]
    if needle is not None and not contains(value, needle):
        return Outcome("%s %r does not contain %r" % (where, value, needle), response)
    return Outcome(None, response, value)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["retries"] < 0 or params["delay"] < 0 or params["timeout"] <= 0:
        module.fail_json(msg="retries and delay must be >= 0 and timeout > 0")
    if params["backoff"] < 1:
        module.fail_json(msg="backoff must be >= 1")
    if params["ca_path"] and not os.path.exists(params["ca_path"]):
        module.fail_json(msg="ca_path %s does not exist" % params["ca_path"])
    if params["method"] == "HEAD" and (
            params["body_contains"] is not None
            or any(params[name] is not None for name in JSON_OPTIONS)):
        module.fail_json(msg="method HEAD has no body: body_contains and json_* need GET")

    def attempt():
        try:
            response = request(
                params["url"], method=params["method"], headers=params["headers"],
                username=params["url_username"], password=params["url_password"],
                ca_path=params["ca_path"], validate_certs=params["validate_certs"],
                timeout=params["timeout"])
        except HttpError as exc:
            return Outcome(str(exc))
        return evaluate(response, params)

    outcome, attempts, elapsed = wait_until(
        attempt, retries=params["retries"], delay=params["delay"],
        backoff=params["backoff"], max_delay=params["max_delay"])
    response = outcome.response
    result = dict(
        changed=False,
        url=params["url"],
        status=response.status if response is not None else None,
        attempts=attempts,
        elapsed=round(elapsed, 3),
        body_excerpt=response.excerpt() if response is not None else "",
    )
    if not outcome:
        message = "%s not healthy after %d attempt(s) in %.1fs: %s" % (
            params["url"], attempts, elapsed, outcome.reason)
        if response is not None:
            message += "; body: %s" % response.excerpt(200)
        module.fail_json(msg=message, reason=outcome.reason, **result)
    if any(params[name] is not None for name in JSON_OPTIONS):
        result["json_value"] = outcome.json_value
    module.exit_json(**result)


if __name__ == "__main__":
    main()
