"""Rounds of new seeds for `python -m pipeline.decide`: which seeds come next, `train.seeds` rewritten in params.yaml
(comments and layout kept, as `dvc exp run -S` keeps them), and params.yaml brought back to the seeds whose models
exist when a round does not finish."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ruamel.yaml import YAML

from pipeline import interrupts
from pipeline.files import atomic_path
from pipeline.parallel import changed_stages
from pipeline.params import MODEL_KINDS, stage_of


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


def trained(seeds: list[int]) -> list[int]:
    """The seeds whose models of both architectures DVC records as trained with today's params and code (`dvc
    status`): a model left from other params, or a stage cut short, does not count."""
    changed = set(changed_stages(tuple(stage_of(kind, seed) for seed in seeds for kind in MODEL_KINDS)))
    return [seed for seed in seeds if not {stage_of(kind, seed) for kind in MODEL_KINDS} & changed]


@contextlib.contextmanager
def seeds_in_trial(params: Path, kept: list[int], trial: list[int]) -> Iterator[None]:
    """params.yaml names `kept + trial` inside the block; if the block does not finish (an error, Ctrl-C), it keeps
    only the seeds of `trial` that were trained, so that it names no seed without its models."""
    write_seeds(params, kept + trial)
    try:
        yield
    except BaseException:
        with interrupts.held():
            write_seeds(params, kept + trained(trial))
        raise
