"""Command: did my change help? Each architecture's seeds in one revision against another's, with the verdict that
compares the architectures within a run (pipeline/experiments.py).

    dvc exp run -S model.heads=8
    python -m pipeline.versus                      # the workspace (that experiment) against HEAD
    python -m pipeline.versus main exp-1a2b3       # an experiment (`dvc exp list`) against a branch

Nothing is checked out or trained: both sides' test scores are read from DVC's cache, so both must have been run
(`dvc repro`, `dvc exp run`) with every seed of their `train.seeds`.
"""

from __future__ import annotations

import typer

from pipeline.errors import reports_errors
from pipeline.experiments import (
    WORKSPACE,
    compare_revisions,
    read_revision,
    require_up_to_date_workspace,
    versus_lines,
)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    baseline: str = typer.Argument("HEAD", help="A git revision, branch, tag or DVC experiment name."),
    candidate: str = typer.Argument(WORKSPACE, help=f"The same, or {WORKSPACE!r}: the files as they are now."),
) -> None:
    """Per architecture: the candidate's mean test accuracy minus the baseline's, its 95% interval over seeds and
    test reviews, the margin, the decision and the probability of each answer."""
    if WORKSPACE in (baseline, candidate):
        require_up_to_date_workspace()
    base, changed = read_revision(baseline), read_revision(candidate)
    for line in versus_lines(base, changed, compare_revisions(base, changed)):
        typer.echo(line)


if __name__ == "__main__":
    app()
