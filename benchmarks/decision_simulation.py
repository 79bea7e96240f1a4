"""How often the verdict is wrong, and how many seeds it spends, when seeds are added until it decides.

Simulated comparisons whose true difference is known, decided by the pipeline's own code (comparison.decide) in
rounds as `python -m pipeline.decide` runs them: start with `--first` seeds per architecture, add `--round` seeds
while the verdict is not resolved and more seeds could resolve it, stop at `--max-seeds`. Each architecture's
seed accuracies are drawn around its true accuracy with the seeds' spread; the test set is drawn once per
comparison, shifting the measured difference by its own noise for every look alike (the test term's part that
more seeds do not remove), while its seed part shrinks as 1 / seeds. The defaults are the full IMDB run's
(docs/results.md). Prints, per true difference, the share of each outcome and the mean seeds spent.

    .venv/bin/python -m benchmarks.decision_simulation
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import typer

from pipeline.comparison import OUTCOMES, Evidence, decide, next_look

# Measured on full IMDB, seeds 42-44 of each default model (2026-12-03, docs/results.md), as shares of the test
# reviews: the seeds' standard deviation of test accuracy (0.34 and 0.23 points, their root mean square), the test
# sample's variance of the difference at three seeds (7.6e-7) and its part that more seeds would not remove (estimated
# 0: the seeds' disagreement on single reviews accounts for all of it), the seed part then times three seeds.
IMDB_SEED_SD = 0.0029
IMDB_LASTING_TEST_VARIANCE = 0.0
IMDB_SEED_TEST_VARIANCE = 2.29e-6
IMDB_TEST_REVIEWS = 25_000


@dataclasses.dataclass(frozen=True)
class Setting:
    margin: float = 0.005
    max_seeds: int = 20
    first: int = 3
    round: int = 2
    seed_sd: float = IMDB_SEED_SD
    lasting_test_variance: float = IMDB_LASTING_TEST_VARIANCE
    seed_test_variance: float = IMDB_SEED_TEST_VARIANCE
    reviews: int = IMDB_TEST_REVIEWS


def simulate(true_difference: float, setting: Setting, comparisons: int, seed: int) -> tuple[Counter, float]:
    """The outcomes of `comparisons` sequential decisions and the mean seeds per architecture they spent."""
    rng = np.random.default_rng(seed)
    outcomes, spent = Counter(), 0
    for _ in range(comparisons):
        test_shift = rng.normal(0, np.sqrt(setting.lasting_test_variance))
        first = 0.89 + true_difference + test_shift + rng.normal(0, setting.seed_sd, setting.max_seeds)
        second = 0.89 + rng.normal(0, setting.seed_sd, setting.max_seeds)
        seeds = setting.first
        while True:
            evidence = Evidence(tuple(first[:seeds]), tuple(second[:seeds]),
                                setting.lasting_test_variance + setting.seed_test_variance / seeds,
                                setting.lasting_test_variance, setting.reviews)
            verdict = decide(evidence, setting.margin, setting.max_seeds)
            following = next_look(seeds, verdict.outcome, verdict.decidable, setting.round, setting.max_seeds)
            if following is None:
                break
            seeds = following
        outcomes[verdict.outcome] += 1
        spent += seeds
    return outcomes, spent / comparisons


def wrong_winner(outcomes: Counter) -> int:
    return outcomes["better"] + outcomes["better_beyond_margin"]


def main(
    comparisons: int = typer.Option(2000, help="Simulated comparisons per true difference."),
    margin: float = typer.Option(0.5, help="compare.margin, in accuracy points."),
    max_seeds: int = typer.Option(20, help="compare.max_seeds."),
    first: int = typer.Option(3, help="Seeds per architecture at the first look."),
    round_size: int = typer.Option(2, "--round", help="Seeds added per architecture each round."),
    lasting_sd: float = typer.Option(100 * IMDB_LASTING_TEST_VARIANCE**0.5, help="The test set's own noise in the "
                                     "difference, in points: its standard error with infinitely many seeds."),
    seed: int = typer.Option(0, help="Seed of the simulation."),
) -> None:
    """Print each outcome's share and the mean seeds spent at true differences 0, margin/2, margin, 2 x margin."""
    setting = Setting(margin=margin / 100, max_seeds=max_seeds, first=first, round=round_size,
                      lasting_test_variance=(lasting_sd / 100) ** 2)
    typer.echo(f"{comparisons} comparisons per row; margin {margin} points, seeds {first} + {round_size} a round up "
               f"to {max_seeds}; seed sd {100 * setting.seed_sd:.2f} points, test sd "
               f"{100 * np.sqrt(setting.lasting_test_variance):.3f} points (+ seeds' part)")
    typer.echo("| true difference (points) | " + " | ".join(OUTCOMES[:4]) + " | mean seeds |")
    typer.echo("|---:|" + "---:|" * 5)
    for share in (0, 0.5, 1, 2):
        outcomes, seeds = simulate(share * setting.margin, setting, comparisons, seed)
        shares = " | ".join(f"{outcomes[name] / comparisons:.3f}" for name in OUTCOMES[:4])
        typer.echo(f"| {share * margin:.2f} | {shares} | {seeds:.1f} |")


if __name__ == "__main__":
    typer.run(main)
