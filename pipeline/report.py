"""Stage: reports/report.md comparing the two architectures over their seeds and the baseline, with its pictures in
reports/figures/.

The report and pictures are also attached to the pipeline run's MLflow comparison run under `report/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import typer

from pipeline import tracking
from pipeline.comparison import mean_interval
from pipeline.errors import PipelineError, reports_errors
from pipeline.experiments import against_baseline, against_baseline_record, against_baseline_section
from pipeline.faithfulness_report import faithfulness_section
from pipeline.figures import (
    plot_accuracy_by_length,
    plot_faithfulness,
    plot_learning_curves,
    plot_review_attention,
    plot_roc_curves,
    plot_seed_accuracy,
)
from pipeline.files import atomic_path, read_json, read_output
from pipeline.params import MODEL_KINDS, load_params, model_names
from pipeline.reporting import render_report, with_timings
from pipeline.trained import trained_seeds

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/, mha/ and baseline/."),
    out: Path = typer.Option(Path("reports"), help="Folder holding evaluate's outputs; gets report.md, figures/."),
) -> None:
    """Write the markdown comparison: verdict over seeds, results, every seed, parameters, curves, attention."""
    settings = load_params(params)
    names = model_names(settings)
    metrics = with_timings(read_output(out / "metrics.json", "evaluate", read_json),
                           read_output(out / "timings.json", "evaluate", read_json))
    recorded = read_output(out / "mlflow.json", "evaluate", read_json)
    examples = read_output(out / "attention.json", "evaluate", read_json)
    by_length = read_output(out / "plots" / "accuracy_by_length.csv", "evaluate", pd.read_csv).query("reviews > 0")
    trained = {kind: trained_seeds(models, kind, settings.train.seeds) for kind in MODEL_KINDS}
    baseline_run = read_output(models / "baseline" / "mlflow_run.json", "baseline", read_json)

    figures_dir = out / "figures"
    figures = {"seeds": "figures/seed_accuracy.png", "curves": "figures/learning_curves.png",
               "roc": "figures/roc.png", "lengths": "figures/accuracy_by_length.png",
               "faithfulness": "figures/faithfulness.png",
               "attention": [f"figures/attention_{number}.png" for number in range(1, len(examples) + 1)]}
    with atomic_path(out / figures["seeds"]) as partial:
        intervals = {kind: mean_interval([seed["accuracy"] for seed in metrics[kind]["seeds"].values()])
                     for kind in MODEL_KINDS}
        plot_seed_accuracy(metrics, intervals, names, partial)
    with atomic_path(out / figures["curves"]) as partial:
        plot_learning_curves({kind: [run.history() for run in trained[kind].values()] for kind in MODEL_KINDS},
                             names, partial)
    with atomic_path(out / figures["roc"]) as partial:
        curves = {name: read_output(out / "plots" / f"roc_{name}.csv", "evaluate", pd.read_csv)
                  for name in (*MODEL_KINDS, "baseline")}
        aucs = {name: (metrics[name]["ensemble"] if name in MODEL_KINDS else metrics[name])["roc_auc"]
                for name in curves}
        plot_roc_curves(curves, aucs, names, partial)
    with atomic_path(out / figures["lengths"]) as partial:
        plot_accuracy_by_length(by_length, names, partial)
    with atomic_path(out / figures["faithfulness"]) as partial:
        plot_faithfulness({kind: read_output(out / "plots" / f"faithfulness_{kind}.csv", "evaluate", pd.read_csv)
                           for kind in MODEL_KINDS}, names, partial)
    for example, figure in zip(examples, figures["attention"]):
        with atomic_path(out / figure) as partial:
            plot_review_attention(example, names, partial)
    for stale in set(figures_dir.glob("attention_*.png")) - {out / figure for figure in figures["attention"]}:
        stale.unlink()

    commit = tracking.git_commit()
    against, problem = None, None
    if commit != "unknown":  # in git: this run against the commit it started from (an experiment's baseline)
        try:
            against = against_baseline(os.environ.get("DVC_EXP_BASELINE_REV") or commit)
        except PipelineError as error:
            problem = str(error)
    seed_runs = {kind: {str(seed): run.run for seed, run in trained[kind].items()} for kind in MODEL_KINDS}
    text = render_report(settings, metrics, by_length, examples, seed_runs, baseline_run, recorded, commit,
                         os.environ.get("DVC_EXP_NAME"), figures, tracking.tracking_uri(),
                         against_baseline_section(against, problem),
                         faithfulness_section(metrics["faithfulness"], settings, figures["faithfulness"]))
    with atomic_path(out / "report.md") as partial:
        partial.write_text(text, encoding="utf-8")

    tracking.use_experiment(settings.mlflow.experiment)
    tracking.attach_report(recorded["comparison_run_id"], out / "report.md", figures_dir)
    if against:
        with tracking.reopened_run(recorded["comparison_run_id"]):
            metrics_logged, tags = against_baseline_record(against)
            tracking.log_metrics(metrics_logged)
            tracking.set_tags(tags)
    typer.echo(f"report -> {out / 'report.md'}")


if __name__ == "__main__":
    app()
