"""Stages faithfulness_self@<seed> and faithfulness_mha@<seed>: does one trained model's decision rest on the tokens
its attention weighs most? (pipeline/erasure.py: comprehensiveness, sufficiency, decision flips, against input x
gradient and random orders.)

Writes models/<model>/seed-<seed>/faithfulness.npz (every sampled review's measures: evaluate weighs them over seeds
and reviews) and faithfulness.json (their means and the stage's seconds), and adds the means to the seed's MLflow run.
A stage per seed, as training is: adding a seed measures only that seed, and changing only `faithfulness.*` measures
again without training.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import typer

from pipeline import tracking
from pipeline.compute import resolve_device, resolve_precision
from pipeline.erasure import balanced_sample, measure_faithfulness
from pipeline.errors import reports_errors
from pipeline.files import atomic_path, read_json, read_output, write_json
from pipeline.models import load_checkpoint
from pipeline.parallel import threads_in_queue
from pipeline.params import ModelKind, load_params, model_dir, stage_of
from pipeline.text import EncodedSplit

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    model: ModelKind = typer.Option(..., help="self: BiRNN + self-attention; mha: LSTM + multi-head attention."),
    seed: int = typer.Option(..., min=0, help="The training seed whose model is measured (one of train.seeds)."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/ and mha/."),
) -> None:
    """Erase each sampled test review's most attended tokens (and the gradient's, and random ones) and measure how
    much the model's decision loses."""
    kind = model.value
    settings = load_params(params)
    faithfulness = settings.faithfulness
    test = read_output(data / "test.npz", "tokenize", EncodedSplit.load)
    rows = balanced_sample(test.labels, faithfulness.reviews, faithfulness.seed)
    folder, stage = model_dir(models, kind, seed), stage_of(kind, seed)
    network = read_output(folder / "model.pt", stage, load_checkpoint)
    run = read_output(folder / "mlflow_run.json", stage, read_json)
    tracking.use_experiment(settings.mlflow.experiment)  # an unreachable tracking server fails before any work
    device = resolve_device(settings.train.device)
    if (threads := threads_in_queue()) is not None:
        torch.set_num_threads(threads)
    precision = resolve_precision(settings.train.precision, device)

    started = time.perf_counter()
    measured = measure_faithfulness(network.to(device), test, rows, tuple(faithfulness.fractions),
                                    faithfulness.random_draws, faithfulness.seed, device, precision)
    seconds = time.perf_counter() - started
    summary = measured.summary()
    with tracking.reopened_run(run["run_id"]):
        tracking.log_metrics({f"faithfulness_{key}": value for key, value in summary.items()}
                             | {"faithfulness_seconds": seconds})
        tracking.set_tags({"faithfulness.sample": f"{len(rows)} test reviews, fractions "
                                                  f"{faithfulness.fractions}, {faithfulness.random_draws} random "
                                                  f"draws, seed {faithfulness.seed}"})
    with atomic_path(folder / "faithfulness.npz") as partial:
        measured.save(partial)
    write_json(folder / "faithfulness.json", summary | {"reviews": len(rows), "seconds": round(seconds, 3)})
    typer.echo(f"{kind} seed {seed}: AOPC comprehensiveness attention {summary['attention_comprehensiveness']:.3f}, "
               f"gradient {summary['gradient_comprehensiveness']:.3f}, random {summary['random_comprehensiveness']:.3f}"
               f"; Kendall tau {summary['kendall_tau']:.2f}; {len(rows)} reviews in {seconds:.1f}s")


if __name__ == "__main__":
    app()
