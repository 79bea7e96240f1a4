"""Outputs appear whole or not at all: write to a temporary sibling, rename on success."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from pipeline import interrupts
from pipeline.errors import PipelineError

T = TypeVar("T")
# What reading a truncated or foreign file raises, from json, NumPy, pandas and torch.load alike
UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError, pickle.UnpicklingError,
              zipfile.BadZipFile)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; it replaces `path` only if the block finishes without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        yield partial
        with interrupts.held():  # a file in place is a file on the list
            partial.replace(path)
            interrupts.wrote(path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(path: Path, data: object) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def read_output(path: Path, stage: str, read: Callable[[Path], T]) -> T:
    """`read(path)` for a file the `stage` stage writes; missing, truncated or not what it should be, one line
    naming the file and how to get it back, instead of a traceback."""
    if not path.exists():
        raise PipelineError(f"{path} not found: run the {stage} stage first (dvc repro {stage})")
    try:
        return read(path)
    except UNREADABLE as error:
        raise PipelineError(
            f"{path} is damaged or not what the {stage} stage writes ({brief(error)}): restore it with "
            f"`dvc checkout {path}`, or write it again with `dvc repro --force {stage}`"
        ) from None


def brief(error: BaseException) -> str:
    """An exception's first line, at most 100 characters, for a one-line message."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 100 else text[:97] + "..."
