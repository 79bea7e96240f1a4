"""The report's words for the cases a reader meets: a clear winner, a tie, a model that did not learn; and its
attention pictures."""

import numpy as np
import pandas as pd

from pipeline import figures
from pipeline.figures import plot_review_attention, plot_token_attention
from pipeline.metrics import accuracy_interval
from pipeline.params import model_names
from pipeline.reporting import render_report, verdict
from tests.conftest import typed_small_params

TEST_REVIEWS = 1000


def scores(correct: int, params: int = 1000, seconds: float = 10.0) -> dict:
    low, high = accuracy_interval(correct, TEST_REVIEWS)
    half = TEST_REVIEWS // 2
    true_positives = min(correct, half)
    return {"accuracy": correct / TEST_REVIEWS, "accuracy_ci_low": low, "accuracy_ci_high": high, "f1": 0.5,
            "roc_auc": 0.5, "params": params, "train_seconds": seconds, "test_samples": TEST_REVIEWS,
            "true_positives": true_positives, "false_negatives": half - true_positives,
            "vocab_size": 500, "train_samples": 900, "val_samples": 100, "throughput": 100.0, "epochs": 3,
            "best_epoch": 3,
            "params_by_part": {"embedding": params - 10, "rnn": 6, "attention": 3, "classifier": 1}}


def metrics(self_correct: int, mha_correct: int, only_self: int, only_mha: int, p_value: float) -> dict:
    return {"self": scores(self_correct, 1200, 20.0), "mha": scores(mha_correct, 1000, 10.0),
            "baseline": scores(900) | {"features": 999},
            "self_vs_mha": {"only_self_right": only_self, "only_mha_right": only_mha, "mcnemar_p_value": p_value}}


NAMES = model_names(typed_small_params())


def test_a_significant_gap_names_the_winner_with_size_and_time_ratios():
    text = " ".join(verdict(metrics(880, 850, 60, 30, 0.002), NAMES))
    assert f"**{NAMES['self']} is better**" in text and "3.00 points" in text
    assert "1.20x the parameters" in text and "2.00x its training time" in text
    assert "60 by self-attention, 30 by multi-head attention" in text and "p = 0.002" in text
    assert "did not learn" not in text


def test_an_insignificant_gap_is_called_a_tie_even_when_one_model_is_ahead():
    text = " ".join(verdict(metrics(880, 875, 40, 35, 0.64), NAMES))
    assert "**No significant difference**" in text and "call it a tie" in text and "is better" not in text


def test_a_model_at_chance_is_reported_as_not_learning_before_the_comparison():
    paragraphs = verdict(metrics(870, 510, 400, 40, 1e-60), NAMES)
    assert paragraphs[0].startswith(f"**{NAMES['mha']} did not learn**")
    assert "50.00%" in paragraphs[0] and NAMES["self"] not in paragraphs[0]
    assert "TF-IDF" in paragraphs[-1] and "3.00 points above" in paragraphs[-1]


def test_the_report_renders_every_section_without_attention_examples():
    by_length = pd.DataFrame({"band": ["1-15 tokens", "64+ tokens (cut in training)"], "min_tokens": [1, 64],
                              "reviews": [3, 1], "accuracy_self": [1.0, 0.0], "accuracy_mha": [0.5, 1.0],
                              "accuracy_baseline": [1.0, 1.0]})
    runs = {name: {"run_id": f"{name}-run", "experiment_id": "7"} for name in ("self", "mha", "baseline")}
    runs["self"] |= {"registered_model": "attention-classifier-self", "registered_version": 3}
    figures = {"curves": "figures/c.png", "roc": "figures/r.png", "lengths": "figures/l.png", "attention": []}
    report = render_report(typed_small_params(), metrics(880, 850, 60, 30, 0.002), by_length, [], runs, "abc123",
                           "exp-1", figures, "sqlite:///mlflow.db")
    for heading in ["## Verdict", "## Results on the test split", "## Parameters by part",
                    "## How the two models differ", "## Learning curves", "## Accuracy by review length",
                    "## What the models attend to", "## What was run", "## MLflow"]:
        assert heading in report
    assert "| 64+ tokens (cut in training) | 1 | 0.00% | 100.00% | 100.00% |" in report
    assert "_No test reviews to show._" in report
    assert "[run `self-run`](http://127.0.0.1:5000/#/experiments/7/runs/self-run?workflowType=machine_learning)" in report
    assert "[`attention-comparison`](http://127.0.0.1:5000/#/experiments/7?workflowType=machine_learning)" in report
    assert "DVC experiment `exp-1`" in report
    on_a_server = render_report(typed_small_params(), metrics(880, 850, 60, 30, 0.002), by_length, [], runs, "abc123",
                                None, figures, "https://mlflow.example/")
    assert "(https://mlflow.example/#/experiments/7/runs/mha-run?workflowType=machine_learning)" in on_a_server
    assert "mlflow ui" not in on_a_server
    assert "model `models:/attention-classifier-self/3`" in report
    assert "| RNN | 6 | 6 | +0 |" in report


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
               "probabilities": {"self": 0.9, "mha": 0.4},
               "weights": {"self": {"pooling": [[0.5, 0.5], [0.9, 0.1]]},
                           "mha": {"attention": [[0.2, 0.8], [0.5, 0.5]], "pooling": [[1.0, 0.0]]}}}
    plot_review_attention(example, {"self": "Self", "mha": "MHA"}, tmp_path / "a.png")
    assert drawn == [
        "Self: p(positive) 0.90, right; self-attentive pooling, mean of the 2 hops", "hop 1", "hop 2",
        "MHA: p(positive) 0.40, wrong; self-attentive pooling",
        "MHA: p(positive) 0.40, wrong; multi-head attention, mean of the 2 heads", "head 1", "head 2",
    ]
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
