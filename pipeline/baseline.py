"""Stage: the TF-IDF + logistic regression baseline, fitted on the models' training split, scored on test.

Writes models/baseline/: test_probabilities.npy (read by evaluate), train_metrics.json, mlflow_run.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import typer

from pipeline import tracking
from pipeline.datasets import read_training_splits
from pipeline.errors import reports_errors
from pipeline.files import atomic_path, write_json
from pipeline.params import load_params
from pipeline.tfidf import INVERSE_REGULARISATION, MIN_DOCUMENT_FREQUENCY, NGRAMS, tfidf_logistic_regression

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    reviews_path: Path = typer.Option(Path("data/raw/reviews.parquet"), "--reviews", help="Output of download."),
    out: Path = typer.Option(Path("models/baseline"), help="Output folder."),
) -> None:
    """Fit TF-IDF (word 1-2 grams) + logistic regression on the same train split the models learn from."""
    settings = load_params(params)
    splits = read_training_splits(reviews_path, settings.data)
    tracking.use_experiment(settings.mlflow.experiment)  # an unreachable tracking server fails before fitting
    train, test = splits["train"], splits["test"]
    baseline = tfidf_logistic_regression(settings.tokenize.lowercase, settings.data.seed)

    tags = tracking.run_tags("baseline", model="baseline")
    description = tracking.run_description(settings, "baseline", len(train))
    with tracking.recorded_run(tracking.run_name("baseline"), tags, description) as run:
        tracking.log_text_split(settings.data, "train", "training", train)
        tracking.log_text_split(settings.data, "test", "testing", test)
        started = time.perf_counter()
        baseline.fit(train["text"], train["label"])
        seconds = time.perf_counter() - started
        probabilities = baseline.predict_proba(test["text"])[:, 1]
        features = len(baseline.named_steps["counts"].ngrams_)
        tracking.log_params(settings.for_baseline() | {
            "tfidf.ngram_range": f"{NGRAMS[0]}-{NGRAMS[1]}", "tfidf.min_df": MIN_DOCUMENT_FREQUENCY,
            "logistic_regression.C": INVERSE_REGULARISATION,
        })
        tracking.log_metrics({"train_seconds": seconds, "features": features})
        with atomic_path(out / "test_probabilities.npy") as partial:
            with partial.open("wb") as file:
                np.save(file, probabilities)
        write_json(out / "train_metrics.json", {
            "params": features + 1, "features": features, "train_seconds": round(seconds, 3),
            "train_samples": len(train),
        })
        write_json(out / "mlflow_run.json", {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id})
    typer.echo(f"baseline: {features:,} n-grams, fitted on {len(train)} reviews in {seconds:.1f}s -> {out}")


if __name__ == "__main__":
    app()
