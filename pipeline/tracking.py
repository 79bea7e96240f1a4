"""MLflow: which store every run lands in, and what a training run records.

DVC runs queued and `--temp` experiments in a copy of the repo under `<checkout>/.dvc/tmp/exps/`;
runs made there still go to the checkout's own store, so `mlflow ui` in the checkout shows them all.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from pipeline.errors import PipelineError

PACKAGE_DIR = Path(__file__).resolve().parent
SERVER_TIMEOUT_SECONDS = 10


def checkout_root() -> Path:
    """The project checkout, also when running inside a DVC experiment's temporary copy."""
    here = Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if folder.name == ".dvc":
            return folder.parent
    return here


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{checkout_root() / 'mlflow.db'}"


def use_experiment(name: str) -> str:
    """Point MLflow at the project's store and experiment; returns the experiment id.

    A local sqlite store keeps artifacts in `mlartifacts/` beside the database, not in the
    working directory, which for a DVC temporary experiment is deleted afterwards.
    """
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    try:
        if mlflow.get_experiment_by_name(name) is None:
            artifacts = None
            if uri.startswith("sqlite:///"):
                artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
            try:
                mlflow.create_experiment(name, artifact_location=artifacts)
            except MlflowException:  # created meanwhile by a parallel run
                pass
        return mlflow.set_experiment(name).experiment_id
    except MlflowException as error:
        raise PipelineError(f"MLflow tracking store {uri} failed: {str(error).splitlines()[0]}") from None


def check_server(uri: str) -> None:
    """Fail in seconds, naming the URI, when a tracking server does not answer; MLflow's own client
    would retry with backoff for minutes first."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_SECONDS):
            pass
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PipelineError(
            f"MLflow tracking server {uri} is unreachable ({reason}): start it, fix MLFLOW_TRACKING_URI, "
            f"or unset it to record runs in the local mlflow.db"
        ) from None


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_tags(kind: str, stage: str) -> dict[str, str]:
    commit = git_commit()
    tags = {"model": kind, "dvc.stage": stage, "git.commit": commit, "mlflow.source.git.commit": commit}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def run_name(kind: str) -> str:
    experiment = os.environ.get("DVC_EXP_NAME")
    return f"{kind}-{experiment}" if experiment else kind


def log_torch_model(model: torch.nn.Module, example_ids: np.ndarray) -> None:
    """Log the model as an MLflow PyTorch model whose signature maps token ids to logits."""
    model.eval()
    with torch.inference_mode():
        logits = model(torch.from_numpy(example_ids).long()).numpy()
    mlflow.pytorch.log_model(
        model,
        name="model",
        signature=infer_signature(example_ids.astype(np.int64), logits),
        serialization_format="pickle",
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"],
    )
