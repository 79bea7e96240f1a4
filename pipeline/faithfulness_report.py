"""Faithfulness over seeds: is each architecture's attention a better guide to its decisions than random tokens and
than input x gradient, and whose attention is more faithful? With the accuracy verdict's interval and rule.

The faithfulness stages leave, per model and seed, every sampled review's measures (pipeline/erasure.py). Each gap
is a per-review difference in AOPC comprehensiveness, e.g. attention minus random, so it goes through
`comparison.compare_per_review` as accuracy does: its interval adds the spread over seeds to the noise of the sampled
reviews, and it is read against `faithfulness.margin`. Within an architecture, attention and the ranking it is read
against measure the same models, so the gap is taken seed by seed; the two architectures' gaps come from different
models and are compared as the architectures' accuracies are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.comparison import compare_per_review, over_seeds
from pipeline.errors import PipelineError
from pipeline.files import read_output
from pipeline.params import MODEL_KINDS, Params, faithfulness_stage, model_dir, model_names
from pipeline.reporting import in_sentence, short_name
from pipeline.trained import FLIP_TOKENS, RANKINGS, Faithfulness

GAPS = {"random": "attention_vs_random", "gradient": "attention_vs_gradient"}
COMBINED = ("The attention ranking is each model's self-attentive pooling weights summed over its hops: those are the "
            "weights of the vector the classifier reads. The multi-head model's heads are not part of it; they mix "
            "the LSTM states before the pooling and weigh no token for the classifier by themselves.")


def read_faithfulness(models: Path, kind: str, seeds: list[int]) -> dict[int, Faithfulness]:
    """Each seed's measures, as its faithfulness stage left them."""
    return {seed: read_output(model_dir(models, kind, seed) / "faithfulness.npz", faithfulness_stage(kind, seed),
                              Faithfulness.load) for seed in seeds}


def comprehensiveness(measured: dict[int, Faithfulness], ranking: str) -> np.ndarray:
    """(seeds x reviews): each review's AOPC comprehensiveness under a ranking."""
    return np.array([seed.aopc(ranking, "comprehensiveness") for seed in measured.values()])


def faithfulness_results(measured: dict[str, dict[int, Faithfulness]], margin: float, max_seeds: int) -> dict:
    """metrics.json's "faithfulness": per architecture each seed's means, their spread, and the gaps of attention
    over random and gradient; then whose gaps are larger."""
    samples = {tuple(seed.rows) for seeds in measured.values() for seed in seeds.values()}
    if len(samples) > 1:
        raise PipelineError("the faithfulness stages measured different samples of test reviews: run `dvc repro`")
    results = {}
    gaps = {}
    for kind, seeds in measured.items():
        summaries = {str(seed): measures.summary() for seed, measures in seeds.items()}
        per_seed = list(summaries.values())
        results[kind] = over_seeds(per_seed, list(per_seed[0])) | {"seeds": summaries}
        attention = comprehensiveness(seeds, "attention")
        for other, name in GAPS.items():
            gaps[(kind, other)] = attention - comprehensiveness(seeds, other)
            # one model measured two ways: the gap is paired by seed, so each seed's gap is read against none at all
            results[kind][name] = compare_per_review({"attention": gaps[(kind, other)],
                                                      other: np.zeros_like(attention)}, margin, max_seeds)
    results["self_vs_mha"] = {name: compare_per_review({kind: gaps[(kind, other)] for kind in MODEL_KINDS}, margin,
                                                       max_seeds) for other, name in GAPS.items()}
    results["reviews"] = len(next(iter(samples)))
    return results


def faithfulness_metrics(results: dict) -> dict[str, float]:
    """The comparison run's faithfulness metrics: means over seeds and every gap with its interval."""
    metrics = {f"faithfulness_{kind}_{key}": value for kind in MODEL_KINDS
               for key, value in results[kind]["mean"].items()}
    verdicts = {f"{kind}_{name}": results[kind][name] for kind in MODEL_KINDS for name in GAPS.values()}
    verdicts |= {f"self_vs_mha_{name}": verdict for name, verdict in results["self_vs_mha"].items()}
    for name, verdict in verdicts.items():
        metrics[f"faithfulness_{name}"] = verdict["difference"]
        if verdict["ci_low"] is not None:
            metrics |= {f"faithfulness_{name}_{end}": verdict[end] for end in ("ci_low", "ci_high")}
    return metrics


def curves(measured: dict[int, Faithfulness]) -> pd.DataFrame:
    """Per fraction of tokens erased, the mean drop in the predicted class's probability under each ranking: its
    mean, lowest and highest over seeds (a DVC plot and the report's picture)."""
    fractions = next(iter(measured.values())).fractions
    table = {"fraction": fractions}
    for ranking in RANKINGS:
        per_seed = np.array([seed.measures[ranking].comprehensiveness.mean(axis=0) for seed in measured.values()])
        table |= {f"{ranking}": per_seed.mean(axis=0), f"{ranking}_min": per_seed.min(axis=0),
                  f"{ranking}_max": per_seed.max(axis=0)}
    return pd.DataFrame(table)


