"""Training speed and accuracy: the pipeline's trainer against a plain PyTorch tutorial loop.

The reference is what a typical tutorial writes for the same self-attention architecture and sizes:
every review padded to max_len, batches of 64 from a shuffled DataLoader, no bucketing, no packing,
Adam. The pipeline's train_self and train_mha run as the pipeline runs them (params.yaml, with the
sizes below forced so the comparison is like for like). All three see the same IMDB reviews, tokenised
by the pipeline's tokenizer, and all three are tested on reviews cut to max_len (the pipeline's evaluation
would read up to tokenize.eval_max_len). With `--precision bf16` the pipeline's models also train (and score) under
bf16 autocast (pipeline/compute.py). Each trainer trains once per `--seed`: after two epochs on a subset,
test accuracy swings by several points from seed to seed (README, Benchmarks), so one seed cannot tell two
trainers apart. Prints samples/s and test accuracy per run and their means with the speed-up; asserts nothing.
With `--device cuda` all three train on the GPU, and train_self trains a second time with the CPU's RNN path
(each direction over the padded batch) in place of the GPU's (both directions in one cuDNN call over the packed
batch), so that one run tells which path is faster there. `--profile` first prints, for one epoch of each
pipeline model (training, validation and scoring the test split), the operators (and on a GPU the kernels) that
take the most time.

    .venv/bin/python -m benchmarks.train_speed --train-size 5000 --test-size 5000 --epochs 2
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import typer
from sklearn.metrics import accuracy_score
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.imdb import ARCHIVE, device_option, encoded_splits, machine, read_reviews
from pipeline.decision import predicted_labels
from pipeline.models import ModelConfig, build_model
from pipeline.params import DEVICES, load_params
from pipeline.training import Batches, fit, predict, seed_everything

REFERENCE_BATCH = 64


class TutorialSelfAttention(nn.Module):
    """The same layers as the pipeline's self-attention model, run the tutorial way (no packing)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, hops: int, dropout: float):
        super().__init__()
        width = 2 * hidden_dim
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.project, self.score = nn.Linear(width, width), nn.Linear(width, hops, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hops * width, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.dropout(self.embedding(ids)))
        scores = self.score(torch.tanh(self.project(states))).transpose(1, 2)
        weights = scores.masked_fill((ids == 0).unsqueeze(1), float("-inf")).softmax(-1)
        pooled = (weights @ states).flatten(1)
        return self.classifier(self.dropout(pooled)).squeeze(-1)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read after it counts all of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclasses.dataclass(frozen=True)
class Run:
    samples_per_second: float
    accuracy: float


