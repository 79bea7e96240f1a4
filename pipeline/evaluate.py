"""Stage 5: score both models on the test split; write reports/metrics.json and the ROC/confusion plots."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import typer
from sklearn.metrics import roc_curve

from pipeline import tracking
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import atomic_path, read_json, write_json
from pipeline.metrics import classification_metrics, timed_predictions
from pipeline.models import load_checkpoint
from pipeline.params import MODEL_KINDS, load_params
from pipeline.text import EncodedSplit
from pipeline.training import Batches, resolve_device

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
    out: Path = typer.Option(Path("reports"), help="Folder for metrics.json and plots/."),
) -> None:
    """Accuracy, F1, ROC AUC, confusion, size, training time and throughput of each model on the test split."""
    settings = load_params(params)
    device = resolve_device(settings.train.device)
    test = EncodedSplit.load(data / "test.npz")
    batches = Batches(test, device)
    tracking.use_experiment(settings.mlflow.experiment)
    results = {}
    for kind in MODEL_KINDS:
        folder = models / kind
        if not (folder / "model.pt").is_file():
            raise PipelineError(f"{folder}/model.pt not found: run the train_{kind} stage first (dvc repro)")
        model = load_checkpoint(folder / "model.pt").to(device)
        probabilities, throughput = timed_predictions(model, batches)
        scores = classification_metrics(test.labels, probabilities)
        trained = read_json(folder / "train_metrics.json")
        results[kind] = scores | trained | {"test_samples": len(test), "throughput": round(throughput, 1)}

        fpr, tpr, _ = roc_curve(test.labels, probabilities)
        with atomic_path(out / "plots" / f"roc_{kind}.csv") as partial:
            pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(partial, index=False)
        with atomic_path(out / "plots" / f"confusion_{kind}.csv") as partial:
            pd.DataFrame({"actual": test.labels, "predicted": (probabilities >= 0.5).astype(int)}).to_csv(
                partial, index=False
            )
        run_id = read_json(folder / "mlflow_run.json")["run_id"]
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics({f"test_{name}": value for name, value in scores.items()} | {"throughput": throughput})
        typer.echo(f"{kind}: accuracy {scores['accuracy']:.4f}, F1 {scores['f1']:.4f}, "
                   f"ROC AUC {scores['roc_auc']:.4f}, {throughput:,.0f} reviews/s")
    write_json(out / "metrics.json", results)


if __name__ == "__main__":
    app()
