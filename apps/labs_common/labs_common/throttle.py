"""Failed-login throttling, per client address.

Hand-written (40 lines) rather than Flask-Limiter: that library counts every
request and pulls in rich/limits; what is needed here is "N failures in a
window, then 429 with Retry-After for that client until the window slides".

* Only failures count; a success forgets the client's failures.
* While a client is blocked, *every* credentialed request from it answers 429
  without checking the password, so a blocked client learns nothing from its
  guesses; the block ends by itself (the right password is never locked out
  for good) and other clients are never affected.
* The table is bounded (LRU), so invented client addresses cannot grow it.
* State is per process: under gunicorn each worker counts on its own, so a
  client gets at most ``limit x workers`` guesses per window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Deque, Optional


class FailureThrottle:
    def __init__(self, limit: int, window: float, max_clients: int = 10000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._failures: "OrderedDict[str, Deque[float]]" = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def retry_after(self, client: str) -> Optional[int]:
        """Whole seconds until ``client`` may try again, or None if it may now."""
        if not self.enabled or not self._failures:  # lock-free fast answer
            return None
        with self._lock:
            stamps = self._failures.get(client)
            if not stamps:
                return None
            now = self.clock()
            while stamps and stamps[0] <= now - self.window:
                stamps.popleft()
            if not stamps:
                del self._failures[client]
                return None
            if len(stamps) < self.limit:
                return None
            left = stamps[-self.limit] + self.window - now
            return min(max(1, math.ceil(left)), max(1, math.ceil(self.window)))  # float noise

    def failed(self, client: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            stamps = self._failures.get(client)
            if stamps is None:
                stamps = self._failures[client] = deque(maxlen=self.limit)
                while len(self._failures) > self.max_clients:
                    self._failures.popitem(last=False)
            else:
                self._failures.move_to_end(client)
            stamps.append(self.clock())

    def succeeded(self, client: str) -> None:
        if self._failures:
            with self._lock:
                self._failures.pop(client, None)
