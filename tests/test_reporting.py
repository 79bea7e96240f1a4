"""The report's words for the cases a reader meets: a clear winner, a tie, a model that did not learn; and its
attention pictures."""

import numpy as np
import pandas as pd

from pipeline import figures
from pipeline.figures import plot_review_attention, plot_token_attention
from pipeline.metrics import accuracy_interval
from pipeline.params import model_names
from pipeline.reporting import render_report, verdict, verdict_line
from tests.conftest import typed_small_params

TEST_REVIEWS = 1000
XEON = {"device": "cpu", "processor": "Intel(R) Xeon(R) Processor", "kernels": "AVX512", "threads": 2,
        "precision": "bf16"}
EPYC = {"device": "cpu", "processor": "AMD EPYC", "kernels": "AVX2", "threads": 1, "precision": "fp32"}


def scores(correct: int, params: int = 1000, seconds: float = 10.0) -> dict:
    low, high = accuracy_interval(correct, TEST_REVIEWS)
    half = TEST_REVIEWS // 2
    true_positives = min(correct, half)
    return {"accuracy": correct / TEST_REVIEWS, "accuracy_ci_low": low, "accuracy_ci_high": high, "f1": 0.5,
            "roc_auc": 0.5, "params": params, "train_seconds": seconds, "test_samples": TEST_REVIEWS,
            "true_positives": true_positives, "false_negatives": half - true_positives, "epochs": 3,
            "best_epoch": 3, "val_loss": 0.3}


def architecture(correct: list[int], params: int, seconds: float, hop_overlap: float = 0.9) -> dict:
    """metrics.json's entry for one architecture whose seeds 42, 43, ... got `correct` test reviews right, their hops
    overlapping by `hop_overlap` (lowest and highest 0.05 either side)."""
    seeds = {str(42 + number): scores(right, params, seconds) | {"compute": XEON}
             for number, right in enumerate(correct)}
    accuracies = np.array(correct) / TEST_REVIEWS
    summary = {"mean": accuracies.mean(), "std": accuracies.std(ddof=1) if len(correct) > 1 else 0.0,
               "min": accuracies.min(), "max": accuracies.max()}
    overlaps = {"mean": hop_overlap, "std": 0.05, "min": hop_overlap - 0.05, "max": hop_overlap + 0.05}
    return ({statistic: {"accuracy": value, "f1": 0.5, "roc_auc": 0.5, "hop_overlap": overlaps[statistic]}
             for statistic, value in summary.items()}
            | {"ensemble": scores(round(np.mean(correct))), "seeds": seeds, "params": params,
               "params_by_part": {"embedding": params - 10, "rnn": 6, "attention": 3, "classifier": 1},
               "vocab_size": 500, "train_samples": 900, "val_samples": 100, "test_samples": TEST_REVIEWS,
               "representative_seed": 43 if len(correct) > 1 else 42, "train_seconds": seconds,
               "train_seconds_total": seconds * len(correct), "throughput": 100.0})


def metrics(self_correct: list[int], mha_correct: list[int], comparison: dict, p_value: float = 0.5) -> dict:
    paired = {"only_self_right": 60, "only_mha_right": 30, "mcnemar_p_value": p_value}
    return {"self": architecture(self_correct, 1200, 20.0, 0.9), "mha": architecture(mha_correct, 1000, 10.0, 0.3),
            "baseline": scores(900) | {"features": 999},
            "comparison": {"seeds": min(len(self_correct), len(mha_correct))} | comparison,
            "self_vs_mha": {str(42 + n): paired for n in range(len(self_correct))} | {"ensemble": paired}}


def comparison(outcome: str, difference: float, low: float | None, high: float | None, winner: str | None = None,
               seeds_needed: int | None = None, decidable: bool = True,
               probabilities: tuple[float, float, float] = (0.2, 0.7, 0.1)) -> dict:
    """metrics.json's verdict, as comparison.compare_architectures writes it, margin 0.5 points."""
    above, inside, below = probabilities if low is not None else (None, None, None)
    return {"compared": ["self", "mha"], "outcome": outcome, "winner": winner, "difference": difference,
            "ci_low": low, "ci_high": high, "margin": 0.005, "p_self_better": above, "p_equivalent": inside,
            "p_mha_better": below, "max_seeds": 20,
            "seeds_needed": seeds_needed, "decidable": decidable, "lasting_test_variance": 4e-6}


