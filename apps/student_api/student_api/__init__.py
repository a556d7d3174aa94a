"""Student ages API (labs 000/001), served by gunicorn.

Kept free of heavy imports: the launcher (student_api.serve) must set
PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported.
"""

from pathlib import Path


def _read_version() -> str:
    for candidate in (
        Path(__file__).resolve().parent.parent / "VERSION",  # apps/student_api/VERSION, /app/VERSION
        Path(__file__).resolve().parent / "VERSION",
    ):
        try:
            return candidate.read_text(encoding="utf-8").strip() or "0.0.0"
        except OSError:
            continue
    return "0.0.0"


__version__ = _read_version()
