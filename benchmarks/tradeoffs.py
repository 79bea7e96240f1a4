"""Accuracy against training time: one model trained under several max_len / hidden_dim values.

Each setting trains for `--epochs` epochs (early stopping off) with everything else from params.yaml,
and after every epoch prints the cumulative training time and the validation and test accuracy, so one
run shows the epochs trade-off too. Prints a table; asserts nothing.

    .venv/bin/python -m benchmarks.tradeoffs --model mha --max-len 128 --max-len 256 --max-len 512
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch
import typer
from sklearn.metrics import accuracy_score

from benchmarks.imdb import ARCHIVE, encoded_splits, machine, read_reviews
from pipeline.decision import predicted_labels
from pipeline.models import ModelConfig, build_model, count_parameters
from pipeline.params import MODEL_KINDS, load_params
from pipeline.training import Batches, EpochResult, fit, predict, seed_everything

CPU = torch.device("cpu")


def main(
    model: str = typer.Option("mha", help=f"One of {', '.join(MODEL_KINDS)}."),
    max_len: list[int] = typer.Option(None, help="tokenize.max_len values [default: params.yaml's]."),
    hidden: list[int] = typer.Option(None, help="model.hidden_dim values [default: params.yaml's]."),
    epochs: int = typer.Option(3, help="Epochs per setting."),
    train_size: int = typer.Option(25000, help="Train reviews (IMDB has 25,000)."),
    test_size: int = typer.Option(25000, help="Test reviews."),
    params_file: Path = typer.Option(Path("params.yaml"), "--params"),
    archive: Path = typer.Option(ARCHIVE, help="The IMDB archive."),
) -> None:
    params = load_params(params_file)
    reviews = read_reviews(archive, train_size, test_size, params.data.seed)
    print(machine())
    rows = []
    for length, width in itertools.product(max_len or [params.tokenize.max_len], hidden or [params.model.hidden_dim]):
        setting = dataclasses.replace(
            params,
            tokenize=dataclasses.replace(params.tokenize, max_len=length,
                                         eval_max_len=max(length, params.tokenize.eval_max_len)),
            model=dataclasses.replace(params.model, hidden_dim=width),
            train=dataclasses.replace(params.train, epochs=epochs, patience=epochs, device="cpu"),
        )
        splits, vocab = encoded_splits(reviews, setting)
        seed = setting.train.seeds[0]
        seed_everything(seed)
        network = build_model(ModelConfig(kind=model, vocab_size=len(vocab), **dataclasses.asdict(setting.model)))
        test = Batches(splits["test"], CPU)
        size, seconds = count_parameters(network), 0.0

        def score(result: EpochResult) -> None:
            nonlocal seconds
            seconds += result.seconds
            probabilities = predict(network, test).probabilities
            accuracy = accuracy_score(test.labels.numpy(), predicted_labels(probabilities))
            rows.append((length, width, size, result.epoch, seconds, result.val_accuracy, accuracy))
            print(f"max_len {length}, hidden {width}, epoch {result.epoch}: {seconds:.0f}s, test {accuracy:.4f}")

        fit(network, Batches(splits["train"], CPU), Batches(splits["val"], CPU), setting.train, seed, score)
    print(f"\n{model}: {len(splits['train'])} train / {len(splits['test'])} test reviews\n")
    print("| max_len | hidden_dim | parameters | epoch | training time | val accuracy | test accuracy |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for length, width, size, epoch, seconds, val_accuracy, accuracy in rows:
        print(f"| {length} | {width} | {size:,} | {epoch} | {seconds:.0f} s | {val_accuracy:.4f} | {accuracy:.4f} |")


if __name__ == "__main__":
    typer.run(main)
