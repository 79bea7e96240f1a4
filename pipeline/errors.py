"""User-facing failures: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from pipeline import interrupts

F = TypeVar("F", bound=Callable)


class PipelineError(Exception):
    """A problem the user can fix (bad params, bad input file, unreachable URL, ...)."""


def reports_errors(command: F) -> F:
    """Wrap a Typer command so a PipelineError, Ctrl-C or SIGTERM ends it with a one-line message."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with interrupts.raising_keyboard_interrupt():
                return command(*args, **kwargs)
        except PipelineError as error:
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            print(interrupts.summary(), file=sys.stderr)
            raise typer.Exit(code=interrupts.exit_status()) from None

    return wrapper  # type: ignore[return-value]
