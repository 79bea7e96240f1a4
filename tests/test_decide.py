"""`python -m pipeline.decide` end to end: real DVC in a temporary git repository adds seeds in rounds until the
verdict decides; a tie stops at --max-seeds; Ctrl-C in the middle of a round leaves params.yaml naming only seeds
whose models exist, and running the command again goes on from there."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml
from ruamel.yaml import YAML

from tests.conftest import ROOT, invoke, make_dvc_repo, run, small_params, tools_env, trained_in_process
from tests.test_pipeline import started_side_by_side, stages_run

def project(tmp_path_factory, seeds: list[int], **params) -> object:
    """A repository where `seeds` are trained and recorded, its params.yaml laid out and commented as the
    repository's own (which the command must keep)."""
    raw = small_params(**{"train.seeds": seeds} | params)
    repo = make_dvc_repo(tmp_path_factory.mktemp("decide"), raw)
    round_trip = YAML()
    document = round_trip.load((ROOT / "params.yaml").read_text())
    for section, values in raw.items():
        for key, value in values.items():
            if isinstance(value, list):
                document[section][key].clear()
                document[section][key].extend(value)
            else:
                document[section][key] = value
    with (repo / "params.yaml").open("w") as out:
        round_trip.dump(document, out)
    assert yaml.safe_load((repo / "params.yaml").read_text()) == raw
    with pytest.MonkeyPatch.context() as monkeypatch:
        trained_in_process(repo, seeds, monkeypatch)
    return repo


def seeds_of(repo) -> list[int]:
    return yaml.safe_load((repo / "params.yaml").read_text())["train"]["seeds"]


def has_models(repo, seed: int) -> bool:
    return all((repo / f"models/{kind}/seed-{seed}/{name}").is_file() for kind in ("self", "mha")
               for name in ("model.pt", "mlflow_run.json"))


def test_a_clear_difference_is_decided_in_one_round_and_dvc_repro_reproduces_it(tmp_path_factory):
    repo = project(tmp_path_factory, [42, 43, 44], **{"data.limit": 2000, "train.epochs": 6, "train.lr": 0.01})
    result = run([sys.executable, "-m", "pipeline.decide", "--round", "1"], repo)
    lines = [line for line in result.stdout.splitlines() if re.match(r"\d+ seeds?:|round:|decided|stopped", line)]
    assert lines[0].startswith("3 seeds: ") and "not_resolved" in lines[0] and "seeds needed" in lines[0]
    assert lines[1] == "round: training seeds 45 of both architectures"
    assert lines[3].startswith("4 seeds: ") and "better_beyond_margin" in lines[3]
    assert lines[-1].startswith("decided: Self-attention is better by more than the 0.50-point margin over 4 seeds")
    assert started_side_by_side(result.stdout) == [("train_self@45", "1"), ("train_mha@45", "1"),
                                                   ("faithfulness_self@45", "1"), ("faithfulness_mha@45", "1")]
    assert stages_run(result.stdout) == ["evaluate", "report"]
    assert seeds_of(repo) == [42, 43, 44, 45]
    assert re.search(r"(?m)^  seeds: \[42, 43, 44, 45\] +# each model trains once per seed", (repo / "params.yaml")
                     .read_text()), "params.yaml's layout and comments are kept"
    assert "+  seeds: [42, 43, 44, 45]" in run(["git", "diff", "params.yaml"], repo).stdout
    metrics = (repo / "reports/metrics.json").read_bytes()
    assert json.loads(metrics)["comparison"]["outcome"] == "better_beyond_margin"
    assert stages_run(run(["dvc", "repro"], repo).stdout) == []
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo).stdout
    report = (repo / "reports/report.md").read_text()
    assert "**Self-attention is better by more than the 0.50-point margin over 4 seeds.**" in report


def test_ctrl_c_in_a_round_keeps_only_trained_seeds_and_a_rerun_goes_on_to_the_maximum(tmp_path_factory):
    """Models at chance on a small test set: a tie that more seeds keep open, stopped at --max-seeds."""
    repo = project(tmp_path_factory, [42, 43], **{"compare.margin": 5})
    command = [sys.executable, "-m", "pipeline.decide", "--round", "1", "--max-seeds", "3"]
    process = subprocess.Popen(command, cwd=repo, env=tools_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 300
    lock = repo / "dvc.lock"
    while "train_self@44" not in (lock.read_text() if lock.exists() else "") and process.poll() is None:
        assert time.monotonic() < deadline, "DVC never recorded seed 44 of self-attention"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # as Ctrl-C in a terminal reaches the command
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    kept = seeds_of(repo)
    assert stderr.strip().splitlines()[-1] == (f"interrupted: train.seeds in params.yaml is {kept}, the seeds whose "
                                               f"models were trained; run the command again to go on")
    assert kept in ([42, 43], [42, 43, 44]) and all(has_models(repo, seed) for seed in kept)
    # seed 44 is kept only if DVC recorded both its stages: a model written but not yet recorded when the Ctrl-C came
    # (its `dvc repro` waiting for DVC's lock) does not count, and the rerun below trains it again
    assert 44 not in kept or has_models(repo, 44)
    with sqlite3.connect(repo / "mlflow.db") as db:
        assert "RUNNING" not in {status for status, in db.execute("SELECT status FROM runs")}

    again = run(command, repo)
    assert "train_self@44: started" not in again.stdout  # trained before the interrupt, kept by DVC
    assert again.stdout.strip().splitlines()[-1] == "stopped at 3 seeds per architecture (the maximum, 3): not resolved"
    assert seeds_of(repo) == [42, 43, 44] and all(has_models(repo, seed) for seed in (42, 43, 44))
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo).stdout


def test_max_seeds_beyond_the_plan_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(small_params()))
    result = invoke("decide", ["--max-seeds", "30"], tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert result.output.strip() == ("error: --max-seeds 30 is more than compare.max_seeds=20, the plan the verdict's "
                                     "error is spread over: raise compare.max_seeds in params.yaml instead")
    assert not (tmp_path / "dvc.lock").exists()
    assert os.listdir(tmp_path) == ["params.yaml"]
