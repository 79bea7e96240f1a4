"""The stage scripts as a user runs them: `python -m pipeline.<step>`.

Checks that need no real process (help, a missing input) run the step's Typer app in this process,
which spares the ~10 s of importing torch and MLflow per check; the rest start the real command.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import Result

from tests.conftest import ROOT, invoke, run, small_params, write_params

STEPS = ["download", "tokenize", "train", "baseline", "evaluate", "report", "predict"]


def assert_one_line_error(result: Result, message: str) -> None:
    """Exit 1 through the step's error handler: one line on stderr, no exception escaped."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_help(step, monkeypatch):
    result = invoke(step, ["--help"], ROOT, monkeypatch)
    assert result.exit_code == 0 and "--params" in result.stdout


def test_bad_params_fail_before_any_work_with_one_line_and_no_traceback(tmp_path):
    params = small_params(**{"model.heads": 5, "train.lr": 0})
    write_params(tmp_path / "params.yaml", params)
    result = run([sys.executable, "-m", "pipeline.download", "--params", "params.yaml"], tmp_path, check=False,
                 PYTHONPATH=str(ROOT))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: 2 problem(s)")
    assert not (tmp_path / "data").exists()


def test_training_without_tokenized_data_says_which_stage_to_run(tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", small_params())
    assert_one_line_error(invoke("train", ["--model", "self"], tmp_path, monkeypatch), "run the tokenize stage first")
    (tmp_path / "data" / "processed").mkdir(parents=True)
    (tmp_path / "data" / "processed" / "vocab.json").write_text("{}")  # an interrupted tokenize: no splits
    result = invoke("train", ["--model", "self"], tmp_path, monkeypatch)
    assert_one_line_error(result, "train.npz not found: run the tokenize stage first")


def test_download_with_a_wrong_checksum_names_it_and_writes_nothing(tmp_path, http_dir):
    served, url = http_dir
    (served / "aclImdb_v1.tar.gz").write_bytes(b"not the archive")
    params = small_params(**{"data.source": "imdb", "data.url": f"{url}/aclImdb_v1.tar.gz"})
    write_params(tmp_path / "params.yaml", params)
    result = run([sys.executable, "-m", "pipeline.download"], tmp_path, check=False, PYTHONPATH=str(ROOT))
    assert result.returncode == 1
    assert "MD5 checksum mismatch" in result.stderr and "7c2ac02c03563afcf9b574c7e56c153a" in result.stderr
    assert not (tmp_path / "data" / "raw").exists()
    assert not list((tmp_path / "data" / "cache").glob("*.tar.gz"))


@pytest.mark.parametrize("step, stage", [("baseline", "download"), ("evaluate", "tokenize"), ("report", "evaluate")])
def test_later_steps_without_their_inputs_say_which_stage_to_run(tmp_path, monkeypatch, step, stage):
    write_params(tmp_path / "params.yaml", small_params())
    assert_one_line_error(invoke(step, [], tmp_path, monkeypatch), f"run the {stage} stage first (dvc repro {stage})")


def prepare_training_data(tmp_path, monkeypatch, params: dict) -> None:
    """params.yaml plus what download and tokenize write: a folder ready for the train step."""
    write_params(tmp_path / "params.yaml", params)
    for step in ["download", "tokenize"]:
        assert invoke(step, [], tmp_path, monkeypatch).exit_code == 0


def test_an_unreachable_mlflow_server_stops_training_before_any_work(tmp_path, monkeypatch):
    prepare_training_data(tmp_path, monkeypatch, small_params())
    uri = "http://127.0.0.1:9"  # the discard port: nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = invoke("train", ["--model", "mha"], tmp_path, monkeypatch)
    assert_one_line_error(result, f"error: MLflow tracking server {uri} is unreachable")
    assert not (tmp_path / "models").exists()


def test_download_warns_about_reviews_in_both_train_and_test(tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("text,label,split\ngreat,1,train\nawful,0,train\ngreat,1,test\nmeh,0,test\n")
    write_params(tmp_path / "params.yaml", small_params(**{"data.source": "csv", "data.path": str(table)}))
    result = run([sys.executable, "-m", "pipeline.download"], tmp_path, PYTHONPATH=str(ROOT))
    assert "warning: 1 test review(s) also appear word for word in the train split" in result.stderr
    assert (tmp_path / "data/raw/reviews.parquet").is_file()


def test_ctrl_c_in_training_leaves_no_model_and_resume_continues_from_the_last_epoch(tmp_path, monkeypatch):
    params = small_params(**{"data.limit": 0, "train.epochs": 40, "train.patience": 40})
    prepare_training_data(tmp_path, monkeypatch, params)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    # a shell runs background jobs with SIGINT ignored, which children inherit: give the trainer the default back
    training = subprocess.Popen([sys.executable, "-m", "pipeline.train", "--model", "self"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    checkpoint = tmp_path / "models/self/checkpoint.pt"
    while not checkpoint.exists() and training.poll() is None:
        time.sleep(0.05)
    training.send_signal(signal.SIGINT)
    _, stderr = training.communicate(timeout=120)
    assert training.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: no output was written", stderr
    assert not (tmp_path / "models/self/model.pt").exists() and checkpoint.is_file()

    write_params(tmp_path / "params.yaml", params | {"train": params["train"] | {"epochs": 3, "resume": True}})
    resumed = run([sys.executable, "-m", "pipeline.train", "--model", "self"], tmp_path, PYTHONPATH=str(ROOT))
    assert re.search(r"resuming from .*checkpoint.pt after epoch \d+", resumed.stdout + resumed.stderr), resumed
    assert "Downloading artifacts" not in resumed.stderr, "MLflow's progress bars are back in the stage's log"
    history = (tmp_path / "models/self/history.csv").read_text().splitlines()
    assert len(history) == 1 + 3 and (tmp_path / "models/self/model.pt").is_file(), (history, resumed.stdout)


def test_predict_without_a_trained_model_says_which_stage_to_run(tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", small_params())
    result = invoke("predict", ["great film", "--model", "mha"], tmp_path, monkeypatch)
    assert_one_line_error(result, "run the train_mha stage first")
