"""Faithfulness on a finished project: every model's and seed's erasure measures and what measuring them costs
against what training them cost.

For each architecture and seed of the project's `train.seeds`, this measures the trained model as the
faithfulness stage does (pipeline/erasure.py, this checkout's params.yaml `faithfulness` section unless overridden),
in this process on every core, and prints the measures, the seconds, and the ratio to the seed's training seconds
(train_metrics.json). Then the verdicts over seeds (pipeline/faithfulness_report.py) as the report gives them.
Asserts nothing; writes nothing into the project.

    .venv/bin/python -m benchmarks.faithfulness_cost --project /tmp/fp-seq
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import typer
import yaml

from benchmarks.imdb import machine
from pipeline.erasure import balanced_sample, measure_faithfulness
from pipeline.faithfulness_report import GAPS, faithfulness_results, gap_text
from pipeline.models import load_checkpoint
from pipeline.params import MODEL_KINDS, load_params, model_dir
from pipeline.text import EncodedSplit

CODE = Path(__file__).resolve().parents[1]


def main(
    project: Path = typer.Option(..., help="A project where the pipeline has trained every seed of train.seeds."),
    reviews: int = typer.Option(None, help="Sampled test reviews (default: this checkout's faithfulness.reviews)."),
    random_draws: int = typer.Option(None, help="Random orders per review (default: faithfulness.random_draws)."),
) -> None:
    settings = load_params(CODE / "params.yaml").faithfulness
    reviews = reviews or settings.reviews
    random_draws = random_draws or settings.random_draws
    project_params = yaml.safe_load((project / "params.yaml").read_text())
    seeds = project_params["train"]["seeds"]
    test = EncodedSplit.load(project / "data/processed/test.npz")
    rows = balanced_sample(test.labels, reviews, settings.seed)
    print(f"{machine()}; {project}; {len(rows)} reviews (mean {test.lengths[rows].mean():.0f} tokens), fractions "
          f"{settings.fractions}, {random_draws} random draws, {torch.get_num_threads()} threads")
    print("\n| model | seed | comprehensiveness: attention / gradient / random | sufficiency: attention / gradient / "
          "random | flips top 1 / top 5 (attention) | Kendall tau | seconds | training seconds | ratio |")
    print("|---|---:|---|---|---|---:|---:|---:|---:|")
    measured = {}
    for kind in MODEL_KINDS:
        measured[kind] = {}
        for seed in seeds:
            folder = model_dir(project / "models", kind, seed)
            model = load_checkpoint(folder / "model.pt")
            trained = json.loads((folder / "train_metrics.json").read_text())["train_seconds"]
            started = time.perf_counter()
            result = measure_faithfulness(model, test, rows, tuple(settings.fractions), random_draws, settings.seed,
                                          torch.device("cpu"), "fp32")
            seconds = time.perf_counter() - started
            measured[kind][seed] = result
            s = result.summary()
            print(f"| {kind} | {seed} | {s['attention_comprehensiveness']:.3f} / {s['gradient_comprehensiveness']:.3f}"
                  f" / {s['random_comprehensiveness']:.3f} | {s['attention_sufficiency']:.3f} / "
                  f"{s['gradient_sufficiency']:.3f} / {s['random_sufficiency']:.3f} | "
                  f"{100 * s['attention_flip_top1']:.1f}% / {100 * s['attention_flip_top5']:.1f}% | "
                  f"{s['kendall_tau']:.3f} | {seconds:.1f} | {trained:.1f} | {seconds / trained:.3f} |")
    results = faithfulness_results(measured, settings.margin, project_params["compare"]["max_seeds"])
    print()
    for kind in MODEL_KINDS:
        for name in GAPS.values():
            print(f"{kind} {name}: {gap_text(results[kind][name], {})}")
    for name in GAPS.values():
        print(f"self vs mha, {name}: {gap_text(results['self_vs_mha'][name], {})}")


if __name__ == "__main__":
    typer.run(main)
