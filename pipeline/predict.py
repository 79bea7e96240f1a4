"""Classify new reviews with a trained model: label, probability of positive and the most attended words.

    python -m pipeline.predict "A wonderful, moving film." --model self
    python -m pipeline.predict --file reviews.csv          # a .csv/.tsv/.parquet column, or a .txt file, one per line
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import typer

from pipeline.attention import classify_with_attention
from pipeline.datasets import read_table_file
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import require_output
from pipeline.models import load_checkpoint
from pipeline.params import ModelKind, load_params
from pipeline.text import UNK_ID, Vocabulary, truncate

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    texts: list[str] = typer.Argument(None, help="Reviews to classify."),
    file: Path = typer.Option(None, help="A .csv/.tsv/.parquet file (column data.text_column) or a text file, "
                                         "one review per line."),
    model: ModelKind = typer.Option(ModelKind.self, help="Which trained model: self or mha."),
    top: int = typer.Option(5, min=0, help="How many of the most attended words to show."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file (tokenize.max_len and keep)."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize (vocab.json)."),
) -> None:
    """Print each review's label, probability of positive and its most attended words, one line each."""
    settings = load_params(params)
    reviews = list(texts or []) + (read_reviews(file, settings.data.text_column) if file else [])
    if not reviews:
        raise PipelineError("no reviews given: pass them as arguments or with --file")
    network = load_checkpoint(require_output(models / model.value / "model.pt", f"train_{model.value}"))
    vocab = Vocabulary.load(require_output(data / "vocab.json", "tokenize"))
    for text in reviews:
        ids = np.asarray(truncate(vocab.ids(text), settings.tokenize.max_len, settings.tokenize.keep) or [UNK_ID])
        probability, words = classify(network, ids, vocab, top)
        label = "positive" if probability >= 0.5 else "negative"
        attended = f"\tattended: {', '.join(words)}" if words else ""
        typer.echo(f"{label}\t{probability:.4f}{attended}\t{text[:60]!r}")


def classify(network: torch.nn.Module, ids: np.ndarray, vocab: Vocabulary, top: int) -> tuple[float, list[str]]:
    """Probability of positive, and the `top` known words with the most attention (summed over repeats)."""
    probability, weights = classify_with_attention(network, ids)
    weights = weights.mean(axis=0)
    per_word: dict[str, float] = {}
    for token_id, weight in zip(ids, weights):
        if token_id != UNK_ID:
            per_word[vocab.tokens[token_id]] = per_word.get(vocab.tokens[token_id], 0.0) + float(weight)
    return probability, sorted(per_word, key=per_word.get, reverse=True)[:top]


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
