"""Stage 2: vocabulary from the training split, a validation split, every review encoded to ids."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.datasets import read_training_splits
from pipeline.errors import reports_errors
from pipeline.files import atomic_path
from pipeline.params import load_params
from pipeline.text import encode_splits

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    reviews_path: Path = typer.Option(Path("data/raw/reviews.parquet"), "--reviews", help="Output of download."),
    out: Path = typer.Option(Path("data/processed"), help="Folder for vocab.json and {train,val,test}.npz."),
) -> None:
    """Build the vocabulary on train only, carve a stratified validation split, encode and save."""
    settings = load_params(params)
    splits = read_training_splits(reviews_path, settings.data)
    vocab, encoded_splits = encode_splits(splits, settings.tokenize)
    for name, encoded in encoded_splits.items():
        with atomic_path(out / f"{name}.npz") as partial:
            encoded.save(partial)
        typer.echo(f"{name}: {len(encoded)} reviews, mean length {encoded.lengths.mean():.0f} tokens")
    with atomic_path(out / "vocab.json") as partial:
        vocab.save(partial)
    typer.echo(f"vocabulary: {len(vocab)} tokens -> {out}")


if __name__ == "__main__":
    app()
