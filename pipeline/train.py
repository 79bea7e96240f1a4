"""Stages train_self@<seed> and train_mha@<seed>: train one classifier with one seed, record it in MLflow, and score
the test split with it.

Writes models/<model>/seed-<seed>/: model.pt (weights + config), history.csv (per-epoch curves, a DVC plot),
test_scores.npz (every test review's probability of positive and hop overlap: evaluate only reads them, so that adding
a seed scores only that seed), train_metrics.json, and mlflow_run.json (the run that evaluate adds test metrics to,
and the logged MLflow model: raw text in; evaluate registers one seed's model per pipeline run). The test split is
scored once training has chosen its weights on the validation split alone; scoring in this stage rather than in one of
its own spares a process start (torch and MLflow imports) per seed.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import typer

from pipeline import tracking
from pipeline.errors import reports_errors
from pipeline.files import atomic_path, read_output, write_json
from pipeline.models import ModelConfig, build_model, count_parameters, parameters_by_part, save_checkpoint
from pipeline.parallel import threads_in_queue
from pipeline.params import ModelKind, load_params, model_dir, stage_of
from pipeline.text import EncodedSplit, Vocabulary
from pipeline.compute import compute_used, resolve_device, resolve_precision
from pipeline.training import Batches, EpochResult, fit, seed_everything, timed_predictions

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    model: ModelKind = typer.Option(..., help="self: BiRNN + self-attention; mha: LSTM + multi-head attention."),
    seed: int = typer.Option(..., min=0, help="Seed of the weights' initialisation, dropout and batch order "
                                              "(one of train.seeds)."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    out: Path = typer.Option(None, help="Output folder [default: models/<model>/seed-<seed>]."),
) -> None:
    """Train one attention classifier with one seed, with early stopping, and log it to MLflow."""
    kind = model.value
    settings = load_params(params)
    vocab_path = data / "vocab.json"
    vocab = read_output(vocab_path, "tokenize", Vocabulary.load)
    train, val, test = (read_output(data / f"{split}.npz", "tokenize", EncodedSplit.load)
                        for split in ("train", "val", "test"))
    tracking.use_experiment(settings.mlflow.experiment)  # an unreachable tracking server fails before any work
    out = out or model_dir(Path("models"), kind, seed)
    device = resolve_device(settings.train.device)
    if (threads := threads_in_queue()) is not None:
        torch.set_num_threads(threads)
    precision = resolve_precision(settings.train.precision, device)
    compute = compute_used(device, precision)

    seed_everything(seed)
    config = ModelConfig(kind=kind, vocab_size=len(vocab), **asdict(settings.model))
    network = build_model(config).to(device)
    parameter_count = count_parameters(network)
    typer.echo(f"{kind} seed {seed}: {parameter_count:,} parameters; {len(train)} train, {len(val)} val reviews; "
               f"{device}, {precision}")

    description = tracking.run_description(settings, kind, len(train), len(val), seed)
    tags = tracking.run_tags(stage_of(kind, seed), model=kind, seed=seed) | {
        f"compute.{key}": str(value) for key, value in compute.items()}
    with tracking.recorded_run(tracking.run_name(kind, seed), tags, description) as run:
        tracking.log_params(settings.for_model(kind, seed) | {"parameters": parameter_count})
        for split, context, encoded in (("train", "training", train), ("val", "validation", val)):
            tracking.log_token_split(settings.data, split, context, encoded.ids, encoded.lengths, encoded.labels)

        def report_epoch(result: EpochResult) -> None:
            tracking.log_metrics({k: v for k, v in asdict(result).items() if k != "epoch" and v is not None},
                                 step=result.epoch)
            typer.echo(
                f"epoch {result.epoch}: train loss {result.train_loss:.4f} acc {result.train_accuracy:.4f} | "
                f"val loss {result.val_loss:.4f} acc {result.val_accuracy:.4f} | {result.seconds:.1f}s"
            )

        result = fit(network, Batches(train, device), Batches(val, device), settings.train, seed,
                     report_epoch, checkpoint=out / "checkpoint.pt", precision=precision)
        best = result.history[result.best_epoch - 1]
        train_metrics = {
            "seed": seed,
            "params": parameter_count,
            "params_by_part": parameters_by_part(network),
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 3),
            "vocab_size": len(vocab),
            "train_samples": len(train),
            "val_samples": len(val),
            "val_loss": best.val_loss,
            "val_accuracy": best.val_accuracy,
            "compute": compute,
        }
        tracking.log_metrics({"best_epoch": result.best_epoch, "train_seconds": result.seconds})
        scored, throughput = timed_predictions(network, Batches(test, device), precision)
        train_metrics["test_throughput"] = round(throughput, 1)
        save_checkpoint(network.cpu(), out / "model.pt")
        logged = tracking.log_servable_model(out / "model.pt", vocab_path, settings.tokenize, settings.train.precision)

        history = pd.DataFrame([asdict(epoch) for epoch in result.history])
        with atomic_path(out / "history.csv") as partial:
            history.to_csv(partial, index=False)
        with atomic_path(out / "test_scores.npz") as partial:
            scored.save(partial)
        write_json(out / "train_metrics.json", train_metrics)
        write_json(out / "mlflow_run.json", {
            "run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "model_uri": logged.model_uri,
        })
    typer.echo(f"{kind} seed {seed}: best epoch {result.best_epoch}, val accuracy {best.val_accuracy:.4f}, "
               f"{result.seconds:.1f}s -> {out}")
    link = tracking.ui_link(tracking.tracking_uri(), run.info.experiment_id, run.info.run_id)
    typer.echo(f"{kind} seed {seed}: MLflow run {link}")


if __name__ == "__main__":
    app()
