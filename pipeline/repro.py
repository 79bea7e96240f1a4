"""Command: `dvc repro`, with the seeds' trainings (and the baseline) side by side, one per core.

    python -m pipeline.repro             # every core busy: one training per core, each on one thread
    python -m pipeline.repro --jobs 1    # one training at a time on every core, as plain `dvc repro` trains

DVC runs and records every stage as `dvc repro` would (pipeline/parallel.py): afterwards `dvc status` is clean and
`dvc repro` has nothing to do. A seed trained on one thread gives the same numbers here as `OMP_NUM_THREADS=1 dvc
repro`; on more threads, torch splits its sums otherwise and the last digits differ (the report's compute record
names the threads of each seed).
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.errors import reports_errors
from pipeline.params import load_params
from pipeline.parallel import reproduce, usable_cores

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    jobs: int = typer.Option(None, min=1, help="Trainings at once, each on cores/jobs threads [default: one per "
                                               "core]."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file, checked before anything runs."),
) -> None:
    """Reproduce the pipeline, training the seeds side by side."""
    settings = load_params(params)
    reproduce(None, jobs or usable_cores(), settings.mlflow.experiment)


if __name__ == "__main__":
    app()