def gap_text(verdict: dict, names: dict[str, str]) -> str:
    """A gap's verdict in words: the difference, its interval, and the outcome against the margin."""
    first, second = (names.get(side, side) for side in verdict["compared"])
    difference = f"{verdict['difference']:+.3f}"
    if verdict["ci_low"] is None:
        return f"{first} minus {second} {difference} (one seed: no interval)"
    winner = verdict["winner"] and names.get(verdict["winner"], verdict["winner"])
    margin = f"{verdict['margin']:.3f}"
    decided = {"better_beyond_margin": f"{winner} better by more than the {margin} margin",
               "better": f"{winner} better, perhaps by less than the {margin} margin",
               "equivalent": f"practically equivalent (within +-{margin})",
               "not_resolved": "not resolved"}[verdict["outcome"]]
    return (f"{first} minus {second} {difference} [{verdict['ci_low']:+.3f}, {verdict['ci_high']:+.3f}]: {decided}, "
            f"P(equivalent) = {verdict['p_equivalent']:.2f}")


def reading(results: dict) -> str:
    """What the gaps mean for reading an architecture's attention pictures."""
    if results["attention_vs_random"]["winner"] != "attention":
        return ("its most attended tokens are not shown to matter to its decision more than random ones: read its "
                "pictures as where it looks, not as why it decides")
    against_gradient = results["attention_vs_gradient"]
    if against_gradient["winner"] == "gradient":
        return ("its decision rests on its most attended tokens more than on random ones, but less than on the "
                "gradient's: its pictures point at words that matter, not at all of those that matter most")
    if against_gradient["winner"] == "attention" or against_gradient["outcome"] == "equivalent":
        return "its decision rests on its most attended tokens as much as on the gradient's top tokens, or more"
    return ("its decision rests on its most attended tokens more than on random ones; whether as much as on the "
            "gradient's top tokens is not resolved")


def faithfulness_section(results: dict, params: Params, figure: str) -> list[str]:
    """The report's section: the table, the picture, the gaps' verdicts and what they mean for the pictures above."""
    names = {kind: short_name(model_names(params), kind) for kind in MODEL_KINDS}
    fractions = ", ".join(f"{100 * fraction:g}%" for fraction in params.faithfulness.fractions)
    lines = [
        f"Each model's {results['reviews']} sampled test reviews (class-balanced, the same for every model and seed), "
        f"their top {fractions} of tokens under three rankings erased (comprehensiveness: the drop in the "
        f"predicted class's probability, higher = the ranking found what the decision rests on) or kept alone "
        f"(sufficiency: the drop, lower = those tokens suffice), averaged over the shares (AOPC; DeYoung et al. "
        f"2020), and the share of decisions flipped by erasing the top {' and top '.join(map(str, FLIP_TOKENS))} "
        f"tokens. Random: {params.faithfulness.random_draws} random orders per review, averaged. Means over seeds.",
        "",
        "| model | ranking | comprehensiveness | sufficiency | "
        + " | ".join(f"flipped, top {tokens} erased" for tokens in FLIP_TOKENS) + " |",
        "|---|---|---:|---:|" + "---:|" * len(FLIP_TOKENS),
    ]
    for kind in MODEL_KINDS:
        mean = results[kind]["mean"]
        for ranking in RANKINGS:
            flips = " | ".join(f"{100 * mean[f'{ranking}_flip_top{tokens}']:.1f}%" for tokens in FLIP_TOKENS)
            lines.append(f"| {names[kind]} | {ranking} | {mean[f'{ranking}_comprehensiveness']:.3f} | "
                         f"{mean[f'{ranking}_sufficiency']:.3f} | {flips} |")
    lines += ["", f"![Probability drop as the top tokens are erased]({figure})", "", COMBINED, ""]
    for kind in MODEL_KINDS:
        verdicts = "; ".join(gap_text(results[kind][name], {"attention": "attention"}) for name in GAPS.values())
        lines.append(f"- {names[kind]}, AOPC comprehensiveness: {verdicts}. Kendall tau between its attention and "
                     f"gradient rankings: {results[kind]['mean']['kendall_tau']:.2f} (mean over reviews and seeds).")
    lines.append("- Whose attention is more faithful (the gaps compared): " + "; ".join(
        f"gap to {other}: {gap_text(results['self_vs_mha'][name], names)}" for other, name in GAPS.items()) + ".")
    lines += ["", "For the pictures above: " + "; ".join(
        f"{in_sentence(names[kind])}: {reading(results[kind])}" for kind in MODEL_KINDS) + ".", ""]
    return lines
