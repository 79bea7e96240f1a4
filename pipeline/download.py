"""Stage 1: get the labelled reviews into data/raw/reviews.parquet (text, label, split, rating)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.datasets import load_reviews, train_test_overlap
from pipeline.errors import reports_errors
from pipeline.files import atomic_path
from pipeline.params import load_params

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    out: Path = typer.Option(Path("data/raw/reviews.parquet"), help="Where to write the reviews table."),
    download_dir: Path = typer.Option(Path("data/cache"), help="Where downloads are kept and resumed."),
) -> None:
    """Download (or generate, or read) the reviews selected by the data.* params."""
    data = load_params(params).data
    reviews = load_reviews(data, download_dir)
    with atomic_path(out) as partial:
        reviews.to_parquet(partial, index=False)
    counts = reviews.groupby(["split", "label"]).size().to_dict()
    typer.echo(f"{data.source}: {len(reviews)} reviews -> {out} (split, label: count) {counts}")
    overlap = train_test_overlap(reviews)
    if overlap:
        typer.echo(f"warning: {overlap} test review(s) also appear word for word in the train split, so test "
                   f"scores are a little optimistic; remove them from your data to avoid this", err=True)


if __name__ == "__main__":
    app()
