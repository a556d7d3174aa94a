"""A webhook receiver for Alertmanager that logs and keeps what it got.

Why code: Debian packages no webhook sink; Alertmanager's default receiver
has to be something in the stack a test (and a person, in ``docker logs``)
can read. POST /alerts takes Alertmanager's webhook payload (version 4),
logs one line per alert, keeps the last ``keep`` alerts in memory with the
time they arrived; GET /alerts returns them as JSON, newest last, and GET /
shows them to a person as a table, newest first (Debian's Alertmanager has no
web UI: its package cannot build the Elm one).
"""

import html
import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("webhook_sink")
MAX_BODY = 1 << 20


def received(payload, now):
    """The alerts of one webhook payload as kept: each alert with the time it arrived."""
    return [dict(received_at=now, status=a.get("status", payload.get("status", "")), labels=a.get("labels") or {},
                 annotations=a.get("annotations") or {}, startsAt=a.get("startsAt", ""),
                 receiver=payload.get("receiver", "")) for a in payload.get("alerts") or []]


def page(alerts):
    """The HTML page of the kept alerts, newest first (every value escaped)."""
    rows = []
    for a in reversed(alerts):
        labels = a["labels"]
        cells = [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(a["received_at"])), a["status"],
                 labels.get("alertname", ""), labels.get("severity", ""), labels.get("stack", labels.get("job", "")),
                 labels.get("service", labels.get("instance", "")), a["annotations"].get("summary", "")]
        css = "firing" if a["status"] == "firing" else "resolved"
        rows.append('<tr class="%s">%s</tr>' % (css, "".join("<td>%s</td>" % html.escape(str(c)) for c in cells)))
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">"
            "<title>Alerts received</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
            ".firing{background:#fdd}.resolved{background:#dfd}</style></head><body>"
            "<h1>Alerts received by the webhook</h1><p>%d kept, newest first (UTC); JSON at <a href=\"alerts\">/alerts</a>."
            "</p><table><tr><th>received</th><th>status</th><th>alert</th><th>severity</th><th>stack / job</th>"
            "<th>service / instance</th><th>summary</th></tr>%s</table></body></html>" % (len(alerts), "".join(rows)))


def make_handler(kept, lock):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code, body, content_type="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                return self._answer(200, {"status": "ok"})
            if self.path == "/alerts":
                with lock:
                    return self._answer(200, list(kept))
            if self.path == "/":
                with lock:
                    return self._answer(200, page(list(kept)), "text/html; charset=utf-8")
            return self._answer(404, {"error": "see /alerts"})

        def do_POST(self):
            if self.path != "/alerts":
                return self._answer(404, {"error": "POST to /alerts"})
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(413, {"error": "body of 1 byte to 1 MiB expected"})
            try:
                payload = json.loads(self.rfile.read(length))
                alerts = received(payload, time.time())
            except (ValueError, AttributeError) as exc:
                return self._answer(400, {"error": "not an Alertmanager webhook payload: %s" % exc})
            with lock:
                kept.extend(alerts)
            for alert in alerts:
                labels = alert["labels"]
                log.info("alert %s %s stack=%s service=%s severity=%s: %s", alert["status"], labels.get("alertname"),
                         labels.get("stack", ""), labels.get("service", ""), labels.get("severity", ""),
                         alert["annotations"].get("summary", ""))
            return self._answer(200, {"received": len(alerts)})

        def log_message(self, *args):
            pass
    return Handler


def serve(port, keep):
    kept, lock = deque(maxlen=keep), threading.Lock()
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(kept, lock))
    server.daemon_threads = True
    log.info("webhook sink on :%d (POST/GET /alerts, last %d alerts kept)", port, keep)
    server.serve_forever()
    return 0
