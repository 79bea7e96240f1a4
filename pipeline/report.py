"""Stage 6: reports/report.md comparing the two models, with a learning-curves picture."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import typer

from pipeline.errors import PipelineError, reports_errors
from pipeline.files import atomic_path, read_json
from pipeline.params import MODEL_KINDS, load_params
from pipeline.reporting import model_names, plot_learning_curves, render_report
from pipeline.tracking import git_commit

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
    out: Path = typer.Option(Path("reports"), help="Folder holding metrics.json; gets report.md."),
) -> None:
    """Write the markdown comparison of accuracy, size, training time and throughput."""
    settings = load_params(params)
    if not (out / "metrics.json").is_file():
        raise PipelineError(f"{out}/metrics.json not found: run the evaluate stage first (dvc repro evaluate)")
    metrics = read_json(out / "metrics.json")
    histories = {kind: pd.read_csv(models / kind / "history.csv") for kind in MODEL_KINDS}
    run_ids = {kind: read_json(models / kind / "mlflow_run.json")["run_id"] for kind in MODEL_KINDS}
    curves = "learning_curves.png"
    with atomic_path(out / curves) as partial:
        plot_learning_curves(histories, model_names(settings), partial)
    text = render_report(settings, metrics, run_ids, git_commit(), os.environ.get("DVC_EXP_NAME"), curves)
    with atomic_path(out / "report.md") as partial:
        partial.write_text(text, encoding="utf-8")
    typer.echo(f"report -> {out / 'report.md'}")


if __name__ == "__main__":
    app()
