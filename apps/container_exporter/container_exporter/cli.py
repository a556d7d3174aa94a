"""Command line: serve (the exporter), webhook-sink (Alertmanager's default receiver), healthcheck."""

import logging
import os
import sys
import urllib.request


def _port(name, default):
    return int(os.environ.get(name, default))


def main(argv):
    logging.basicConfig(level=os.environ.get("EXPORTER_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    command = argv[0] if argv else "serve"
    if command == "serve":
        from .exporter import serve
        return serve(
            port=_port("EXPORTER_PORT", 9417),
            label=os.environ.get("EXPORTER_LABEL", "io.devops-labs.project"),
            interval=float(os.environ.get("EXPORTER_INTERVAL", "10")),
            docker_host=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
            stacks_dir=os.environ.get("EXPORTER_STACKS_DIR", ""),
        )
    if command == "webhook-sink":
        from .sink import serve
        return serve(port=_port("SINK_PORT", 9418), keep=int(os.environ.get("SINK_KEEP", "500")))
    if command == "healthcheck":
        # GET /healthz of the command this container runs (EXPORTER_PORT or SINK_PORT).
        port = argv[1] if len(argv) > 1 else os.environ.get("HEALTHCHECK_PORT", "9417")
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % port, timeout=4) as answer:
                return 0 if answer.status == 200 else 1
        except OSError:
            return 1
    print("usage: python -m container_exporter serve | webhook-sink | healthcheck [port]", file=sys.stderr)
    return 2
