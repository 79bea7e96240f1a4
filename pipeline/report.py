"""Stage: reports/report.md comparing the two models and the baseline, with its pictures in reports/figures/.

The report and pictures are also attached to both models' MLflow runs under `report/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import typer

from pipeline import tracking
from pipeline.errors import reports_errors
from pipeline.figures import (
    plot_accuracy_by_length,
    plot_learning_curves,
    plot_review_attention,
    plot_roc_curves,
)
from pipeline.files import atomic_path, read_json, read_output
from pipeline.params import MODEL_KINDS, load_params, model_names, stage_of
from pipeline.reporting import render_report

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/, mha/ and baseline/."),
    out: Path = typer.Option(Path("reports"), help="Folder holding evaluate's outputs; gets report.md, figures/."),
) -> None:
    """Write the markdown comparison: verdict and significance, results, parameters, curves, attention."""
    settings = load_params(params)
    names = model_names(settings)
    timings = read_output(out / "timings.json", "evaluate", read_json)
    scores = read_output(out / "metrics.json", "evaluate", read_json)
    metrics = {name: values | timings.get(name, {}) for name, values in scores.items()}
    examples = read_output(out / "attention.json", "evaluate", read_json)
    by_length = read_output(out / "plots" / "accuracy_by_length.csv", "evaluate", pd.read_csv).query("reviews > 0")
    histories = {kind: read_output(models / kind / "history.csv", stage_of(kind), pd.read_csv) for kind in MODEL_KINDS}
    runs = {name: read_output(models / name / "mlflow_run.json", stage_of(name), read_json)
            for name in (*MODEL_KINDS, "baseline")}

    figures_dir = out / "figures"
    figures = {"curves": "figures/learning_curves.png", "roc": "figures/roc.png",
               "lengths": "figures/accuracy_by_length.png",
               "attention": [f"figures/attention_{number}.png" for number in range(1, len(examples) + 1)]}
    with atomic_path(out / figures["curves"]) as partial:
        plot_learning_curves(histories, names, partial)
    with atomic_path(out / figures["roc"]) as partial:
        curves = {name: read_output(out / "plots" / f"roc_{name}.csv", "evaluate", pd.read_csv) for name in runs}
        plot_roc_curves(curves, {name: metrics[name]["roc_auc"] for name in runs}, names, partial)
    with atomic_path(out / figures["lengths"]) as partial:
        plot_accuracy_by_length(by_length, names, partial)
    for example, figure in zip(examples, figures["attention"]):
        with atomic_path(out / figure) as partial:
            plot_review_attention(example, names, partial)
    for stale in set(figures_dir.glob("attention_*.png")) - {out / figure for figure in figures["attention"]}:
        stale.unlink()

    text = render_report(settings, metrics, by_length, examples, runs, tracking.git_commit(),
                         os.environ.get("DVC_EXP_NAME"), figures, tracking.tracking_uri())
    with atomic_path(out / "report.md") as partial:
        partial.write_text(text, encoding="utf-8")

    tracking.use_experiment(settings.mlflow.experiment)
    for kind in MODEL_KINDS:
        tracking.attach_report(runs[kind]["run_id"], out / "report.md", figures_dir)
    typer.echo(f"report -> {out / 'report.md'}")


if __name__ == "__main__":
    app()