def resolved(winner: str, difference: float, low: float, high: float) -> dict:
    return comparison("better_beyond_margin", difference, low, high, winner, probabilities=(0.99, 0.01, 0.0))


def unresolved(difference: float, low: float, high: float, seeds_needed: int | None) -> dict:
    return comparison("not_resolved", difference, low, high, seeds_needed=seeds_needed)


SINGLE_SEED = comparison("one_seed", 0.03, None, None, decidable=True)
NAMES = model_names(typed_small_params())


def test_a_gap_beyond_the_margin_names_the_winner_with_its_interval_probabilities_and_cost():
    text = " ".join(verdict(metrics([880, 885, 890], [850, 851, 852], resolved("self", 0.034, 0.02, 0.048)), NAMES))
    assert "**Self-attention is better by more than the 0.50-point margin over 3 seeds.**" in text
    assert "Mean test accuracy 88.50% (self-attention) against 85.10% (multi-head attention) over 3 seeds each" in text
    assert "+3.40 points, 95% interval [+2.00, +4.80] at this look (3 of at most 20 seeds per architecture)" in text
    assert f"{NAMES['self']} is better, and by more than 0.50 points" in text
    assert "P(self-attention better by more than 0.50) = 0.99, P(equivalent) = 0.01" in text
    assert "1.20x the parameters" in text and "2.00x its training time per seed" in text
    assert "Welch" in text and "repeated confidence interval" in text and "Pocock-type" in text
    assert "Benavoli" in text and "did not learn" not in text and "McNemar" not in text
    assert "pipeline.decide" in text and "seeds per architecture would decide" not in text
    line = verdict_line(metrics([880, 870], [850, 840], resolved("mha", -0.03, -0.05, -0.01))["comparison"], NAMES)
    assert line.startswith("Multi-head attention is better by more than the 0.50-point margin over 2 seeds: "
                           "Self-attention minus Multi-head attention -3.00 points [-5.00, -1.00]; P(")


def test_a_sign_resolved_within_the_margin_and_an_equivalence_say_what_they_decide():
    within = comparison("better", 0.004, 0.001, 0.007, "self")
    text = " ".join(verdict(metrics([880, 885, 890], [876, 881, 886], within), NAMES))
    assert "**Self-attention is better over 3 seeds, perhaps by less than the 0.50-point margin.**" in text
    assert "though perhaps by less than 0.50 points, a difference that would not matter" in text
    same = comparison("equivalent", 0.001, -0.002, 0.004, probabilities=(0.0, 0.99, 0.01))
    text = " ".join(verdict(metrics([880, 885, 890], [879, 884, 889], same), NAMES))
    assert "**Practically equivalent over 3 seeds (within +-0.50 points).**" in text
    assert "for practical purposes the two architectures are equally accurate" in text
    assert f"{NAMES['self']} is better" not in text and f"{NAMES['mha']} is better" not in text


def test_an_open_question_says_how_many_seeds_how_long_and_which_command_would_decide_it():
    text = " ".join(verdict(metrics([880, 890, 870], [875, 880, 870], unresolved(0.005, -0.01, 0.02, 14)), NAMES))
    assert "**Not resolved with 3 seeds.**" in text and "is better" not in text
    assert "+0.50 points, 95% interval [-1.00, +2.00]" in text and "holds zero and reaches past the margin" in text
    assert "about 14 seeds per architecture would decide it: 11 more of each, about 6 minutes of training" in text
    assert "`python -m pipeline.decide` adds seeds in rounds" in text
    beyond = " ".join(verdict(metrics([880, 881], [879, 880], unresolved(0.001, -0.02, 0.022, None)), NAMES))
    assert "even 20 seeds per architecture are not expected to decide it" in beyond
    stuck = comparison("not_resolved", 0.0035, -0.002, 0.009, decidable=False)
    hopeless = " ".join(verdict(metrics([880, 881], [879, 880], stuck), NAMES))
    assert "**More seeds cannot decide it.**" in hopeless and "standard error 0.20 points" in hopeless
    assert "only a larger test set, or a wider `compare.margin`, could" in hopeless
    assert verdict_line(metrics([880, 890], [875, 880], unresolved(0.0075, -0.01, 0.025, 9))["comparison"], NAMES) \
        == ("Not resolved with 2 seeds: Self-attention minus Multi-head attention +0.75 points [-1.00, +2.50]; "
            "P(self-attention better by more than 0.50) = 0.20, P(equivalent) = 0.70, "
            "P(multi-head attention better by more than 0.50) = 0.10")


