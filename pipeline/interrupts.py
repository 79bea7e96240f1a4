"""Ctrl-C (SIGINT) and SIGTERM end a command with one line saying what it wrote, and exit status 128 + the
signal's number (130 for Ctrl-C): no traceback, no half-written file, no MLflow run left RUNNING.

Two phases. While a step starts (Python importing torch, pandas and MLflow, for seconds), a signal ends the
process at once: nothing has been written, and a KeyboardInterrupt raised inside an import can be swallowed
by library code. Once the command runs, a signal raises KeyboardInterrupt where the command is, except inside
`held()` blocks (calls into MLflow's store, where SQLAlchemy would log the cut query's traceback and the run
would stay RUNNING): there it is raised as the block ends. The standard library only: pipeline/__init__.py
imports this before anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_held = 0
_pending = False
_received: int | None = None  # the signal that stopped the command
_written: list[Path] = []  # outputs this command finished, in order


def running_as_a_step(argv: list[str]) -> bool:
    """True for `python -m pipeline.<step> ...`, not for pytest or a process that serves the MLflow model."""
    return "-m" in argv[:-1] and argv[argv.index("-m") + 1].startswith("pipeline.")


def exit_at_once_while_starting() -> None:
    for number in SIGNALS:
        signal.signal(number, _exit_while_starting)


def _exit_while_starting(number: int, frame: object) -> None:
    os.write(2, b"interrupted while starting: no output was written\n")
    os._exit(128 + number)


@contextlib.contextmanager
def raising_keyboard_interrupt() -> Iterator[None]:
    """The command's phase: a signal raises KeyboardInterrupt (held back inside `held()`); the handlers that
    were there before come back afterwards."""
    global _received, _pending
    _received, _pending = None, False
    _written.clear()
    previous = {number: signal.signal(number, _interrupt) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _interrupt(number: int, frame: object) -> None:
    global _received, _pending
    _received = _received or number
    if _held:
        _pending = True
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Let the block finish before an interrupt that arrives during it takes effect."""
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if _pending and not _held:
        _pending = False
        raise KeyboardInterrupt


def wrote(path: Path) -> None:
    """Record an output the command finished (see files.atomic_path)."""
    if path not in _written:
        _written.append(path)


def exit_status() -> int:
    return 128 + (_received or signal.SIGINT)


def summary() -> str:
    """One line: the interrupt, and the outputs written before it (none, or which: the others were not)."""
    if not _written:
        return "interrupted: no output was written"
    return f"interrupted: only {', '.join(map(str, _written))} {'was' if len(_written) == 1 else 'were'} written"
