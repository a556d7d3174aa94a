"""gunicorn settings for registry_ui, driven by environment variables.

GUNICORN_CMD_ARGS can still override any of them.
"""

import os

bind = f"{os.environ.get('LISTEN_HOST', '0.0.0.0')}:{os.environ.get('LISTEN_PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("UI_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("UI_WORKER_TIMEOUT", "60"))
graceful_timeout = 10
# Load the app (and read its configuration) once in the master, before forking:
# a bad configuration stops the server at once, and a generated UI_SECRET_KEY
# is shared by every worker.
preload_app = True
worker_tmp_dir = "/tmp"
control_socket_disable = True  # no runtime control socket ($HOME is read-only in the image)
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