def test_a_single_seed_compares_two_trained_models_with_mcnemar_not_the_architectures():
    paragraphs = verdict(metrics([880], [850], SINGLE_SEED, p_value=0.002), NAMES)
    assert paragraphs[0].startswith("**One seed per model (`train.seeds` = [42]): this compares two trained models, "
                                    "not the two architectures.**")
    assert paragraphs[1].startswith("**These two trained models differ**")
    assert "60 by self-attention, 30 by multi-head attention" in paragraphs[1] and "p = 0.002" in paragraphs[1]
    tie = " ".join(verdict(metrics([880], [875], SINGLE_SEED, p_value=0.64), NAMES))
    assert "**No significant difference between these two trained models**" in tie and "is better" not in tie
    assert verdict_line(metrics([880], [850], SINGLE_SEED)["comparison"], NAMES).startswith(
        "One seed per model: this compares two trained models, not the architectures")


def test_a_seed_at_chance_is_reported_as_not_learning_before_the_comparison():
    paragraphs = verdict(metrics([870, 872, 874], [510, 860, 865], unresolved(0.17, -0.5, 0.8, None)), NAMES)
    assert paragraphs[0].startswith(f"**{NAMES['mha']} did not learn with seed 42**")
    assert "50.00%" in paragraphs[0] and NAMES["self"] not in paragraphs[0]
    assert "TF-IDF" in paragraphs[-1] and "2.80 points above" in paragraphs[-1]


def test_the_report_renders_every_section_without_attention_examples():
    by_length = pd.DataFrame({"band": ["1-15 tokens", "64+ tokens (cut in training)"], "min_tokens": [1, 64],
                              "reviews": [3, 1], "accuracy_self": [1.0, 0.0], "accuracy_mha": [0.5, 1.0],
                              "accuracy_baseline": [1.0, 1.0]})
    seed_runs = {kind: {seed: {"run_id": f"{kind}-{seed}-run", "experiment_id": "7"} for seed in ("42", "43")}
                 for kind in ("self", "mha")}
    recorded = {"experiment_id": "7", "comparison_run_id": "comparison-run",
                "registered": {kind: {"name": f"attention-classifier-{kind}", "version": "3", "seed": 43}
                               for kind in ("self", "mha")}}
    figures = {"seeds": "figures/s.png", "curves": "figures/c.png", "roc": "figures/r.png", "lengths": "figures/l.png",
               "attention": []}
    scored = metrics([880, 885], [850, 852], resolved("self", 0.0315, 0.01, 0.05))
    scored["mha"]["seeds"]["43"]["compute"] = EPYC
    arguments = (typed_small_params(**{"train.seeds": [42, 43]}), scored, by_length, [], seed_runs, {"run_id": "baseline-run"}, recorded,
                 "abc123")
    report = render_report(*arguments, "exp-1", figures, "sqlite:///mlflow.db", [], [])
    for heading in ["## Verdict", "## Results on the test split", "## Every seed", "## Parameters by part",
                    "## How the two models differ", "## Learning curves", "## Accuracy by review length",
                    "## Do the hops read different words?", "## What the models attend to", "## What was run",
                    "## MLflow"]:
        assert heading in report
    assert f"| {NAMES['self']} | 0.900 | 0.850 - 0.950 |" in report
    assert f"| {NAMES['mha']} | 0.300 | 0.250 - 0.350 |" in report
    assert "with Lin et al.'s penalty on overlapping hops weighed 0.01 (`model.hop_penalty`)" in report
    assert "| RNN | bidirectional LSTM, 2 x 16 units (`model.rnn`) | one-directional LSTM, 16 units" in report
    assert "`dvc exp run -S model.mha_bidirectional=true` gives the multi-head model" in report
    assert "| 64+ tokens (cut in training) | 1 | 0.00% | 100.00% | 100.00% |" in report
    assert "_No test reviews to show._" in report
    assert "| Self-attention | **43** | 88.50% [" in report and "| Multi-head attention | 42 | 85.00% [" in report
    assert "| seed 42 of each | 60 | 30 | 0.5 |" in report and "| seed ensembles | 60 | 30 | 0.5 |" in report
    assert "[seed 42](http://127.0.0.1:5000/#/experiments/7/runs/self-42-run?workflowType=machine_learning)" in report
    assert "[comparison run `comparison-run`](http://127.0.0.1:5000/#/experiments/7/runs/comparison-run?" in report
    assert "[`attention-comparison`](http://127.0.0.1:5000/#/experiments/7?workflowType=machine_learning)" in report
    assert "registered as `models:/attention-classifier-self/3` (seed 43, the lowest validation loss)" in report
    assert "DVC experiment `exp-1`" in report and "seeds 42, 43 (each seed sets" in report
    on_a_server = render_report(*arguments, None, figures, "https://mlflow.example/", [], [])
    assert "(https://mlflow.example/#/experiments/7/runs/mha-43-run?workflowType=machine_learning)" in on_a_server
    assert "mlflow ui" not in on_a_server
    assert "| RNN | 6 | 6 | +0 |" in report
    assert "| 88.25% (0.35) | 88.00% - 88.50% |" in report
    assert ("Times measured on Intel(R) Xeon(R) Processor (cpu, AVX512 kernels, 2 threads, bf16); AMD EPYC (cpu, "
            "AVX2 kernels, 1 thread, fp32).") in report


