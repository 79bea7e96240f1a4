"""Stages score_self@<seed> and score_mha@<seed>: one trained model's probability for every test review.

Writes models/<model>/seed-<seed>/: test_scores.npz (per test review, in the split's order: the probability of
positive and, with two hops or more, how alike the pooling's hops weighed it) and score_metrics.json (inference
throughput). Each model is scored once, in its own stage, so that adding a seed scores only that seed and evaluate
only reads the scores.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.errors import reports_errors
from pipeline.files import atomic_path, read_output, write_json
from pipeline.models import load_checkpoint
from pipeline.params import ModelKind, load_params, model_dir, stage_of
from pipeline.text import EncodedSplit
from pipeline.training import Batches, resolve_device, timed_predictions

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    model: ModelKind = typer.Option(..., help="self or mha."),
    seed: int = typer.Option(..., min=0, help="Which seed's model (one of train.seeds)."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/ from the train stages."),
) -> None:
    """Score one trained model on the test split."""
    kind = model.value
    settings = load_params(params)
    test = read_output(data / "test.npz", "tokenize", EncodedSplit.load)
    folder = model_dir(models, kind, seed)
    device = resolve_device(settings.train.device)
    network = read_output(folder / "model.pt", stage_of(kind, seed), load_checkpoint).to(device)
    predictions, throughput = timed_predictions({kind: network}, Batches(test, device))[kind]
    with atomic_path(folder / "test_scores.npz") as partial:
        predictions.save(partial)
    write_json(folder / "score_metrics.json", {"test_samples": len(test), "throughput": round(throughput, 1)})
    typer.echo(f"{kind} seed {seed}: {len(test)} test reviews scored, {throughput:,.0f} reviews/s -> "
               f"{folder / 'test_scores.npz'}")


if __name__ == "__main__":
    app()
