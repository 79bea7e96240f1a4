"""Does bf16 cost accuracy? The pipeline's own verdict over seeds, one architecture's bf16 seeds against its fp32 seeds.

Reads two finished pipeline projects on the same data (the same data/processed/test.npz), one run with
`train.precision: fp32` and one with `bf16`, and for each architecture compares the bf16 seeds' test accuracy with the
fp32 seeds' exactly as `evaluate` compares the two architectures (pipeline.comparison.compare_architectures: the
difference in mean accuracy, its interval with seed and test variance, read against `compare.margin`). Prints one
line per architecture; asserts nothing.

    .venv/bin/python -m benchmarks.precision_check /tmp/imdb-fp32 /tmp/imdb-bf16 --seed 42 --seed 43 --seed 44
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from pipeline.comparison import compare_architectures
from pipeline.decision import predicted_labels
from pipeline.params import MODEL_KINDS, load_params
from pipeline.text import EncodedSplit
from pipeline.trained import trained_seeds


def main(
    fp32: Path = typer.Argument(..., help="A project whose seeds trained in fp32."),
    bf16: Path = typer.Argument(..., help="A project whose seeds trained in bf16, on the same test split."),
    seeds: list[int] = typer.Option(..., "--seed", help="Seeds to compare (repeatable), trained in both projects."),
) -> None:
    params = load_params(bf16 / "params.yaml")
    labels = EncodedSplit.load(bf16 / "data/processed/test.npz").labels
    if not np.array_equal(labels, EncodedSplit.load(fp32 / "data/processed/test.npz").labels):
        raise SystemExit(f"{fp32} and {bf16} have different test splits")
    for kind in MODEL_KINDS:
        probabilities = {
            precision: {seed: run.test_scores(len(labels)).probabilities
                        for seed, run in trained_seeds(project / "models", kind, seeds).items()}
            for precision, project in (("bf16", bf16), ("fp32", fp32))}
        verdict = compare_architectures(labels, probabilities, params.compare.margin_share, params.compare.max_seeds)
        accuracy = {precision: np.mean([np.mean(predicted_labels(p) == labels) for p in seeds.values()]) * 100
                    for precision, seeds in probabilities.items()}
        print(f"{kind}: bf16 {accuracy['bf16']:.2f}% vs fp32 {accuracy['fp32']:.2f}% over seeds "
              f"{', '.join(map(str, seeds))}: bf16 - fp32 = {verdict['difference'] * 100:+.2f} points "
              f"[{verdict['ci_low'] * 100:+.2f}, {verdict['ci_high'] * 100:+.2f}], {verdict['outcome']} "
              f"(margin ±{params.compare.margin}); P(bf16 better) {verdict['p_bf16_better']:.2f}, P(equivalent) "
              f"{verdict['p_equivalent']:.2f}, P(fp32 better) {verdict['p_fp32_better']:.2f}")


if __name__ == "__main__":
    typer.run(main)
