"""End to end: real `dvc` commands in a temporary git repository, runs recorded in a real MLflow store."""

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient

from pipeline.classifier import ReviewClassifier
from pipeline.compute import processor_name
from pipeline.datasets import read_table
from pipeline.erasure import attention_scores, balanced_sample, gradient_scores, positive_probabilities
from pipeline.models import load_checkpoint
from pipeline.params import load_params
from pipeline.parallel import threads_per_job, usable_cores
from pipeline.synthetic import NEGATIONS
from pipeline.text import EncodedSplit
from tests.conftest import (
    ROOT,
    SHARED_IMDB,
    SHARED_IMDB_MD5,
    free_port,
    invoke,
    make_dvc_repo,
    run,
    small_params,
    tools_env,
    trained_in_process,
    write_params,
)

SEEDS = [42, 43]
TRAINING = [f"train_{kind}@{seed}" for kind in ("self", "mha") for seed in SEEDS]
FAITHFULNESS = [f"faithfulness_{kind}@{seed}" for kind in ("self", "mha") for seed in SEEDS]
STAGES = ["download", "tokenize", *TRAINING, "baseline", *FAITHFULNESS, "evaluate", "report"]


def stages_run(dvc_output: str) -> list[str]:
    return re.findall(r"Running stage '([\w@]+)'", dvc_output)


