"""python -m container_exporter serve | webhook-sink | healthcheck [port]"""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
