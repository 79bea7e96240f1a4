import os
import socket
import subprocess
import sys
import time

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import IntegrityError

from pipeline import tracking
from pipeline.errors import PipelineError
from tests.conftest import ROOT, free_port


def test_checkout_root_is_found_from_a_dvc_temporary_experiment(tmp_path, monkeypatch):
    temp_copy = tmp_path / "project" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    temp_copy.mkdir(parents=True)
    monkeypatch.setenv("DVC_ROOT", str(temp_copy))
    assert tracking.checkout_root() == tmp_path / "project"
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'project' / 'mlflow.db'}"


def test_checkout_root_is_the_working_directory_outside_dvc(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking.checkout_root() == tmp_path


def test_mlflow_tracking_uri_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000"


def test_experiment_keeps_artifacts_beside_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    (tmp_path / "store").mkdir()
    experiment_id = tracking.use_experiment("comparison")
    assert tracking.use_experiment("comparison") == experiment_id
    experiment = mlflow.get_experiment(experiment_id)
    assert experiment.artifact_location == (tmp_path / "store" / "mlartifacts").as_uri()


def test_run_tags_name_the_model_stage_commit_and_dvc_experiment(monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "brave-owl")
    tags = tracking.run_tags("train_mha@43", model="mha", seed=43)
    assert tags["model"] == "mha" and tags["seed"] == "43" and tags["dvc.stage"] == "train_mha@43"
    assert tags["dvc.exp_name"] == "brave-owl"
    assert len(tags["git.commit"]) == 40 or tags["git.commit"] == "unknown"
    assert tracking.run_name("mha", 43) == "mha-seed43-brave-owl"
    assert tracking.run_name("comparison") == "comparison-brave-owl"


def test_an_unreachable_tracking_server_fails_at_once_naming_the_uri(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(PipelineError, match=f"MLflow tracking server {uri} is unreachable .*MLFLOW_TRACKING_URI"):
        tracking.use_experiment("comparison")


def test_a_server_that_accepts_but_never_answers_times_out(monkeypatch):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setattr(tracking, "SERVER_TIMEOUT_SECONDS", 0.5)
        started = time.monotonic()
        with pytest.raises(PipelineError, match="unreachable"):
            tracking.use_experiment("comparison")
        assert time.monotonic() - started < 30  # bounded, not MLflow's minutes of retries


def test_a_server_that_answers_its_health_check_is_used(http_dir, monkeypatch):
    served, url = http_dir
    (served / "health").write_text("OK")
    tracking.check_server(url)


def test_the_served_model_imports_only_the_packages_it_is_logged_with():
    """The logged model's pip requirements are SERVED_PACKAGES: its code must not reach scikit-learn or SciPy."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline.servable; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.split()
    assert not {"sklearn", "scipy.stats", "pipeline.metrics"} & set(imported)


@pytest.mark.parametrize("asked, expected", [(None, "true"), ("false", "false")])
def test_every_step_turns_mlflow_telemetry_off_however_it_was_started_unless_asked(asked, expected):
    """The README's `dvc repro` from an activated venv, DVC's queue and decide start the steps without the Makefile's
    environment: the package itself switches MLflow's usage reporting off, yet leaves a user's explicit choice."""
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_DISABLE_TELEMETRY"}
    if asked is not None:
        env["MLFLOW_DISABLE_TELEMETRY"] = asked
    probe = "import os, pipeline.train; print(os.environ['MLFLOW_DISABLE_TELEMETRY'])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == expected, result.stderr


def test_a_dataset_added_by_a_run_started_at_the_same_moment_is_logged_on_the_second_try(tmp_path, monkeypatch):
    """Two runs starting together both find a dataset missing and both insert it; the later insert fails on the
    store's primary key, as here the first try does, and the second try finds the row the other run added."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.use_experiment("comparison")
    dataset = mlflow.data.from_numpy(np.arange(6).reshape(3, 2), name="synthetic-train-tokens", digest="0123abcd")
    real_log_input, tries = mlflow.log_input, []

    def raced(*args, **kwargs):
        tries.append(args)
        if len(tries) == 1:
            with mlflow.start_run(nested=True):  # the other run, which adds the dataset first
                real_log_input(*args, **kwargs)
            cause = IntegrityError("INSERT INTO datasets", {}, Exception("UNIQUE constraint failed: datasets.name"))
            raise MlflowException(message=cause) from cause
        real_log_input(*args, **kwargs)

    monkeypatch.setattr(mlflow, "log_input", raced)
    with mlflow.start_run() as run:
        tracking.log_input(dataset, "training")
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(tries) == 2 and [i.dataset.digest for i in inputs] == ["0123abcd"]

    def down(*args, **kwargs):
        tries.append(args)
        raise MlflowException("store down")

    monkeypatch.setattr(mlflow, "log_input", down)
    with mlflow.start_run(), pytest.raises(MlflowException, match="store down"):
        tracking.log_input(dataset, "training")
    assert len(tries) == 3  # any other failure is not tried again