def test_attention_picture_draws_dollar_signs_as_text_not_math(tmp_path):
    tokens = ["it", "cost", "$", "{", "$", "and", "was", "worth", "it"]  # as mathtext "$ { $" fails to parse
    weights = np.full(len(tokens), 1 / len(tokens))
    plot_token_attention("a review", tokens, [("hop 1", weights), ("hop 2", weights)], tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_review_picture_shows_both_models_pooling_one_after_the_other_then_the_heads(tmp_path, monkeypatch):
    drawn = []

    def record(title, tokens, panels, path):
        drawn.extend(panel_title for panel_title, _ in panels)
        plot_token_attention(title, tokens, panels, path)

    monkeypatch.setattr(figures, "plot_token_attention", record)
    example = {"case": "a short review", "index": 3, "label": 1, "tokens": ["good", "film"],
               "probabilities": {"self": 0.9, "mha": 0.4}, "seeds": {"self": 43, "mha": 42},
               "weights": {"self": {"pooling": [[0.5, 0.5], [0.9, 0.1]]},
                           "mha": {"attention": [[0.2, 0.8], [0.5, 0.5]], "pooling": [[1.0, 0.0]]}}}
    plot_review_attention(example, {"self": "Self", "mha": "MHA"}, tmp_path / "a.png")
    assert drawn == [
        "Self, seed 43: p(positive) 0.90, right; self-attentive pooling, mean of the 2 hops", "hop 1", "hop 2",
        "MHA, seed 42: p(positive) 0.40, wrong; self-attentive pooling",
        "MHA, seed 42: p(positive) 0.40, wrong; multi-head attention, mean of the 2 heads", "head 1", "head 2",
    ]
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_the_report_follows_the_hop_penalty_the_shared_encoder_and_a_single_hop():
    scored = metrics([880, 885], [850, 852], resolved("self", 0.0315, 0.01, 0.05))
    scored["mha"]["seeds"]["43"]["compute"] = EPYC
    arguments = (pd.DataFrame(columns=["band", "reviews"]), [], {k: {} for k in ("self", "mha")}, {"run_id": "b"},
                 {"experiment_id": "7", "comparison_run_id": "c",
                  "registered": {k: {"name": k, "version": "1", "seed": 42} for k in ("self", "mha")}}, "abc123", None,
                 {"seeds": "s", "curves": "c", "roc": "r", "lengths": "l", "attention": []}, "sqlite:///mlflow.db",
                 [], [])
    shared = typed_small_params(**{"model.mha_bidirectional": True, "model.hop_penalty": 0.5, "model.heads": 4})
    report = render_report(shared, scored, *arguments)
    assert "| RNN | bidirectional LSTM, 2 x 16 units (`model.rnn`) | same (`model.mha_bidirectional` true) |" in report
    assert "4 heads x 8 dims" in report
    assert "read with the same encoder, so the verdict compares their attention" in report
    assert "Multi-head attention (BiLSTM + 4 heads" in report
    assert "with Lin et al.'s penalty on overlapping hops weighed 0.5 (`model.hop_penalty`)" in report
    assert "Lin et al.'s hop penalty x 0.5" in report
    without = render_report(typed_small_params(**{"model.hop_penalty": 0.0}), scored, *arguments)
    assert "without Lin et al.'s penalty on overlapping hops (`model.hop_penalty` = 0;" in without
    assert "no hop penalty (`model.hop_penalty` 0)" in without
    one_hop = render_report(typed_small_params(**{"model.hops": 1}), scored, *arguments)
    assert "One hop (`model.hops` = 1): there is no second hop to compare it with." in one_hop
