"""MLflow: which store every run lands in, and what a training run records.

DVC runs queued and `--temp` experiments in a copy of the repo under `<checkout>/.dvc/tmp/exps/`;
runs made there still go to the checkout's own store, so `mlflow ui` in the checkout shows them all.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PyFuncModel

from pipeline.errors import PipelineError
from pipeline.params import TokenizeParams

PACKAGE_DIR = Path(__file__).resolve().parent
SERVER_TIMEOUT_SECONDS = 10
SERVED_PACKAGES = ("mlflow", "torch", "numpy", "pandas", "pydantic", "pyyaml")  # what pipeline/servable.py imports
SERVABLE_INPUT_EXAMPLE = ["A moving story, wonderfully acted.", "Dull, predictable and far too long."]


def checkout_root() -> Path:
    """The project checkout, also when running inside a DVC experiment's temporary copy."""
    here = Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if folder.name == ".dvc":
            return folder.parent
    return here


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{checkout_root() / 'mlflow.db'}"


def connect() -> str:
    """Point MLflow at the project's store, checking first that a tracking server answers; returns its URI."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    """Point MLflow at the project's store and experiment; returns the experiment id.

    A local sqlite store keeps artifacts in `mlartifacts/` beside the database, not in the
    working directory, which for a DVC temporary experiment is deleted afterwards.
    """
    uri = connect()
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


def load_servable_model(uri: str) -> PyFuncModel:
    """A model logged by a train stage, from any MLflow model URI (runs:/, models:/, a path)."""
    store = connect()
    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as error:
        raise PipelineError(f"cannot load MLflow model {uri!r} from {store}: {str(error).splitlines()[0]}") from None


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


def log_servable_model(weights: Path, vocab: Path, tokenize: TokenizeParams, registered_name: str) -> ModelInfo:
    """Log the trained model as an MLflow model that takes raw text (see pipeline/servable.py) and register
    it as a new version of `registered_name`."""
    from pipeline.classifier import DEFAULT_TOP_WORDS  # here, not at the top: it imports torch, which the
    # stages that only record runs (baseline, report) would otherwise load for nothing

    # Checking the input example reads the just-logged files back from the local store; its two
    # "Downloading artifacts" progress bars would only clutter the stage's log. Set the variable to show them.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=PACKAGE_DIR / "servable.py",
        artifacts={"weights": str(weights), "vocab": str(vocab)},
        model_config={"max_len": tokenize.eval_max_len, "keep": tokenize.keep},
        code_paths=[str(PACKAGE_DIR)],
        input_example=(SERVABLE_INPUT_EXAMPLE, {"top": DEFAULT_TOP_WORDS}),
        registered_model_name=registered_name,
        pip_requirements=[f"{name}=={version(name).split('+')[0]}" for name in SERVED_PACKAGES],
    )
