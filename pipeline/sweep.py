"""Command: a sweep's experiments, each against their baseline commit and against the best of them, per
architecture, with the verdict that compares the architectures (pipeline/experiments.py).

    dvc exp run --queue -S model.heads=1,2,4,8
    dvc queue start --jobs 2
    python -m pipeline.sweep                  # HEAD's experiments -> reports/sweep.md and an MLflow run

Nothing is trained: every experiment's test scores are read from DVC's cache. An experiment that failed, or that
scored other test reviews, is listed as not compared, with the reason.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline import tracking
from pipeline.errors import PipelineError, reports_errors
from pipeline.experiments import (
    experiment_names,
    read_revision,
    sweep_metrics,
    sweep_rows,
    sweep_table,
    why_not_comparable,
)
from pipeline.files import atomic_path

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    baseline: str = typer.Argument("HEAD", help="The commit (or branch, tag) the experiments were run from."),
    out: Path = typer.Option(Path("reports/sweep.md"), help="Where to write the table (markdown)."),
) -> None:
    """Per architecture: each experiment's mean test accuracy, and its difference from the baseline and from the best
    experiment, with the 95% interval and the decision."""
    names = experiment_names(baseline)
    if not names:
        raise PipelineError(f"no DVC experiments were run from {baseline}: queue some with `dvc exp run --queue -S "
                            f"model.heads=1,2,4,8` and run them with `dvc queue start`")
    base = read_revision(baseline)
    experiments, skipped = [], {}
    for name in names:
        try:
            side = read_revision(name)
        except PipelineError as error:
            skipped[name] = str(error)
            continue
        if reason := why_not_comparable(base, side):
            skipped[name] = reason
        else:
            experiments.append(side)
    rows = sweep_rows(base, experiments)
    lines = sweep_table(base, rows, skipped)
    with atomic_path(out) as partial:
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typer.echo("\n".join(lines))

    tracking.use_experiment(base.params.mlflow.experiment)
    description = f"{len(experiments)} experiments of {baseline} against it and against the best ({out})"
    with tracking.recorded_run(tracking.run_name("sweep"), tracking.run_tags("sweep", baseline=baseline),
                               description) as run:
        tracking.log_metrics(sweep_metrics(rows))
        tracking.log_file(out, "sweep")
    typer.echo(f"sweep -> {out}; MLflow run {run.info.run_id}")


if __name__ == "__main__":
    app()
