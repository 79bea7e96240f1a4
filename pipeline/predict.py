"""Classify new reviews with a trained model: label, probability of positive and the most attended words.

    python -m pipeline.predict "A wonderful, moving film." --model self
    python -m pipeline.predict --file reviews.csv          # a .csv/.tsv/.parquet column, or a .txt file, one per line
    python -m pipeline.predict "Dull." --model-uri models:/attention-classifier-mha/latest
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from pipeline import tracking
from pipeline.classifier import DEFAULT_TOP_WORDS, ReviewClassifier
from pipeline.datasets import read_table_file
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import require_output
from pipeline.params import ModelKind, load_params

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    texts: list[str] = typer.Argument(None, help="Reviews to classify."),
    file: Path = typer.Option(None, help="A .csv/.tsv/.parquet file (column data.text_column) or a text file, "
                                         "one review per line."),
    model: ModelKind = typer.Option(ModelKind.self, help="Which trained model in --models: self or mha."),
    model_uri: str = typer.Option(None, help="Use this MLflow model instead of --models, e.g. "
                                             "models:/attention-classifier-self/latest or runs:/<run id>/model."),
    top: int = typer.Option(DEFAULT_TOP_WORDS, min=0, help="How many of the most attended words to show."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file (tokenize.eval_max_len and keep)."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize (vocab.json)."),
) -> None:
    """Print each review's label, probability of positive and its most attended words, one line each."""
    settings = load_params(params)
    reviews = list(texts or []) + (read_reviews(file, settings.data.text_column) if file else [])
    if not reviews:
        raise PipelineError("no reviews given: pass them as arguments or with --file")
    if model_uri:
        # MLflow's download progress bar would land among the output lines; a value the user set still wins
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        predictions = tracking.load_servable_model(model_uri).predict(reviews, params={"top": top})
    else:
        classifier = ReviewClassifier.load(
            require_output(models / model.value / "model.pt", f"train_{model.value}"),
            require_output(data / "vocab.json", "tokenize"), settings.tokenize.eval_max_len, settings.tokenize.keep,
        )
        predictions = classifier.predict(reviews, top)
    for text, prediction in zip(reviews, predictions):
        attended = f"\tattended: {', '.join(prediction.attended)}" if prediction.attended else ""
        typer.echo(f"{prediction.label}\t{prediction.probability:.4f}{attended}\t{text[:60]!r}")


def read_reviews(path: Path, text_column: str) -> list[str]:
    if not path.is_file():
        raise PipelineError(f"--file {path} not found")
    if path.suffix in (".csv", ".tsv", ".parquet"):
        table = read_table_file(path)
        column = text_column if text_column in table.columns else "text"
        if column not in table.columns:
            raise PipelineError(f"{path} has no column {text_column!r} (columns: {', '.join(map(str, table.columns))})")
        return table[column].fillna("").astype(str).tolist()
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise PipelineError(f"{path} is not UTF-8 text: re-save it with UTF-8 encoding") from None


if __name__ == "__main__":
    app()
