"""What a stage returns, and reading the hand-over files of earlier stages."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict

from etl.errors import InputError


@dataclass
class StageResult:
    rows: int  # rows processed (input rows for transform)
    bad_rows: int = 0
    # Extra gauges for the stage's metrics file: name -> (help, value).
    extra: Dict[str, Any] = field(default_factory=dict)


def read_meta(path: str, previous_stage: str) -> Dict[str, Any]:
    """Load a ``*.meta.json`` written by an earlier stage."""
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except FileNotFoundError as exc:
        raise InputError(f"{path} not found: run the {previous_stage} stage first") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(meta, dict) or "rows" not in meta:
        raise InputError(f"{path} is not a {previous_stage} manifest")
    return meta


def require_file(path: str, previous_stage: str) -> None:
    if not os.path.isfile(path):
        raise InputError(f"{path} not found: run the {previous_stage} stage first")