def train_reference(train, vocab_size, model_params, lr, epochs, seed, device) -> tuple[nn.Module, float]:
    """The tutorial loop: the trained model and its training seconds (one epoch of it is the yardstick of
    benchmarks.full_pipeline)."""
    seed_everything(seed)
    model = TutorialSelfAttention(vocab_size, model_params.embed_dim, model_params.hidden_dim, model_params.hops,
                                  model_params.dropout)
    model.to(device)
    loader = DataLoader(TensorDataset(torch.from_numpy(train.ids).long(), torch.from_numpy(train.labels).float()),
                        batch_size=REFERENCE_BATCH, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for ids, labels in loader:
            optimizer.zero_grad()
            loss_fn(model(ids.to(device)), labels.to(device)).backward()
            optimizer.step()
    synchronize(device)
    return model, time.perf_counter() - started


def reference_run(splits, vocab_size, model_params, lr, epochs, seed, device) -> Run:
    train = splits["train"]
    model, seconds = train_reference(train, vocab_size, model_params, lr, epochs, seed, device)
    model.eval()
    with torch.inference_mode():
        test_ids = torch.from_numpy(splits["test"].ids).long()
        logits = torch.cat([model(test_ids[i : i + 256].to(device)).cpu() for i in range(0, len(test_ids), 256)])
    return Run(len(train) * epochs / seconds, accuracy_score(splits["test"].labels, (logits > 0).numpy()))


def pipeline_run(kind, splits, vocab_size, params, epochs, seed, device, cpu_rnn_path=False, precision="fp32") -> Run:
    train_params = dataclasses.replace(params.train, epochs=epochs, patience=epochs)
    seed_everything(seed)
    model = build_model(ModelConfig(kind=kind, vocab_size=vocab_size, **dataclasses.asdict(params.model))).to(device)
    if cpu_rnn_path:
        model.rnn.forward = model.rnn.direction_by_direction
    result = fit(model, Batches(splits["train"], device), Batches(splits["val"], device), train_params, seed,
                 precision=precision)
    probabilities = predict(model, Batches(splits["test"], device), precision).probabilities
    accuracy = accuracy_score(splits["test"].labels, predicted_labels(probabilities))
    return Run(len(splits["train"]) * epochs / result.seconds, accuracy)


def print_profile(kind, splits, vocab_size, params, device) -> None:
    """The 15 operators (on a GPU: kernels) with the most time of their own in one epoch of training and
    validation, then scoring the test split, as pipeline_run does both."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiled:
        pipeline_run(kind, splits, vocab_size, params, 1, 42, device)
    order = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"\nProfile of one train_{kind} epoch on {device}:\n")
    print(profiled.key_averages().table(sort_by=order, row_limit=15))


def main(
    train_size: int = typer.Option(5000, help="Train reviews (stratified subset of IMDB's 25,000)."),
    test_size: int = typer.Option(5000, help="Test reviews."),
    epochs: int = typer.Option(2, help="Epochs for every trainer (the pipeline's early stopping is off)."),
    seeds: list[int] = typer.Option([42, 43, 44], "--seed", help="Train every trainer once per seed (repeatable)."),
    params_file: Path = typer.Option(Path("params.yaml"), "--params"),
    archive: Path = typer.Option(ARCHIVE, help="The IMDB archive."),
    device_name: str = typer.Option("cpu", "--device", help=f"Where all three train: {', '.join(DEVICES)}."),
    profile_first: bool = typer.Option(False, "--profile", help="Profile one epoch of each pipeline model first."),
    precisions: list[str] = typer.Option(["fp32"], "--precision", help="Train the pipeline's models in each of these "
                                         "(fp32, bf16; repeatable); the reference loop stays in float32."),
) -> None:
    params = load_params(params_file)
    device = device_option(device_name)
    params = dataclasses.replace(
        params,
        tokenize=dataclasses.replace(params.tokenize, max_len=256, eval_max_len=256),  # the reference's test reads 256
        model=dataclasses.replace(params.model, embed_dim=128, hidden_dim=64),
    )
    splits, vocab = encoded_splits(read_reviews(archive, train_size, test_size, params.data.seed), params)
    tok = params.tokenize

    print(machine() + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""))
    print(f"{len(splits['train'])} train / {len(splits['test'])} test reviews, max_len {tok.max_len}, "
          f"embed 128, hidden 64, {epochs} epochs, mean length {np.mean(splits['train'].lengths):.0f} tokens")
    batch = params.train.batch_size
    if profile_first:
        for kind in ("self", "mha"):
            print_profile(kind, splits, len(vocab), params, device)
    trainers = {  # label -> train and test at a seed; the reference first, as the yardstick
        "reference loop (self-attention, padded, batch 64)":
            lambda seed: reference_run(splits, len(vocab), params.model, params.train.lr, epochs, seed, device),
        **{f"pipeline train_{kind} (batch {batch}, {precision})":
           lambda seed, kind=kind, precision=precision: pipeline_run(kind, splits, len(vocab), params, epochs, seed,
                                                                     device, precision=precision)
           for precision in precisions for kind in ("self", "mha")},
    }
    if device.type == "cuda":
        trainers[f"pipeline train_self, the CPU's RNN path (batch {batch})"] = lambda seed: pipeline_run(
            "self", splits, len(vocab), params, epochs, seed, device, cpu_rnn_path=True)
    runs: dict[str, list[Run]] = {label: [] for label in trainers}
    print("\n| trainer | seed | samples/s | test accuracy |\n|---|---:|---:|---:|")
    for seed in seeds:  # seed by seed, so that a drift in the machine's speed reaches every trainer alike
        for label, train in trainers.items():
            run = train(seed)
            runs[label].append(run)
            print(f"| {label} | {seed} | {run.samples_per_second:.1f} | {run.accuracy:.4f} |", flush=True)

    means = {label: (np.mean([run.samples_per_second for run in trained]), [run.accuracy for run in trained])
             for label, trained in runs.items()}
    reference_speed, reference_accuracies = next(iter(means.values()))
    print(f"\nMeans over {len(seeds)} seed(s); accuracy as mean (lowest-highest):\n")
    print("| trainer | samples/s | test accuracy | speed vs reference | accuracy vs reference |")
    print("|---|---:|---:|---:|---:|")
    for label, (speed, accuracies) in means.items():
        accuracy = np.mean(accuracies)
        print(f"| {label} | {speed:.1f} | {accuracy:.4f} ({min(accuracies):.4f}-{max(accuracies):.4f}) "
              f"| {speed / reference_speed:.2f}x | {100 * (accuracy - np.mean(reference_accuracies)):+.2f} points |")


if __name__ == "__main__":
    typer.run(main)
