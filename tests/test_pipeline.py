"""End to end: real `dvc` commands in a temporary git repository, runs recorded in a real MLflow store."""

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipeline.classifier import ReviewClassifier
from tests.conftest import (
    SHARED_IMDB,
    SHARED_IMDB_MD5,
    free_port,
    invoke,
    make_dvc_repo,
    run,
    small_params,
    tools_env,
    write_params,
)

STAGES = ["download", "tokenize", "train_self", "train_mha", "baseline", "evaluate", "report"]


def stages_run(dvc_output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", dvc_output)


def mlflow_runs(repo) -> list[dict]:
    """Runs in the checkout's mlflow.db, read with plain SQL so the test trusts no pipeline code."""
    with sqlite3.connect(repo / "mlflow.db") as db:
        rows = db.execute("SELECT run_uuid, name, status FROM runs ORDER BY start_time").fetchall()
        runs = []
        for run_id, name, status in rows:
            tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid=?", (run_id,)).fetchall())
            params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid=?", (run_id,)).fetchall())
            metrics = dict(db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid=?", (run_id,)).fetchall())
            steps = db.execute("SELECT COUNT(*) FROM metrics WHERE run_uuid=? AND key='val_loss'", (run_id,)).fetchone()
            runs.append(dict(id=run_id, name=name, status=status, tags=tags, params=params, metrics=metrics,
                             val_loss_steps=steps[0]))
        return runs


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository where `dvc repro` has run the whole pipeline on a small synthetic corpus."""
    path = make_dvc_repo(tmp_path_factory.mktemp("project"), small_params())
    result = run(["dvc", "repro"], path)
    assert stages_run(result.stdout) == STAGES
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "first results"], path)
    return path


def test_repro_writes_every_output_and_a_complete_lock(repo):
    for output in ["data/raw/reviews.parquet", "data/processed/vocab.json", "data/processed/test.npz",
                   "models/self/model.pt", "models/mha/model.pt", "models/self/history.csv",
                   "models/baseline/test_probabilities.npy", "reports/metrics.json", "reports/report.md",
                   "reports/test_predictions.csv", "reports/attention.json", "reports/figures/learning_curves.png",
                   "reports/figures/roc.png", "reports/figures/accuracy_by_length.png",
                   "reports/plots/roc_self.csv", "reports/plots/roc_baseline.csv", "reports/plots/confusion_mha.csv",
                   "reports/plots/accuracy_by_length.csv"]:
        assert (repo / output).is_file(), output
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert sorted(lock["stages"]) == sorted(STAGES)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo).stdout


def test_metrics_have_the_documented_shape(repo):
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    timings = json.loads((repo / "reports/timings.json").read_text())
    assert sorted(metrics) == ["baseline", "mha", "self", "self_vs_mha"]
    for kind in ["self", "mha", "baseline"]:
        values = metrics[kind]
        for key in ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "f1", "roc_auc", "params",
                    "train_samples", "test_samples", "precision", "recall"]:
            assert key in values, (kind, key)
        assert timings[kind]["train_seconds"] > 0 and "train_seconds" not in values
        assert values["accuracy_ci_low"] < values["accuracy"] < values["accuracy_ci_high"]
        assert isinstance(values["params"], int) and values["params"] > 0
        assert values["test_samples"] == 300 and values["train_samples"] == 270
    vocab = json.loads((repo / "data/processed/vocab.json").read_text())["tokens"]
    for kind in ["self", "mha"]:
        assert 1 <= metrics[kind]["epochs"] <= 2 and timings[kind]["throughput"] > 0
        assert metrics[kind]["vocab_size"] == len(vocab) <= 400
        assert sum(metrics[kind]["params_by_part"].values()) == metrics[kind]["params"]
    assert metrics["self"]["params"] != metrics["mha"]["params"]
    paired = metrics["self_vs_mha"]
    predictions = pd.read_csv(repo / "reports/test_predictions.csv")
    self_right = (predictions["self"] >= 0.5) == predictions["label"]
    mha_right = (predictions["mha"] >= 0.5) == predictions["label"]
    assert paired["only_self_right"] == (self_right & ~mha_right).sum()
    assert paired["only_mha_right"] == (~self_right & mha_right).sum()
    assert 0 <= paired["mcnemar_p_value"] <= 1
    assert self_right.mean() == pytest.approx(metrics["self"]["accuracy"])


def test_report_compares_both_models_with_exact_parameter_counts(repo):
    report = (repo / "reports/report.md").read_text()
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    runs = json.loads((repo / "models/mha/mlflow_run.json").read_text())
    assert "| Self-attention" in report and "| Multi-head attention (LSTM + 2 heads, 2-hop attentive pooling)" in report
    assert f"| {metrics['self']['params']:,} |" in report and f"| {metrics['mha']['params']:,} |" in report
    assert "| TF-IDF 1-2 grams + logistic regression |" in report
    assert runs["run_id"] in report and "McNemar's exact test gives p = " in report
    assert re.search(r"\*\*(No significant difference|.* is better)\*\*", report)
    assert f"| **total** | **{metrics['self']['params']:,}** | **{metrics['mha']['params']:,}** |" in report
    pictures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert {"figures/learning_curves.png", "figures/roc.png", "figures/accuracy_by_length.png"} <= set(pictures)
    examples = json.loads((repo / "reports/attention.json").read_text())
    assert [f"figures/attention_{i}.png" for i in range(1, len(examples) + 1)] == [
        p for p in pictures if "attention" in p]
    for picture in pictures:
        assert (repo / "reports" / picture).read_bytes()[:4] == b"\x89PNG", picture


def test_attention_examples_carry_every_hops_and_heads_weights(repo):
    examples = json.loads((repo / "reports/attention.json").read_text())
    assert 1 <= len(examples) <= 4 and len({e["case"] for e in examples}) == len(examples)
    for example in examples:
        tokens = len(example["tokens"])
        self_layers, mha_layers = example["weights"]["self"], example["weights"]["mha"]
        assert list(self_layers) == ["pooling"] and list(mha_layers) == ["attention", "pooling"]
        for rows in (self_layers["pooling"], mha_layers["attention"], mha_layers["pooling"]):
            assert len(rows) == 2 and all(len(row) == tokens for row in rows)
            assert [sum(row) for row in rows] == pytest.approx([1, 1], abs=1e-3)


def test_one_mlflow_run_per_model_with_params_epochs_test_metrics_and_model(repo):
    runs = mlflow_runs(repo)
    assert sorted(r["tags"]["model"] for r in runs) == ["baseline", "mha", "self"]
    baseline = next(r for r in runs if r["tags"]["model"] == "baseline")
    assert baseline["tags"]["dvc.stage"] == "baseline" and baseline["metrics"]["test_accuracy"] > 0
    assert baseline["params"]["tfidf.ngram_range"] == "1-2"
    for r in [r for r in runs if r["tags"]["model"] != "baseline"]:
        kind = r["tags"]["model"]
        assert r["status"] == "FINISHED" and r["name"] == kind
        assert r["tags"]["dvc.stage"] == f"train_{kind}"
        assert re.fullmatch(r"[0-9a-f]{40}", r["tags"]["git.commit"])
        assert r["params"]["train.epochs"] == "2" and r["params"]["model.hidden_dim"] == "16"
        assert ("model.heads" in r["params"]) == (kind == "mha")
        assert r["val_loss_steps"] >= 1
        assert "test_accuracy" in r["metrics"] and "test_roc_auc" in r["metrics"]
    logged = [yaml.safe_load(path.read_text()) for path in (repo / "mlartifacts").rglob("MLmodel")]
    assert len(logged) == 2
    assert all("python_function" in m["flavors"] and "attended" in m["signature"]["outputs"] for m in logged)
    with sqlite3.connect(repo / "mlflow.db") as db:
        versions = db.execute("SELECT name, version, run_id FROM model_versions ORDER BY name").fetchall()
    assert [(name, version) for name, version, _ in versions] == [
        ("attention-classifier-mha", 1), ("attention-classifier-self", 1)]
    assert {run_id for _, _, run_id in versions} == {r["id"] for r in runs if r["tags"]["model"] != "baseline"}
    reports = list((repo / "mlartifacts").rglob("report/report.md"))
    assert len(reports) == 2 and all((r.parent / "figures" / "roc.png").is_file() for r in reports)


def test_mlflow_shows_model_training_runs_with_their_datasets_and_a_description(repo):
    """The experiment is a model-training one (the UI's runs table, not its GenAI pages), and each run says what it
    read: train and validation for the models, the test set added by evaluate, train and test for the baseline."""
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("attention-comparison")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = {run.data.tags["model"]: run for run in client.search_runs([experiment.experiment_id])}
    logged = {kind: {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
                     for i in run.inputs.dataset_inputs} for kind, run in runs.items()}
    assert {context: d.name for context, d in logged["self"].items()} == {
        "training": "synthetic-train-tokens", "validation": "synthetic-val-tokens", "testing": "synthetic-test-tokens"}
    assert {context: d.name for context, d in logged["baseline"].items()} == {
        "training": "synthetic-train-text", "testing": "synthetic-test-text"}
    assert logged["mha"] == logged["self"]
    for dataset in [*logged["self"].values(), *logged["baseline"].values()]:
        assert dataset.source_type == "code" and json.loads(dataset.source)["tags"]["generator"] == "pipeline/synthetic.py"
        assert re.fullmatch(r"[0-9a-f]{8}", dataset.digest)
    assert json.loads(logged["self"]["training"].profile)["targets_shape"] == [270]
    assert len({d.digest for d in logged["self"].values()}) == 3
    assert " on the synthetic corpus (270 train / 30 validation reviews); embed 16, hidden 16, dropout 0.3; Adam " \
           "lr 0.002, batch 32, up to 2 epochs, seed 42" in runs["mha"].data.tags["mlflow.note.content"]
    assert runs["self"].data.tags["mlflow.note.content"].startswith("Self-attention (BiLSTM + 2-hop attentive pooling) ")
    assert runs["baseline"].data.tags["mlflow.note.content"] == (
        "TF-IDF 1-2 grams + logistic regression on the synthetic corpus (270 train reviews); seed 42")
    report = (repo / "reports/report.md").read_text()
    assert f"(http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}?workflowType=machine_learning)" in report


def test_same_params_and_seed_give_identical_metrics_twice(repo):
    before = {path: (repo / path).read_bytes() for path in
              ["reports/metrics.json", "reports/test_predictions.csv", "reports/attention.json"]}
    retrained = ["train_self", "train_mha", "evaluate"]
    assert stages_run(run(["dvc", "repro", "--force", "--single-item", *retrained], repo).stdout) == retrained
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
    assert run([*predict, "--model", "mha", "--file", "new.txt"], repo).stdout == result.stdout
    logged = json.loads((repo / "models" / "mha" / "mlflow_run.json").read_text())
    for uri in (f"models:/{logged['registered_model']}/{logged['registered_version']}",
                f"runs:/{logged['run_id']}/model"):
        from_mlflow = run([*predict, "--file", "new.csv", "--model-uri", uri], repo)
        assert from_mlflow.stdout == result.stdout, uri
        assert "Downloading artifacts" not in from_mlflow.stderr, uri
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

    (repo / "headerless.txt").write_text("The acting is awful.\t0\nA charming film.\t1\nNot good.\t0\n")
    headerless = repo_params_file(repo, "headerless.yaml", header=False, text_column=0, label_column=1)
    by_position = invoke("predict", ["--file", "headerless.txt", "--model", "mha", "--params", headerless,
                                     "--label-column", "1"], repo, monkeypatch)
    assert by_position.exit_code == 0, by_position.output
    assert by_position.stdout == result.stdout
    assert by_position.stderr.splitlines()[0].replace("headerless.txt column 1", "labelled.csv column 'label'") == scores
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
    logged = json.loads((repo / "models" / "self" / "mlflow_run.json").read_text())
    uri = f"models:/{logged['registered_model']}/{logged['registered_version']}"
    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    local = ReviewClassifier.load(repo / "models" / "self" / "model.pt", repo / "data" / "processed" / "vocab.json",
                                  max_len=64, keep="head_tail").predict(texts, top=2)
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
    assert "Loss per epoch" in html and "ROC curves" in html and "Test accuracy by review length" in html


def test_changing_heads_reruns_only_mha_and_downstream_as_an_experiment(repo):
    result = run(["dvc", "exp", "run", "-S", "data.source=synthetic", "-S", "model.heads=8"], repo)
    assert stages_run(result.stdout) == ["train_mha", "evaluate", "report"]
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    experiments = [e for commit in shown for e in (commit.get("experiments") or [])]
    heads = [rev["data"]["params"]["params.yaml"]["data"]["model"]["heads"]
             for e in experiments for rev in e["revs"]]
    assert 8 in heads
    metrics = [rev["data"]["metrics"]["reports/metrics.json"]["data"] for e in experiments for rev in e["revs"]]
    assert all({"self", "mha", "baseline"} <= set(m) and "accuracy" in m["mha"] for m in metrics)
    name = next(e["name"] for e in experiments)
    run(["dvc", "plots", "diff", "main", name, "-o", "diff_html"], repo)
    html = (repo / "diff_html" / "index.html").read_text()
    assert "Test accuracy by review length" in html and name in html
    assert stages_run(run(["dvc", "repro"], repo).stdout) == []
    mha_runs = [r for r in mlflow_runs(repo) if r["tags"]["model"] == "mha"]
    assert mha_runs[-1]["params"]["model.heads"] == "8" and mha_runs[-1]["tags"].get("dvc.exp_name")


def test_queued_experiments_run_in_parallel_in_temporary_copies_and_record_to_the_checkouts_store(repo, tmp_path):
    before = {r["id"] for r in mlflow_runs(repo)}
    for change in ("model.heads=1", "model.rnn=gru"):
        run(["dvc", "exp", "run", "--queue", "-S", change], repo)
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
    # Each experiment retrained only the model its change touches: one new run each, nothing else.
    new = {r["tags"]["model"]: r for r in mlflow_runs(repo) if r["id"] not in before}
    assert sorted(new) == ["mha", "self"]
    assert new["mha"]["params"]["model.heads"] == "1" and new["self"]["params"]["model.rnn"] == "gru"
    assert all(r["status"] == "FINISHED" and r["metrics"].get("test_accuracy") is not None for r in new.values())
    assert all(r["tags"].get("dvc.exp_name") for r in new.values())
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def test_imdb_pipeline_on_real_reviews_served_over_http(tmp_path, http_dir):
    if not SHARED_IMDB.is_file():
        pytest.skip(f"real IMDB archive not found at {SHARED_IMDB} (../shared is absent)")
    served, url = http_dir
    (served / "aclImdb_v1_labeled.tar.gz").symlink_to(SHARED_IMDB)
    params = small_params(**{"data.source": "imdb", "data.url": f"{url}/aclImdb_v1_labeled.tar.gz",
                             "data.md5": SHARED_IMDB_MD5, "data.limit": 200, "tokenize.max_len": 128})
    repo = make_dvc_repo(tmp_path / "project", params)
    result = run(["dvc", "repro"], repo)
    assert stages_run(result.stdout) == STAGES
    reviews = pd.read_parquet(repo / "data/raw/reviews.parquet")
    assert reviews.groupby("split").size().to_dict() == {"test": 200, "train": 200}
    assert reviews["rating"].notna().all() and "<br />" in "".join(reviews["text"])
    assert "IMDB reviews from http://127.0.0.1" in (repo / "reports/report.md").read_text()

    write_params(repo / "params.yaml", params | {"data": params["data"] | {"md5": "f" * 32}})
    failed = run(["dvc", "repro"], repo, check=False)
    assert failed.returncode != 0
    assert "MD5 checksum mismatch" in failed.stderr + failed.stdout
