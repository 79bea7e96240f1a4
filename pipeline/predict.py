"""Classify new reviews with a trained model: label, probability of positive and the most attended words.

    python -m pipeline.predict "A wonderful, moving film." --model self
    python -m pipeline.predict --file reviews.csv          # a table's text column, read as training reads data.path
    python -m pipeline.predict --file reviews.txt --lines  # plain text, one review per line
    python -m pipeline.predict "Dull." --model-uri models:/attention-classifier-mha/latest

A table with a label column is also scored: accuracy with its 95% interval, F1, ROC AUC and the confusion counts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from pipeline import tracking
from pipeline.classifier import DEFAULT_TOP_WORDS, ReviewClassifier
from pipeline.datasets import parse_labels, read_table_file, read_text, require_columns
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import read_output
from pipeline.metrics import classification_metrics
from pipeline.models import load_checkpoint
from pipeline.params import DataParams, ModelKind, load_params
from pipeline.text import Vocabulary
from pipeline.trained import representative, trained_seeds

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    texts: list[str] = typer.Argument(None, help="Reviews to classify."),
    file: Path = typer.Option(None, help="A table, read as training reads data.path (column data.text_column; "
                                         "data.header, data.encoding), whatever its extension: the same file gives "
                                         "the same reviews here as in training. With --lines: plain text."),
    lines: bool = typer.Option(False, "--lines", help="Read --file as plain text, one review per line (a line "
                                                      "with a tab or comma in it is then one review too)."),
    label_column: str = typer.Option(None, help="Score the predictions against this column of --file (a name, or "
                                                "a position when data.header is false) [default: "
                                                "data.label_column, when the table has it]."),
    model: ModelKind = typer.Option(ModelKind.self, help="Which architecture in --models: self or mha."),
    seed: int = typer.Option(None, help="Which of its seeds [default: the representative seed of train.seeds, the "
                                        "one with the lowest validation loss, as registered in MLflow]."),
    model_uri: str = typer.Option(None, help="Use this MLflow model instead of --models, e.g. "
                                             "models:/attention-classifier-self/latest or runs:/<run id>/model."),
    top: int = typer.Option(DEFAULT_TOP_WORDS, min=0, help="How many of the most attended words to show."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file (tokenize.eval_max_len and keep, data)."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize (vocab.json)."),
) -> None:
    """Print each review's label, probability of positive and its most attended words, one line each; for a
    labelled --file, then its scores (on stderr, so that stdout stays one line per review)."""
    settings = load_params(params)
    reviews, labels = list(texts or []), None
    if file:
        from_file, labels = read_reviews(file, settings.data, label_column, lines)
        reviews += from_file
    if not reviews:
        raise PipelineError("no reviews given: pass them as arguments or with --file")
    if model_uri:
        # MLflow's download progress bar would land among the output lines; a value the user set still wins
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        predictions = tracking.load_servable_model(model_uri).predict(reviews, params={"top": top})
    else:
        chosen = representative(trained_seeds(models, model.value, settings.train.seeds if seed is None else [seed]))
        classifier = ReviewClassifier(
            read_output(chosen.weights, chosen.stage, load_checkpoint),
            read_output(data / "vocab.json", "tokenize", Vocabulary.load),
            settings.tokenize.eval_max_len, settings.tokenize.keep, settings.train.precision,
        )
        predictions = classifier.predict(reviews, top)
    for text, prediction in zip(reviews, predictions):
        attended = f"\tattended: {', '.join(prediction.attended)}" if prediction.attended else ""
        typer.echo(f"{prediction.label}\t{prediction.probability:.4f}{attended}\t{text[:60]!r}")
    if labels is not None:
        scored = np.array([prediction.probability for prediction in predictions[len(reviews) - len(labels):]])
        for line in score_lines(labels.to_numpy(), scored, f"{file} column {labels.name!r}"):
            typer.echo(line, err=True)


def read_reviews(path: Path, data: DataParams, label_column: str | None,
                 lines: bool) -> tuple[list[str], pd.Series | None]:
    """The reviews of --file and, when it is a table with a label column, their labels (0/1, named by the column).

    A table is read as training reads data.path (pipeline.datasets), so that a headerless `text<TAB>label` .txt gives
    the rows here that it gives there; plain text, one review per line, only when asked for (`lines`)."""
    if not path.is_file():
        raise PipelineError(f"--file {path} not found")
    if lines:
        if label_column is not None:
            raise PipelineError("--label-column names a column of a table: drop --lines to read --file as a table")
        return [line for line in read_text(path, data.encoding).splitlines() if line.strip()], None
    table = read_table_file(path, data.header, data.encoding)
    text_key = data.text_key
    if data.header and text_key not in table.columns and "text" in table.columns:
        text_key = "text"  # new reviews need not share the training table's column name
    if len(table.columns) == 1 and text_key not in table.columns:
        raise PipelineError(f"{path} reads as a table of one column, without a column {text_key!r}: pass --lines to "
                            f"read it as plain text, one review per line, or set data.text_column / data.header")
    wanted = {"data.text_column": text_key}
    if label_column is not None:
        wanted["--label-column"] = data.column(label_column)
    require_columns(table, path, data, wanted)
    texts = table[text_key].fillna("").astype(str).tolist()
    label_key = wanted.get("--label-column", data.label_key)
    if label_key not in table.columns:
        return texts, None
    return texts, parse_labels(table[label_key], path, label_key).rename(label_key)


def score_lines(labels: np.ndarray, probabilities: np.ndarray, source: str) -> list[str]:
    """How the predictions did against `labels`: the numbers the evaluate stage reports, in two lines."""
    scores = classification_metrics(labels, probabilities)
    auc = "n/a (one class)" if math.isnan(scores["roc_auc"]) else f"{scores['roc_auc']:.4f}"
    return [
        f"scored {len(labels):,} labelled reviews ({source}): accuracy {scores['accuracy']:.2%} "
        f"[{scores['accuracy_ci_low'] * 100:.2f}, {scores['accuracy_ci_high'] * 100:.2f}] (95% Wilson interval), "
        f"F1 {scores['f1']:.4f}, ROC AUC {auc}",
        f"confusion: {scores['true_negatives']:,} true negatives, {scores['false_positives']:,} false positives, "
        f"{scores['false_negatives']:,} false negatives, {scores['true_positives']:,} true positives",
    ]


if __name__ == "__main__":
    app()
