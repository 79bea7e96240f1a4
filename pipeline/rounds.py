"""Rounds of new seeds for `python -m pipeline.decide`: which seeds come next, `train.seeds` rewritten in params.yaml
(comments and layout kept, as `dvc exp run -S` keeps them), DVC run on them, and params.yaml brought back to the
seeds whose models exist when a round does not finish."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import yaml
from ruamel.yaml import YAML

from pipeline import interrupts
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.params import MODEL_KINDS, model_dir, stage_of


def next_seeds(seeds: list[int], count: int) -> list[int]:
    """`count` seeds not yet used, counting up from the largest in use."""
    found, candidate = [], max(seeds) + 1
    while len(found) < count:
        if candidate not in seeds:
            found.append(candidate)
        candidate += 1
    return found


def write_seeds(params: Path, seeds: list[int]) -> None:
    """Set `train.seeds` in params.yaml, leaving every other line, comment and the list's own style as they were."""
    round_trip = YAML()
    round_trip.width = 4096  # never fold a long line
    document = round_trip.load(params.read_text(encoding="utf-8"))
    listed = document["train"]["seeds"]
    listed.clear()
    listed.extend(seeds)
    with atomic_path(params) as partial, partial.open("w", encoding="utf-8") as out:
        round_trip.dump(document, out)


def trained(seed: int, models: Path, lock: Path) -> bool:
    """Both architectures' models of `seed` were trained to the end and DVC recorded it (dvc.lock)."""
    if not lock.is_file():
        return False
    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    return all(stage_of(kind, seed) in stages and (model_dir(models, kind, seed) / "mlflow_run.json").is_file()
               and (model_dir(models, kind, seed) / "model.pt").is_file() for kind in MODEL_KINDS)


@contextlib.contextmanager
def seeds_in_trial(params: Path, kept: list[int], trial: list[int], models: Path, lock: Path) -> Iterator[None]:
    """params.yaml names `kept + trial` inside the block; if the block does not finish (an error, Ctrl-C), it keeps
    only the seeds of `trial` whose models exist, so that it names no seed without its models."""
    write_seeds(params, kept + trial)
    try:
        yield
    except BaseException:
        with interrupts.held():
            write_seeds(params, kept + [seed for seed in trial if trained(seed, models, lock)])
        raise


def run_dvc(arguments: list[str]) -> None:
    """`dvc <arguments>` in this environment, its output passed through. It runs in a process group of its own, which
    is handed any Ctrl-C or SIGTERM this command gets and waited for, so that the stage it runs ends as its own
    Ctrl-C handling ends it (outputs whole, MLflow run KILLED) before this command goes on."""
    process = subprocess.Popen([sys.executable, "-m", "dvc", *arguments], start_new_session=True)
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        with interrupts.held(), contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
            process.wait()
        raise
    if returncode:
        raise PipelineError(f"dvc {' '.join(arguments)} failed (exit status {returncode}); its output above says why")