def mlflow_runs(repo) -> list[dict]:
    """Runs in the checkout's mlflow.db, read with plain SQL so the test trusts no pipeline code."""
    with sqlite3.connect(repo / "mlflow.db") as db:
        rows = db.execute("SELECT run_uuid, name, status FROM runs ORDER BY start_time").fetchall()
        runs = []
        for run_id, name, status in rows:
            tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid=?", (run_id,)).fetchall())
            params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid=?", (run_id,)).fetchall())
            metrics = dict(db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid=?", (run_id,)).fetchall())
            steps = dict(db.execute("SELECT key, COUNT(*) FROM metrics WHERE run_uuid=? GROUP BY key",
                                    (run_id,)).fetchall())
            runs.append(dict(id=run_id, name=name, status=status, tags=tags, params=params, metrics=metrics,
                             steps=steps))
        return runs


def read_json(repo, path: str) -> dict:
    return json.loads((repo / path).read_text())


def started_side_by_side(output: str) -> list[tuple[str, str]]:
    """(stage, threads) of each stage `python -m pipeline.repro` (or decide) ran side by side, as they started."""
    return re.findall(r"^([\w@]+): started \((\d+) threads?", output, re.MULTILINE)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository where `python -m pipeline.repro` has run the whole pipeline, two seeds per model, on a small
    synthetic corpus: DVC ran every stage, the trainings and the baseline one per core, on one thread each."""
    path = make_dvc_repo(tmp_path_factory.mktemp("project"), small_params(**{"train.seeds": SEEDS}))
    result = run([sys.executable, "-m", "pipeline.repro"], path)
    assert stages_run(result.stdout) == ["download", "tokenize", "evaluate", "report"]
    side_by_side = [*TRAINING, "baseline", *FAITHFULNESS]  # the trainings and the baseline, then the measures
    assert started_side_by_side(result.stdout)[-len(FAITHFULNESS):] == [(stage, "1") for stage in FAITHFULNESS]
    assert sorted(started_side_by_side(result.stdout)) == sorted((stage, "1") for stage in side_by_side)
    logs = {stage: (path / ".dvc/tmp/side-by-side" / f"{stage}.log").read_text() for stage in side_by_side}
    assert all(f"Running stage '{stage}'" in log for stage, log in logs.items())
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "first results"], path)
    return path


def test_repro_writes_every_output_and_a_complete_lock(repo):
    per_seed = [f"models/{kind}/seed-{seed}/{name}" for kind in ("self", "mha") for seed in SEEDS
                for name in ("model.pt", "history.csv", "train_metrics.json", "mlflow_run.json", "test_scores.npz",
                             "faithfulness.npz", "faithfulness.json")]
    for output in [*per_seed, "data/raw/reviews.parquet", "data/processed/vocab.json", "data/processed/test.npz",
                   "models/baseline/test_probabilities.npy", "reports/metrics.json", "reports/report.md",
                   "reports/mlflow.json", "reports/test_predictions.csv", "reports/attention.json",
                   "reports/figures/seed_accuracy.png", "reports/figures/learning_curves.png",
                   "reports/figures/roc.png", "reports/figures/accuracy_by_length.png",
                   "reports/plots/roc_self.csv", "reports/plots/roc_baseline.csv", "reports/plots/confusion_mha.csv",
                   "reports/plots/accuracy_by_length.csv", "reports/plots/history_self.csv",
                   "reports/plots/faithfulness_mha.csv", "reports/figures/faithfulness.png"]:
        assert (repo / output).is_file(), output
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(STAGES)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo).stdout


def test_metrics_hold_every_seed_their_spread_the_ensembles_and_the_comparison(repo):
    metrics, timings = read_json(repo, "reports/metrics.json"), read_json(repo, "reports/timings.json")
    predictions = pd.read_csv(repo / "reports/test_predictions.csv")
    assert sorted(metrics) == ["baseline", "comparison", "faithfulness", "mha", "self", "self_vs_mha"]
    right = {column: (predictions[column] >= 0.5) == predictions["label"] for column in predictions.columns[3:]}
    vocab = read_json(repo, "data/processed/vocab.json")["tokens"]
    for kind in ["self", "mha"]:
        values = metrics[kind]
        assert list(values["seeds"]) == ["42", "43"] and list(timings[kind]["seeds"]) == ["42", "43"]
        accuracies = []
        for seed, scores in values["seeds"].items():
            for key in ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "f1", "roc_auc", "precision", "recall",
                        "epochs", "best_epoch", "val_loss"]:
                assert key in scores, (kind, seed, key)
            assert scores["accuracy"] == pytest.approx(right[f"{kind}_seed{seed}"].mean())
            assert 0 <= scores["hop_overlap"] <= 1
            assert timings[kind]["seeds"][seed]["train_seconds"] > 0 and timings[kind]["seeds"][seed]["throughput"] > 0
            assert timings[kind]["seeds"][seed]["compute"] == {
                "device": "cpu", "processor": processor_name(), "kernels": torch.backends.cpu.get_cpu_capability(),
                "threads": 1, "precision": "fp32"}  # side by side, one thread each
            accuracies.append(scores["accuracy"])
        assert values["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
        overlaps = [scores["hop_overlap"] for scores in values["seeds"].values()]
        assert values["mean"]["hop_overlap"] == pytest.approx(np.mean(overlaps))
        assert values["std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
        assert (values["min"]["accuracy"], values["max"]["accuracy"]) == (min(accuracies), max(accuracies))
        ensemble = (predictions[f"{kind}_seed42"] + predictions[f"{kind}_seed43"]) / 2
        assert predictions[f"{kind}_ensemble"].to_numpy() == pytest.approx(ensemble.to_numpy())
        assert values["ensemble"]["accuracy"] == pytest.approx(right[f"{kind}_ensemble"].mean())
        val_losses = {seed: read_json(repo, f"models/{kind}/seed-{seed}/train_metrics.json")["val_loss"]
                      for seed in SEEDS}
        assert values["representative_seed"] == min(val_losses, key=val_losses.get)
        assert timings[kind]["train_seconds_total"] == pytest.approx(
            sum(t["train_seconds"] for t in timings[kind]["seeds"].values()), abs=0.01)
        assert values["vocab_size"] == len(vocab) <= 400 and values["params"] > 0
        assert sum(values["params_by_part"].values()) == values["params"]
        assert values["test_samples"] == 300 and values["train_samples"] == 270
    assert metrics["self"]["params"] != metrics["mha"]["params"]
    baseline = metrics["baseline"]
    assert baseline["accuracy_ci_low"] < baseline["accuracy"] < baseline["accuracy_ci_high"]
    assert timings["baseline"]["train_seconds"] > 0 and "train_seconds" not in baseline
    comparison = metrics["comparison"]
    assert comparison["seeds"] == 2
    assert comparison["difference"] == pytest.approx(metrics["self"]["mean"]["accuracy"]
                                                     - metrics["mha"]["mean"]["accuracy"])
    assert comparison["ci_low"] <= comparison["difference"] <= comparison["ci_high"]
    assert comparison["margin"] == 0.005 and comparison["max_seeds"] == 20
    assert comparison["outcome"] in ("better_beyond_margin", "better", "equivalent", "not_resolved")
    assert comparison["p_self_better"] + comparison["p_equivalent"] + comparison["p_mha_better"] == pytest.approx(1)
    sign_resolved = comparison["ci_low"] > 0 or comparison["ci_high"] < 0
    assert comparison["winner"] == ({True: "self", False: "mha"}[comparison["ci_low"] > 0]
                                    if sign_resolved and comparison["outcome"] != "equivalent" else None)
    assert list(metrics["self_vs_mha"]) == ["42", "43", "ensemble"]
    paired = metrics["self_vs_mha"]["43"]
    assert paired["only_self_right"] == (right["self_seed43"] & ~right["mha_seed43"]).sum()
    assert paired["only_mha_right"] == (~right["self_seed43"] & right["mha_seed43"]).sum()
    faithfulness = metrics["faithfulness"]
    assert faithfulness["reviews"] == 60 and list(faithfulness["self_vs_mha"]) == ["attention_vs_random",
                                                                                  "attention_vs_gradient"]
    for kind in ("self", "mha"):
        per_seed = {seed: read_json(repo, f"models/{kind}/seed-{seed}/faithfulness.json") for seed in SEEDS}
        assert faithfulness[kind]["seeds"] == {str(seed): {key: value for key, value in summary.items()
                                                           if key not in ("reviews", "seconds")}
                                               for seed, summary in per_seed.items()}
        means = faithfulness[kind]["mean"]
        assert means["attention_comprehensiveness"] == pytest.approx(np.mean(
            [summary["attention_comprehensiveness"] for summary in per_seed.values()]))
        assert set(means) == {f"{ranking}_{measure}" for ranking in ("attention", "gradient", "random")
                              for measure in ("comprehensiveness", "sufficiency", "flip_top1", "flip_top5")} | {
            "kendall_tau"}
        gap = faithfulness[kind]["attention_vs_random"]
        assert gap["difference"] == pytest.approx(means["attention_comprehensiveness"]
                                                  - means["random_comprehensiveness"])
        assert gap["margin"] == 0.02 and gap["seeds"] == 2 and gap["ci_low"] <= gap["difference"] <= gap["ci_high"]


def test_report_shows_the_verdict_over_seeds_every_seed_and_exact_parameter_counts(repo):
    report = (repo / "reports/report.md").read_text()
    metrics, recorded = read_json(repo, "reports/metrics.json"), read_json(repo, "reports/mlflow.json")
    assert "| Self-attention" in report and "| Multi-head attention (LSTM + 2 heads, 2-hop attentive pooling)" in report
    assert f"| {metrics['self']['params']:,} |" in report and f"| {metrics['mha']['params']:,} |" in report
    assert "| TF-IDF 1-2 grams + logistic regression |" in report
    assert re.search(r"\*\*(Not resolved with 2 seeds|.* is better.*|Practically equivalent.*)\.\*\*", report)
    assert "Probabilities: P(self-attention better by more than 0.50) = " in report
    assert "over seeds and test reviews" in report or "Welch" in report
    for kind, name in (("self", "Self-attention"), ("mha", "Multi-head attention")):
        for seed in SEEDS:
            accuracy = metrics[kind]["seeds"][str(seed)]["accuracy"]
            marked = f"**{seed}**" if seed == metrics[kind]["representative_seed"] else str(seed)
            assert f"| {name} | {marked} | {100 * accuracy:.2f}% [" in report
    assert recorded["comparison_run_id"] in report
    assert f"| **total** | **{metrics['self']['params']:,}** | **{metrics['mha']['params']:,}** |" in report
    overlap = metrics["mha"]["mean"]["hop_overlap"]
    assert f"| Multi-head attention (LSTM + 2 heads, 2-hop attentive pooling) | {overlap:.3f} |" in report
    faithful = report[report.index("## Do the attention pictures show"):report.index("## What was run")]
    for kind, name in (("self", "Self-attention"), ("mha", "Multi-head attention")):
        mean = metrics["faithfulness"][kind]["mean"]
        assert (f"| {name} | random | {mean['random_comprehensiveness']:.3f} | {mean['random_sufficiency']:.3f} | "
                f"{100 * mean['random_flip_top1']:.1f}% | {100 * mean['random_flip_top5']:.1f}% |") in faithful
        assert f"- {name}, AOPC comprehensiveness: attention minus random " in faithful
    assert "![Probability drop as the top tokens are erased](figures/faithfulness.png)" in faithful
    assert "pooling weights summed over its hops" in faithful and "\nFor the pictures above: self-attention: " in faithful
    pictures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert {"figures/seed_accuracy.png", "figures/learning_curves.png", "figures/roc.png",
            "figures/accuracy_by_length.png"} <= set(pictures)
    examples = read_json(repo, "reports/attention.json")
    assert [f"figures/attention_{i}.png" for i in range(1, len(examples) + 1)] == [
        p for p in pictures if "attention" in p]
    for picture in pictures:
        assert (repo / "reports" / picture).read_bytes()[:4] == b"\x89PNG", picture


def test_attention_examples_carry_every_hops_and_heads_weights_of_the_representative_seeds(repo):
    examples = read_json(repo, "reports/attention.json")
    metrics = read_json(repo, "reports/metrics.json")
    assert 1 <= len(examples) <= 4 and len({e["case"] for e in examples}) == len(examples)
    predictions = pd.read_csv(repo / "reports/test_predictions.csv")
    for example in examples:
        assert example["seeds"] == {kind: metrics[kind]["representative_seed"] for kind in ("self", "mha")}
        for kind, seed in example["seeds"].items():
            assert example["probabilities"][kind] == pytest.approx(
                predictions[f"{kind}_seed{seed}"][example["index"]], abs=1e-5)
        tokens = len(example["tokens"])
        self_layers, mha_layers = example["weights"]["self"], example["weights"]["mha"]
        assert list(self_layers) == ["pooling"] and list(mha_layers) == ["attention", "pooling"]
        for rows in (self_layers["pooling"], mha_layers["attention"], mha_layers["pooling"]):
            assert len(rows) == 2 and all(len(row) == tokens for row in rows)
            assert [sum(row) for row in rows] == pytest.approx([1, 1], abs=1e-3)


def test_mlflow_has_a_run_per_model_and_seed_nested_under_one_comparison_run(repo):
    runs = mlflow_runs(repo)
    recorded = read_json(repo, "reports/mlflow.json")
    metrics = read_json(repo, "reports/metrics.json")
    trained = [r for r in runs if r["tags"].get("model") in ("self", "mha")]
    assert sorted(r["name"] for r in trained) == ["mha-seed42", "mha-seed43", "self-seed42", "self-seed43"]
    for r in trained:
        kind, seed = r["tags"]["model"], r["tags"]["seed"]
        assert r["status"] == "FINISHED" and r["name"] == f"{kind}-seed{seed}"
        assert r["tags"]["dvc.stage"] == f"train_{kind}@{seed}"
        assert r["tags"]["mlflow.parentRunId"] == recorded["comparison_run_id"]
        assert re.fullmatch(r"[0-9a-f]{40}", r["tags"]["git.commit"])
        assert r["params"]["train.seed"] == seed and "train.seeds" not in r["params"]
        assert r["params"]["train.epochs"] == "2" and r["params"]["model.hidden_dim"] == "16"
        assert ("model.heads" in r["params"]) == (kind == "mha")
        epochs = metrics[kind]["seeds"][seed]["epochs"]
        assert r["steps"]["val_loss"] == r["steps"]["train_hop_penalty"] == r["steps"]["val_hop_overlap"] == epochs
        assert r["metrics"]["test_accuracy"] == pytest.approx(metrics[kind]["seeds"][seed]["accuracy"])
        assert r["metrics"]["test_hop_overlap"] == pytest.approx(metrics[kind]["seeds"][seed]["hop_overlap"])
        assert r["params"]["model.hop_penalty"] == "0.01"
        assert r["tags"]["compute.kernels"] == torch.backends.cpu.get_cpu_capability()
        measured = read_json(repo, f"models/{kind}/seed-{seed}/faithfulness.json")
        assert r["metrics"]["faithfulness_attention_comprehensiveness"] == pytest.approx(
            measured["attention_comprehensiveness"])
        assert r["metrics"]["faithfulness_kendall_tau"] == pytest.approx(measured["kendall_tau"])
        assert r["tags"]["faithfulness.sample"] == "60 test reviews, fractions [0.01, 0.05, 0.1, 0.2, 0.5], 2 " \
                                                   "random draws, seed 42"
    baseline = next(r for r in runs if r["tags"].get("model") == "baseline")
    assert baseline["tags"]["dvc.stage"] == "baseline" and baseline["metrics"]["test_accuracy"] > 0
    assert baseline["params"]["tfidf.ngram_range"] == "1-2"
    assert baseline["tags"]["mlflow.parentRunId"] == recorded["comparison_run_id"]
    comparison = next(r for r in runs if r["id"] == recorded["comparison_run_id"])
    assert comparison["name"] == "comparison" and comparison["status"] == "FINISHED"
    assert comparison["tags"]["dvc.stage"] == "evaluate" and "model" not in comparison["tags"]
    assert comparison["params"]["train.seeds"] == "[42, 43]"
    mha_runs = sorted((r for r in trained if r["tags"]["model"] == "mha"), key=lambda r: r["name"])
    assert comparison["params"]["mha.seed_runs"] == " ".join(f"{r['tags']['seed']}:{r['id']}" for r in mha_runs)
    assert comparison["metrics"]["self_accuracy_mean"] == pytest.approx(metrics["self"]["mean"]["accuracy"])
    assert comparison["metrics"]["difference_ci_low"] == pytest.approx(metrics["comparison"]["ci_low"])
    assert comparison["metrics"]["p_equivalent"] == pytest.approx(metrics["comparison"]["p_equivalent"])
    assert comparison["tags"]["outcome"] == metrics["comparison"]["outcome"]
    gap = metrics["faithfulness"]["mha"]["attention_vs_gradient"]
    assert comparison["metrics"]["faithfulness_mha_attention_vs_gradient"] == pytest.approx(gap["difference"])
    assert comparison["metrics"]["faithfulness_self_vs_mha_attention_vs_random_ci_high"] == pytest.approx(
        metrics["faithfulness"]["self_vs_mha"]["attention_vs_random"]["ci_high"])
    assert comparison["tags"]["mlflow.note.content"].startswith(("Not resolved with 2 seeds", "Self-attention is",
                                                                  "Multi-head attention is", "Practically equivalent"))

    logged = [yaml.safe_load(path.read_text()) for path in (repo / "mlartifacts").rglob("MLmodel")]
    assert len(logged) == 4
    assert all("python_function" in m["flavors"] and "attended" in m["signature"]["outputs"] for m in logged)
    with sqlite3.connect(repo / "mlflow.db") as db:
        versions = db.execute("SELECT name, version, run_id FROM model_versions ORDER BY name").fetchall()
    assert [(name, version) for name, version, _ in versions] == [
        ("attention-classifier-mha", 1), ("attention-classifier-self", 1)]
    for kind in ("self", "mha"):
        registered = recorded["registered"][kind]
        assert registered["seed"] == metrics[kind]["representative_seed"]
        chosen = read_json(repo, f"models/{kind}/seed-{registered['seed']}/mlflow_run.json")
        assert registered["run_id"] == chosen["run_id"] and registered["model_uri"] == chosen["model_uri"]
        assert (f"attention-classifier-{kind}", 1, chosen["run_id"]) in versions
    reports = list((repo / "mlartifacts").rglob("report/report.md"))
    assert len(reports) == 1 and (reports[0].parent / "figures" / "seed_accuracy.png").is_file()
    assert recorded["comparison_run_id"] in str(reports[0])


def test_mlflow_shows_model_training_runs_with_their_datasets_and_a_description(repo):
    """The experiment is a model-training one (the UI's runs table, not its GenAI pages), and each run says what it
    read: train and validation for the models, the test set added by evaluate, train and test for the baseline."""
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("attention-comparison")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    logged = {name: {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
                     for i in run.inputs.dataset_inputs} for name, run in runs.items()}
    assert {context: d.name for context, d in logged["self-seed42"].items()} == {
        "training": "synthetic-train-tokens", "validation": "synthetic-val-tokens", "testing": "synthetic-test-tokens"}
    assert {context: d.name for context, d in logged["baseline"].items()} == {
        "training": "synthetic-train-text", "testing": "synthetic-test-text"}
    assert logged["mha-seed43"] == logged["self-seed42"]
    for dataset in [*logged["self-seed42"].values(), *logged["baseline"].values()]:
        assert dataset.source_type == "code" and json.loads(dataset.source)["tags"]["generator"] == "pipeline/synthetic.py"
        assert re.fullmatch(r"[0-9a-f]{8}", dataset.digest)
    assert json.loads(logged["self-seed42"]["training"].profile)["targets_shape"] == [270]
    assert len({d.digest for d in logged["self-seed42"].values()}) == 3
    assert " on the synthetic corpus (270 train / 30 validation reviews); embed 16, hidden 16, dropout 0.3, hop " \
           "penalty 0.01; Adam lr 0.002, batch 32, up to 2 epochs, seed 43" in runs["mha-seed43"].data.tags[
               "mlflow.note.content"]
    assert runs["self-seed42"].data.tags["mlflow.note.content"].startswith(
        "Self-attention (BiLSTM + 2-hop attentive pooling) ")
    assert runs["baseline"].data.tags["mlflow.note.content"] == (
        "TF-IDF 1-2 grams + logistic regression on the synthetic corpus (270 train reviews); seed 42")
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.mlflow.parentRunId = '{runs['comparison'].info.run_id}'")
    assert sorted(run.info.run_name for run in children) == [
        "baseline", "mha-seed42", "mha-seed43", "self-seed42", "self-seed43"]
    report = (repo / "reports/report.md").read_text()
    assert f"(http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}?workflowType=machine_learning)" in report


def test_same_params_and_seeds_give_identical_metrics_twice(repo):
    before = {path: (repo / path).read_bytes() for path in
              ["reports/metrics.json", "reports/test_predictions.csv", "reports/attention.json"]}
    computed_before = read_json(repo, "reports/timings.json")
    retrained = ["train_self@42", "train_mha@43", "evaluate"]  # a seed of each architecture, then every score
    # one after the other this time, on one thread each as they trained side by side
    sequential = run(["dvc", "repro", "--force", "--single-item", *retrained], repo, OMP_NUM_THREADS="1")
    assert stages_run(sequential.stdout) == retrained
    computed = read_json(repo, "reports/timings.json")
    for kind, seed in (("self", "42"), ("mha", "43")):  # other kernels or threads round sums differently
        assert computed[kind]["seeds"][seed]["compute"] == computed_before[kind]["seeds"][seed]["compute"]
    for path, content in before.items():
        assert (repo / path).read_bytes() == content, path


def test_predict_prints_label_probability_and_attended_words_for_text_and_files(repo, monkeypatch):
    (repo / "new.csv").write_text("text\nThe acting is awful.\nA charming film.\n")
    (repo / "new.txt").write_text("The acting is awful.\n\nA charming film.\n")
    predict = [sys.executable, "-m", "pipeline.predict", "The plot is very good.", "--top", "2"]
    result = run([*predict, "--model", "mha", "--file", "new.csv"], repo)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    label, probability, attended, text = lines[0].split("\t")
    assert label in ("positive", "negative") and 0 <= float(probability) <= 1
    assert (float(probability) >= 0.5) == (label == "positive") and text == "'The plot is very good.'"
    assert attended.startswith("attended: ") and len(attended.removeprefix("attended: ").split(", ")) == 2
    assert run([*predict, "--model", "mha", "--file", "new.txt", "--lines"], repo).stdout == result.stdout
    not_a_table = invoke("predict", ["--file", "new.txt"], repo, monkeypatch)
    assert not_a_table.exit_code == 1 and len(not_a_table.stderr.splitlines()) == 1
    assert not_a_table.stderr.startswith("error: new.txt reads as a table of one column, without a column 'text': "
                                         "pass --lines")
    registered = read_json(repo, "reports/mlflow.json")["registered"]["mha"]
    for uri in (f"models:/{registered['name']}/{registered['version']}", f"runs:/{registered['run_id']}/model"):
        from_mlflow = run([*predict, "--file", "new.csv", "--model-uri", uri], repo)
        assert from_mlflow.stdout == result.stdout, uri
        assert "Downloading artifacts" not in from_mlflow.stderr, uri
    by_seed = {seed: invoke("predict", [*predict[3:], "--model", "mha", "--file", "new.csv", "--seed", str(seed)],
                            repo, monkeypatch).stdout for seed in SEEDS}
    other = next(seed for seed in SEEDS if seed != registered["seed"])
    assert by_seed[registered["seed"]] == result.stdout != by_seed[other]
    missing = invoke("predict", ["Good.", "--model-uri", "models:/nothing/1"], repo, monkeypatch)
    assert missing.exit_code == 1 and missing.stderr.startswith("error: cannot load MLflow model 'models:/nothing/1'")


def test_predict_scores_a_labelled_table_with_the_evaluate_stages_numbers(repo, monkeypatch):
    (repo / "labelled.csv").write_text("text;label\nThe acting is awful.;neg\nA charming film.;pos\nNot good.;neg\n")
    result = invoke("predict", ["--file", "labelled.csv", "--model", "mha"], repo, monkeypatch)
    assert result.exit_code == 0, result.output
    predicted = [line.split("\t")[0] for line in result.stdout.splitlines()]
    right = sum(p == truth for p, truth in zip(predicted, ["negative", "positive", "negative"]))
    scores, confusion = result.stderr.splitlines()
    assert scores.startswith(f"scored 3 labelled reviews (labelled.csv column 'label'): accuracy {right / 3:.2%} [")
    assert "(95% Wilson interval), F1 " in scores and "ROC AUC " in scores
    assert re.fullmatch(r"confusion: \d true negatives, \d false positives, \d false negatives, \d true positives",
                        confusion)

    # A .txt table (UCI's sentence<TAB>label files) is read as training reads data.path: the same rows, scored.
    (repo / "headerless.txt").write_text("The acting is awful.\t0\nA charming film.\t1\nNot good.\t0\n")
    headerless = repo_params_file(repo, "headerless.yaml", header=False, text_column=0, label_column=1)
    by_position = invoke("predict", ["--file", "headerless.txt", "--model", "mha", "--params", headerless], repo,
                         monkeypatch)
    assert by_position.exit_code == 0, by_position.output
    assert by_position.stdout == result.stdout
    assert by_position.stderr.splitlines()[0].replace("headerless.txt column 1", "labelled.csv column 'label'") == scores
    sentences = repo / "sentences.txt"
    sentences.write_text("".join(f"{'A charming' if i % 2 else 'A dull'}, long film {i}.\t{i % 2}\n" for i in range(6)))
    uci = repo_params_file(repo, "uci.yaml", path=str(sentences), header=False, text_column=0, label_column=1)
    predicted = invoke("predict", ["--file", str(sentences), "--params", uci], repo, monkeypatch)
    assert predicted.exit_code == 0 and predicted.stderr.startswith("scored 6 labelled reviews"), predicted.output
    training_rows = read_table(load_params(repo / uci).data).sort_index()["text"]
    assert [line.split("\t")[-1] for line in predicted.stdout.splitlines()] == [repr(text) for text in training_rows]
    (repo / "headed.txt").write_text("text\tlabel\nThe acting is awful.\t0\nA charming film.\t1\nNot good.\t0\n")
    headed = invoke("predict", ["--file", "headed.txt", "--model", "mha"], repo, monkeypatch)
    assert headed.exit_code == 0, headed.output
    assert headed.stdout == result.stdout  # the header is no review, the labels are not glued to the texts
    assert headed.stderr.splitlines()[0].replace("headed.txt", "labelled.csv") == scores
    lines_and_labels = invoke("predict", ["--file", "headed.txt", "--lines", "--label-column", "label"], repo,
                              monkeypatch)
    assert lines_and_labels.exit_code == 1
    assert lines_and_labels.stderr.startswith("error: --label-column names a column of a table: drop --lines")
    bad = invoke("predict", ["--file", "labelled.csv", "--label-column", "text"], repo, monkeypatch)
    assert bad.exit_code == 1 and bad.stderr.startswith("error: labelled.csv column 'text' has labels [")
    assert len(bad.stderr.splitlines()) == 1


def repo_params_file(repo, name: str, **data) -> str:
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    write_params(repo / name, raw | {"data": raw["data"] | data})
    return name


def test_the_logged_model_classifies_raw_text_without_this_checkout(repo, tmp_path):
    """Loaded and served by MLflow alone, from a folder where `import pipeline` finds nothing, the
    registered model gives the predictions the checkout's own classifier gives."""
    texts = ["The plot is very good.", "A dull, awful film."]
    registered = read_json(repo, "reports/mlflow.json")["registered"]["self"]
    uri = f"models:/{registered['name']}/{registered['version']}"
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    local = ReviewClassifier.load(repo / "models" / "self" / f"seed-{registered['seed']}" / "model.pt",
                                  repo / "data" / "processed" / "vocab.json", max_len=128,
                                  keep="head_tail", precision="fp32").predict(texts, top=2)
    expected = [p.model_dump() for p in local]

    script = ("import importlib.util, json, sys, mlflow\n"
              "assert importlib.util.find_spec('pipeline') is None\n"
              "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
              "print(json.dumps([p.model_dump() for p in model.predict(json.loads(sys.argv[2]), params={'top': 2})]))")
    loaded = run([sys.executable, "-I", "-c", script, uri, json.dumps(texts)], tmp_path, **store)
    assert json.loads(loaded.stdout) == expected

    port = free_port()
    server = subprocess.Popen(
        ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env=tools_env(**store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        served = post_json(f"http://127.0.0.1:{port}/invocations", {"inputs": texts, "params": {"top": 2}}, server)
        assert served == {"predictions": expected}
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_json(url: str, body: dict, server: subprocess.Popen, wait_seconds: float = 120) -> dict:
    """POST once the server answers; fails at once if it exits."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    deadline = time.monotonic() + wait_seconds
    while True:
        assert server.poll() is None, f"mlflow models serve exited with {server.returncode}"
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, f"no answer from {url} in {wait_seconds}s"
            time.sleep(1)


def test_dvc_plots_render(repo):
    run(["dvc", "plots", "show", "-o", "plots_html"], repo)
    html = (repo / "plots_html" / "index.html").read_text()
    assert "Loss per epoch (mean over seeds)" in html and "ROC curves (seed ensembles)" in html
    assert "Test accuracy by review length" in html


def experiments_shown(repo) -> list[dict]:
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    return [rev["data"] for commit in shown for e in (commit.get("experiments") or []) for rev in e["revs"]]


def test_changing_heads_retrains_only_the_mha_seeds_and_downstream_as_an_experiment(repo):
    result = run(["dvc", "exp", "run", "-S", "data.source=synthetic", "-S", "model.heads=8"], repo)
    assert stages_run(result.stdout) == ["train_mha@42", "train_mha@43", "faithfulness_mha@42", "faithfulness_mha@43",
                                         "evaluate", "report"]
    experiments = experiments_shown(repo)
    assert 8 in [data["params"]["params.yaml"]["data"]["model"]["heads"] for data in experiments]
    metrics = [data["metrics"]["reports/metrics.json"]["data"] for data in experiments]
    assert all(m["mha"]["mean"]["accuracy"] > 0 and "ci_low" in m["comparison"] for m in metrics)
    name = next(e["name"] for commit in json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
                for e in (commit.get("experiments") or []))
    run(["dvc", "plots", "diff", "main", name, "-o", "diff_html"], repo)
    html = (repo / "diff_html" / "index.html").read_text()
    assert "Test accuracy by review length" in html and name in html
    assert stages_run(run(["dvc", "repro"], repo).stdout) == []
    mha_runs = [r for r in mlflow_runs(repo) if r["tags"].get("model") == "mha"]
    assert [r["params"]["model.heads"] for r in mha_runs[-2:]] == ["8", "8"]
    assert all(r["tags"].get("dvc.exp_name") for r in mha_runs[-2:])


def test_versus_compares_an_experiment_with_its_baseline_from_dvcs_cache(repo):
    """The workspace holds the model.heads=8 experiment of the test above; HEAD has model.heads=2."""
    lines = run([sys.executable, "-m", "pipeline.versus"], repo).stdout.splitlines()
    assert lines[0] == "workspace against HEAD: model.heads 2 -> 8"
    assert lines[1] == "Self-attention: the same models on both sides (the change left its stages alone)"
    before = json.loads(run(["git", "show", "HEAD:reports/metrics.json"], repo).stdout)["mha"]["mean"]["accuracy"]
    after = read_json(repo, "reports/metrics.json")["mha"]["mean"]["accuracy"]
    assert lines[2].startswith(f"Multi-head attention: HEAD {100 * before:.2f}% over 2 seeds, workspace "
                               f"{100 * after:.2f}% over 2 seeds; ")
    assert f"workspace minus HEAD {100 * (after - before):+.2f} points [" in lines[2] and "P(equivalent) = " in lines[2]
    # the experiment's own report and comparison run say the same against the commit it started from
    head = run(["git", "rev-parse", "--short=7", "HEAD"], repo).stdout.strip()
    report = (repo / "reports/report.md").read_text()
    section = report[report.index("## Against the baseline"):report.index("## Results on the test split")]
    assert f"This run against commit `{head}`" in section and "| `model.heads` | 2 | 8 |" in section
    assert "- Self-attention: the same models on both sides" in section
    assert f"this run minus {head} {100 * (after - before):+.2f} points [" in section
    assert "## Against the baseline" not in run(["git", "show", "HEAD:reports/report.md"], repo).stdout
    comparison = [r for r in mlflow_runs(repo) if r["tags"].get("dvc.stage") == "evaluate"][-1]
    assert comparison["tags"]["baseline.commit"] == head and comparison["tags"]["baseline.changed_params"] == (
        "model.heads")
    assert comparison["metrics"]["baseline_mha_difference"] == pytest.approx(after - before)
    assert "baseline.self.outcome" not in comparison["tags"]

    name = next(e["name"] for commit in json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
                for e in (commit.get("experiments") or []))
    by_name = run([sys.executable, "-m", "pipeline.versus", "main", name], repo).stdout.splitlines()
    assert by_name == [line.replace("workspace", name).replace("HEAD", "main") for line in lines]

    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(params.replace("heads: 8", "heads: 1"))
    stale = run([sys.executable, "-m", "pipeline.versus"], repo, check=False)
    (repo / "params.yaml").write_text(params)
    assert stale.returncode == 1 and stale.stderr == (
        "error: the workspace's train_mha@42, train_mha@43 are not up to date with params.yaml and the code: run "
        "`dvc repro` (or `dvc exp run`) first\n")
    unscored = run([sys.executable, "-m", "pipeline.versus", "HEAD~1"], repo, check=False)  # before the first repro
    assert unscored.returncode == 1 and unscored.stderr == (
        "error: dvc.lock is missing at HEAD~1: run `dvc repro` there (`dvc exp run` for an experiment), or `dvc pull` "
        "if it was pushed\n")
    unknown = run([sys.executable, "-m", "pipeline.versus", "no-such-thing"], repo, check=False)
    assert unknown.stderr == ("error: no git revision, branch or DVC experiment is named 'no-such-thing': see "
                              "`git log --oneline` and `dvc exp list`\n")


def test_adding_a_seed_trains_only_that_seed_and_one_seed_compares_two_trained_models(repo):
    added = run(["dvc", "exp", "run", "-S", "train.seeds=[42,43,44]"], repo)
    assert stages_run(added.stdout) == ["train_self@44", "train_mha@44", "faithfulness_self@44",
                                        "faithfulness_mha@44", "evaluate", "report"]
    metrics = read_json(repo, "reports/metrics.json")
    assert list(metrics["self"]["seeds"]) == ["42", "43", "44"] and metrics["comparison"]["seeds"] == 3
    readme = (ROOT / "README.md").read_text()
    show = re.search(r"^(dvc exp show .*?)\s+#", readme, re.MULTILINE).group(1)  # as the README writes it
    shown = run(["bash", "-c", show + " --md --no-pager"], repo).stdout
    header = shown.splitlines()[0]
    for column in ["self.mean.accuracy", "mha.mean.accuracy", "comparison.difference", "comparison.ci_low",
                   "comparison.ci_high", "comparison.outcome", "comparison.p_equivalent", "model.heads"]:
        assert column in header, header
    assert "self.seeds" not in header and "train.lr" not in header

    # seed 42's models are trained already; changing how faithfulness is measured measures them again, no more
    single = run(["dvc", "exp", "run", "-S", "train.seeds=[42]", "-S", "faithfulness.random_draws=1"], repo)
    assert stages_run(single.stdout) == ["faithfulness_self@42", "faithfulness_mha@42", "evaluate", "report"]
    metrics = read_json(repo, "reports/metrics.json")
    assert list(metrics["mha"]["seeds"]) == ["42"] and metrics["comparison"]["ci_low"] is None
    assert metrics["comparison"]["winner"] is None
    report = (repo / "reports/report.md").read_text()
    assert "this compares two trained models, not the two architectures" in report
    assert "McNemar's exact test gives p = " in report


def test_queued_experiments_run_in_parallel_in_temporary_copies_and_record_to_the_checkouts_store(repo, tmp_path):
    before = {r["id"] for r in mlflow_runs(repo)}
    for changes in (["model.heads=1"], ["model.rnn=gru", "train.precision=bf16"]):
        run(["dvc", "exp", "run", "--queue", *[part for change in changes for part in ("-S", change)]], repo)
    # The queue's worker processes inherit `dvc queue start`'s output and outlive it by an idle timeout;
    # a captured pipe would block this test until they exit, so the output goes to a file.
    with (tmp_path / "queue-start.log").open("w") as log:
        started = subprocess.run(["dvc", "queue", "start", "--jobs", "2"], cwd=repo, env=tools_env(), stdout=log,
                                 stderr=subprocess.STDOUT)
    assert started.returncode == 0, (tmp_path / "queue-start.log").read_text()
    deadline = time.monotonic() + 600
    while re.search(r"Queued|Running", status := run(["dvc", "queue", "status"], repo).stdout):
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status.count("Success") >= 2 and "Failed" not in status, status
    # Each experiment retrained only the models its changes touch (one seed each, as train.seeds is [42] now): the
    # multi-head model for heads; both for the precision, in which each trained, scored and logged its model.
    new = [r for r in mlflow_runs(repo) if r["id"] not in before]
    trainings = [r for r in new if r["tags"].get("model") in ("self", "mha")]
    by_precision = {precision: {r["tags"]["model"]: r for r in trainings if r["params"]["train.precision"] == precision}
                    for precision in ("fp32", "bf16")}
    assert len(trainings) == 3 and list(by_precision["fp32"]) == ["mha"] and sorted(by_precision["bf16"]) == [
        "mha", "self"]
    heads, gru = by_precision["fp32"]["mha"], by_precision["bf16"]["self"]
    assert heads["params"]["model.heads"] == "1" and gru["params"]["model.rnn"] == "gru"
    assert all(r["tags"]["compute.precision"] == r["params"]["train.precision"] for r in trainings)
    assert all(r["status"] == "FINISHED" and r["metrics"].get("test_accuracy") is not None for r in trainings)
    assert all(r["tags"].get("dvc.exp_name") for r in trainings)
    # two workers ran at once: each experiment's first training took its share of the cores, not all of them
    assert [r["tags"]["compute.threads"] for r in (heads, gru)] == [str(threads_per_job(2, usable_cores()))] * 2
    assert sorted(r["name"].split("-")[0] for r in new if r["tags"].get("dvc.stage") == "evaluate") == [
        "comparison", "comparison"]
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def test_sweep_tables_every_experiment_against_the_baseline_and_the_best(repo):
    other_lengths = run(["dvc", "exp", "run", "-S", "tokenize.eval_max_len=100"], repo)  # other test inputs
    assert "tokenize" in stages_run(other_lengths.stdout)
    refused = run([sys.executable, "-m", "pipeline.versus", "main"], repo, check=False)
    assert refused.returncode == 1 and refused.stderr == (
        "error: cannot compare workspace with main: they read the test reviews to different lengths "
        "(tokenize.eval_max_len 128 vs 100); compare revisions that score the same test reviews to the same "
        "tokenize.eval_max_len\n")
    experiments = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    names = sorted(e["name"] for commit in experiments for e in (commit.get("experiments") or []))
    result = run([sys.executable, "-m", "pipeline.sweep"], repo)
    table = (repo / "reports/sweep.md").read_text()
    assert table in result.stdout + "\n" and "MLflow run" in result.stdout
    mha = table[table.index("## Multi-head attention"):]
    rows = {line.split(" | ")[0][2:]: line for line in mha.splitlines() if line.startswith("| ") and " | " in line}
    other = next(e["name"] for commit in experiments for e in (commit.get("experiments") or [])
                 if e["revs"][0]["data"]["params"]["params.yaml"]["data"]["tokenize"]["eval_max_len"] == 100)
    assert f"Not compared: {other}: they read the test reviews to different lengths" in table
    assert set(names) - {other} | {"HEAD"} <= set(rows) and other not in rows
    head = json.loads(run(["git", "show", "HEAD:reports/metrics.json"], repo).stdout)["mha"]["mean"]["accuracy"]
    assert rows["HEAD"].startswith(f"| HEAD | - | 2 | {100 * head:.2f}% | - | - |")
    heads = next(row for row in rows.values() if row.split(" | ")[1] == "model.heads=8")  # two seeds a side
    assert re.search(r"\| [+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] \| ", heads)
    self_rows = table[table.index("## Self-attention"):table.index("## Multi-head attention")]
    assert "same models | -" in next(line for line in self_rows.splitlines()
                                     if line.split(" | ")[1:2] == ["model.heads=8"])
    sweep = [r for r in mlflow_runs(repo) if r["tags"].get("dvc.stage") == "sweep"][-1]
    assert sweep["status"] == "FINISHED" and sweep["metrics"]["HEAD.mha.mean_accuracy"] == pytest.approx(head)


@pytest.fixture(scope="module")
def learning_repo(tmp_path_factory):
    """A repository whose models learn, unlike those of `repo`: the whole synthetic corpus (1,800 train / 2,000 test
    reviews), 5 epochs at lr 0.01, three seeds (self-attention about 94%), every stage run in this process and recorded
    by DVC. Its margin is 5 points: three seeds' intervals here are about +-3.5 points wide, so the default 0.5 would
    leave every close call open."""
    params = small_params(**{"data.limit": 0, "train.lr": 0.01, "train.epochs": 5, "train.seeds": [42, 43, 44],
                             "compare.margin": 5.0, "compare.max_seeds": 3, "faithfulness.reviews": 200})
    path = make_dvc_repo(tmp_path_factory.mktemp("learning"), params)
    with pytest.MonkeyPatch.context() as monkeypatch:
        trained_in_process(path, [42, 43, 44], monkeypatch)
    return path


def test_erasing_the_attended_tokens_costs_more_than_random_ones_and_negations_rank_high(learning_repo):
    """The synthetic labels rest on opinion words, which a negation flips: a ranking that finds what the models use
    puts negations in a review's top tokens far more often than they occur."""
    faithfulness = read_json(learning_repo, "reports/metrics.json")["faithfulness"]
    for kind in ("self", "mha"):
        gap = faithfulness[kind]["attention_vs_random"]
        assert gap["winner"] == "attention" and gap["outcome"] == "better_beyond_margin", gap
    test = EncodedSplit.load(learning_repo / "data/processed/test.npz")
    vocab = read_json(learning_repo, "data/processed/vocab.json")["tokens"]
    negations = np.isin(np.array(vocab), NEGATIONS)
    rows = balanced_sample(test.labels, 200, seed=42)
    reviews = [test.ids[row, : test.lengths[row]] for row in rows]
    share = negations[np.concatenate(reviews)].mean()
    cpu = torch.device("cpu")
    for kind in ("self", "mha"):
        model = load_checkpoint(learning_repo / f"models/{kind}/seed-42/model.pt")
        positive = positive_probabilities(model, reviews, cpu, "fp32") >= 0.5
        rankings = {"gradient": gradient_scores(model, reviews, positive, cpu, "fp32")}
        if kind == "mha":  # the BiLSTM of self-attention gathers an opinion into the state at "is": it weighs that
            rankings["attention"] = attention_scores(model, reviews, cpu, "fp32")
        for ranking, scores in rankings.items():
            top = np.concatenate([review[np.argsort(-score, kind="stable")[:5]]
                                  for review, score in zip(reviews, scores)])
            assert negations[top].mean() > 3 * share, (kind, ranking, negations[top].mean(), share)


def test_versus_calls_a_change_that_moves_nothing_a_tie_and_a_broken_one_a_clear_loss(learning_repo, tmp_path):
    """Two experiments, each one param away from HEAD, queued and run side by side: a GRU for the LSTM (the
    self-attention models alone retrain, and land within the margin), and one epoch instead of five (nothing learns)."""
    run(["dvc", "exp", "run", "--queue", "--name", "gru", "-S", "model.rnn=gru"], learning_repo)
    run(["dvc", "exp", "run", "--queue", "--name", "one-epoch", "-S", "train.epochs=1"], learning_repo)
    with (tmp_path / "queue-start.log").open("w") as log:  # see the queue test above for why a file
        subprocess.run(["dvc", "queue", "start", "--jobs", "2"], cwd=learning_repo, env=tools_env(), stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    deadline = time.monotonic() + 900
    while re.search(r"Queued|Running", status := run(["dvc", "queue", "status"], learning_repo).stdout):
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status.count("Success") == 2, status

    tie = run([sys.executable, "-m", "pipeline.versus", "HEAD", "gru"], learning_repo).stdout.splitlines()
    assert tie[0] == "gru against HEAD: model.rnn 'lstm' -> 'gru'"
    assert "Practically equivalent over 3 seeds (within +-5.00 points): gru minus HEAD " in tie[1]
    assert tie[2] == "Multi-head attention: the same models on both sides (the change left its stages alone)"
    loss = run([sys.executable, "-m", "pipeline.versus", "HEAD", "one-epoch"], learning_repo).stdout.splitlines()
    assert loss[0] == "one-epoch against HEAD: train.epochs 5 -> 1"
    for line in loss[1:]:
        assert "HEAD is better by more than the 5.00-point margin over 3 seeds: one-epoch minus HEAD -" in line
    # the tie experiment's own report and comparison run say so too
    run(["dvc", "exp", "apply", "gru"], learning_repo)
    report = (learning_repo / "reports/report.md").read_text()
    assert "Practically equivalent over 3 seeds" in report[report.index("## Against the baseline"):]
    comparison = next(r for r in reversed(mlflow_runs(learning_repo)) if r["tags"].get("dvc.exp_name") == "gru"
                      and r["tags"].get("dvc.stage") == "evaluate")
    assert comparison["tags"]["baseline.self.outcome"] == "equivalent"


def test_imdb_pipeline_on_real_reviews_served_over_http(tmp_path, http_dir):
    if not SHARED_IMDB.is_file():
        pytest.skip(f"real IMDB archive not found at {SHARED_IMDB} (../shared is absent)")
    served, url = http_dir
    (served / "aclImdb_v1_labeled.tar.gz").symlink_to(SHARED_IMDB)
    params = small_params(**{"data.source": "imdb", "data.url": f"{url}/aclImdb_v1_labeled.tar.gz",
                             "data.md5": SHARED_IMDB_MD5, "data.limit": 200, "tokenize.max_len": 128})
    repo = make_dvc_repo(tmp_path / "project", params)
    result = run(["dvc", "repro"], repo)
    assert stages_run(result.stdout) == ["download", "tokenize", "train_self@42", "train_mha@42",
                                         "faithfulness_self@42", "faithfulness_mha@42", "baseline", "evaluate",
                                         "report"]
    reviews = pd.read_parquet(repo / "data/raw/reviews.parquet")
    assert reviews.groupby("split").size().to_dict() == {"test": 200, "train": 200}
    assert reviews["rating"].notna().all() and "<br />" in "".join(reviews["text"])
    assert "IMDB reviews from http://127.0.0.1" in (repo / "reports/report.md").read_text()

    write_params(repo / "params.yaml", params | {"data": params["data"] | {"md5": "f" * 32}})
    failed = run(["dvc", "repro"], repo, check=False)
    assert failed.returncode != 0
    assert "MD5 checksum mismatch" in failed.stderr + failed.stdout
