"""Outputs appear whole or not at all: write to a temporary sibling, rename on success."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from pipeline.errors import PipelineError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; it replaces `path` only if the block finishes without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(path: Path, data: object) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def require_output(path: Path, stage: str) -> Path:
    """`path`, which the `stage` stage writes; a clear error instead of a traceback when it is missing."""
    if not path.exists():
        raise PipelineError(f"{path} not found: run the {stage} stage first (dvc repro {stage})")
    return path
