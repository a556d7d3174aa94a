"""Launcher: ``python -m student_api.serve``.

1. Reads the configuration; on a problem prints one line and exits 2
   (missing credentials, the labs' root:root, bad numbers...).
2. Prepares the data file: removes temp files of a writer that died, seeds
   the labs' six students into an *empty* data directory, and logs a clear
   error if the file is missing or corrupt (it is never overwritten: the
   server still starts, /healthz answers 503 until somebody fixes the file,
   so a restart policy cannot turn it into a crash loop).
3. Runs gunicorn (gthread workers) in this very process, so the gunicorn
   master is the container's PID 1 and gets the stop signal.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional, Sequence

DEFAULT_METRICS_DIR = "/tmp/student_api_metrics"
LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"

log = logging.getLogger("student_api")


def prepare_metrics_dir() -> Optional[str]:
    """Create/clean the prometheus_client multiprocess directory and export it.

    Must run before prometheus_client is imported. Returns the directory, or
    None if it cannot be used (metrics then cover only the scraped worker)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or DEFAULT_METRICS_DIR
    try:
        os.makedirs(directory, exist_ok=True)
        for entry in os.listdir(directory):
            if entry.endswith(".db"):  # samples of a previous run
                os.unlink(os.path.join(directory, entry))
    except OSError as exc:
        log.warning(
            "metrics directory %s unusable (%s): /metrics will show one worker only",
            directory,
            exc.strerror,
        )
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def prepare_data(settings) -> bool:
    """Seed / check the data file. Returns True when it is usable."""
    from .store import StoreUnavailable, StudentStore

    store = StudentStore(settings.data_file)
    removed = store.remove_stale_temp_files()
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted write", removed)
    if settings.seed_if_empty:
        try:
            if store.seed_if_empty():
                log.info(
                    "data directory %s was empty: seeded %s with the labs' students",
                    store.directory,
                    store.path,
                )
        except StoreUnavailable as exc:
            log.error("cannot seed the data file: %s", exc.message)
    healthy, message, count = store.check()
    if healthy:
        log.info("data file %s holds %d student(s)", store.path, count)
        if not os.access(store.directory, os.W_OK):
            log.warning("data directory %s is not writable: writes will fail", store.directory)
        return True
    log.error(
        "DATA FILE PROBLEM: %s. It is left untouched; /healthz answers 503 and the "
        "API answers 503 until it is fixed (restore the file or empty the volume to re-seed).",
        message,
    )
    return False


def gunicorn_options(settings) -> dict:
    options = {
        "bind": [f"0.0.0.0:{settings.port}"],
        "worker_class": settings.worker_class,
        "workers": settings.workers,
        # gunicorn silently turns "sync" with threads > 1 into gthread.
        "threads": settings.threads if settings.worker_class == "gthread" else 1,
        "timeout": settings.timeout,
        "graceful_timeout": 10,
        "keepalive": settings.keepalive,
        "errorlog": "-",
        "loglevel": settings.log_level,
        "accesslog": "-" if settings.access_log else None,
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
        "proc_name": "student_api",
        # No runtime control socket: it would need a writable $HOME.
        "control_socket_disable": True,
    }
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files on tmpfs
    return options


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    from .config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"student_api: configuration error: {exc}", file=sys.stderr, flush=True)
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())

    prepare_metrics_dir()  # before anything imports prometheus_client
    prepare_data(settings)

    from gunicorn.app.base import BaseApplication

    class StudentApiServer(BaseApplication):
        def load_config(self):
            for key, value in gunicorn_options(settings).items():
                self.cfg.set(key, value)
            self.cfg.set("child_exit", _child_exit)

        def load(self):
            from .app import create_app

            return create_app(settings)

    log.info(
        "starting gunicorn on port %d: %d %s worker(s) x %d thread(s)",
        settings.port,
        settings.workers,
        settings.worker_class,
        settings.threads if settings.worker_class == "gthread" else 1,
    )
    StudentApiServer().run()
    return 0


def _child_exit(server, worker):  # gunicorn hook, runs in the master
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
