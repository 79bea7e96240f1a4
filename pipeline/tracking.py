"""MLflow: which store every run lands in, and what a training run records.

DVC runs queued and `--temp` experiments in a copy of the repo under `<checkout>/.dvc/tmp/exps/`;
runs made there still go to the checkout's own store, so `mlflow ui` in the checkout shows them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import urllib.error
import urllib.request
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset import Dataset
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PyFuncModel
from sqlalchemy.exc import IntegrityError

from pipeline import interrupts
from pipeline.errors import PipelineError
from pipeline.params import DataParams, Params, TokenizeParams, model_names

PACKAGE_DIR = Path(__file__).resolve().parent
SERVER_TIMEOUT_SECONDS = 10
SERVED_PACKAGES = ("mlflow", "torch", "numpy", "pandas", "pydantic", "pyyaml")  # what pipeline/servable.py imports
# The experiment's kind: MLflow 3's UI shows a custom_model_development experiment's runs, not its GenAI pages.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default
UI_VIEW = "workflowType=machine_learning"  # in a UI link: open the model-training view, whatever the browser chose last
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


def is_server(uri: str) -> bool:
    """A tracking server (whose UI is its own address), rather than a local store."""
    return uri.startswith(("http://", "https://"))


def connect() -> str:
    """Point MLflow at the project's store, checking first that a tracking server answers; returns its URI."""
    uri = tracking_uri()
    if is_server(uri):
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
        with interrupts.held():
            return _use_experiment(name, uri)
    except MlflowException as error:
        raise PipelineError(f"MLflow tracking store {uri} failed: {str(error).splitlines()[0]}") from None


def _use_experiment(name: str, uri: str) -> str:
    if mlflow.get_experiment_by_name(name) is None:
        artifacts = None
        if uri.startswith("sqlite:///"):
            artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
        try:
            mlflow.create_experiment(name, artifact_location=artifacts)
        except MlflowException:  # created meanwhile by a parallel run
            pass
    experiment = mlflow.set_experiment(name)
    for key, value in EXPERIMENT_KIND.items():
        if key not in experiment.tags:
            mlflow.set_experiment_tag(key, value)
    return experiment.experiment_id


@contextlib.contextmanager
def recorded_run(run_name: str, tags: dict[str, str], description: str) -> Iterator[Run]:
    """A new run in the active experiment that ends FINISHED, FAILED on an error, or KILLED when the command is
    interrupted: never left RUNNING."""
    with interrupts.held():
        run = mlflow.start_run(run_name=run_name, tags=tags, description=description)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        with interrupts.held():
            mlflow.end_run(status)


@contextlib.contextmanager
def reopened_run(run_id: str) -> Iterator[None]:
    """A finished run, to add to (evaluate's test metrics, the report): it stays FINISHED whatever happens here."""
    with interrupts.held():
        mlflow.start_run(run_id=run_id)
    try:
        yield
    finally:
        with interrupts.held():
            mlflow.end_run("FINISHED")


def ui_link(store: str, experiment_id: str, run_id: str | None = None) -> str:
    """An experiment's or a run's page in the MLflow UI, in the model-training view: on the tracking server, or on
    `mlflow ui` at its default address for a local store."""
    server = store.rstrip("/") if is_server(store) else LOCAL_UI
    page = f"/#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{server}{page}?{UI_VIEW}"


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


def run_tags(stage: str, **labels: str | int) -> dict[str, str]:
    """The DVC stage, the code's commit and the DVC experiment a run belongs to, with `labels` (model, seed)."""
    commit = git_commit()
    tags = {key: str(value) for key, value in labels.items()}
    tags |= {"dvc.stage": stage, "git.commit": commit, "mlflow.source.git.commit": commit}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def run_name(what: str, seed: int | None = None) -> str:
    """e.g. self-seed42, or self-seed42-brave-owl in DVC experiment brave-owl."""
    name = what + (f"-seed{seed}" if seed is not None else "")
    experiment = os.environ.get("DVC_EXP_NAME")
    return f"{name}-{experiment}" if experiment else name


def dataset_source(data: DataParams) -> DatasetSource:
    """Where the reviews come from, as MLflow records it: IMDB's URL, the user's file, or the synthetic generator."""
    if data.source == "synthetic":
        return CodeDatasetSource({"generator": "pipeline/synthetic.py", "data.seed": str(data.seed)})
    location = data.url if data.source == "imdb" else data.path
    if location.startswith(("http://", "https://")):
        return HTTPDatasetSource(location)
    if "://" not in location:
        location = Path(location).resolve().as_uri()
    with warnings.catch_warnings():  # the local and the file:// artifact sources both claim a file:// URI
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        return resolve_dataset_source(location)


def dataset_name(data: DataParams, split: str, form: str) -> str:
    """e.g. imdb-train-tokens: where the reviews come from, which split, and in which form the run read them."""
    origin = Path(data.path).stem if data.source == "csv" else data.source
    return f"{origin}-{split}-{form}"


def digest(*arrays: np.ndarray) -> str:
    """A fingerprint of every value (MLflow's own digest samples only the first 10,000)."""
    hashed = hashlib.md5()
    for array in arrays:
        hashed.update(str(array.shape).encode())
        hashed.update(np.ascontiguousarray(array).data)
    return hashed.hexdigest()[:8]


def token_split(data: DataParams, split: str, ids: np.ndarray, lengths: np.ndarray, labels: np.ndarray) -> Dataset:
    """A tokenized split as MLflow records it; made once, it can be logged to many runs (its digest reads every
    value: 0.16 s for IMDB's test split)."""
    return mlflow.data.from_numpy({"ids": ids, "lengths": lengths}, source=dataset_source(data), targets=labels,
                                  name=dataset_name(data, split, "tokens"), digest=digest(ids, lengths, labels))


def log_token_split(data: DataParams, split: str, context: str, ids: np.ndarray, lengths: np.ndarray,
                    labels: np.ndarray) -> None:
    """Record a tokenized split the active run read (context: training, validation or testing)."""
    log_input(token_split(data, split, ids, lengths, labels), context)


def log_text_split(data: DataParams, split: str, context: str, reviews: pd.DataFrame) -> None:
    """Record the raw reviews and labels of a split the active run read."""
    table = reviews[["text", "label"]].reset_index(drop=True)
    fingerprint = digest(pd.util.hash_pandas_object(table, index=False).to_numpy())
    # MLflow's schema inference notes that integer labels cannot be missing: they never are
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(table, source=dataset_source(data), targets="label",
                                          name=dataset_name(data, split, "text"), digest=fingerprint)
    log_input(dataset, context)


def log_input(dataset: Dataset, context: str) -> None:
    """`mlflow.log_input`, once more if a run started at the same moment (trainings side by side, queued experiments)
    added the same dataset between MLflow's check for it and its insert: the second try finds it there."""
    with interrupts.held():
        try:
            mlflow.log_input(dataset, context=context)
        except MlflowException as error:
            if not isinstance(error.__cause__, IntegrityError):
                raise
            mlflow.log_input(dataset, context=context)


def log_params(params: dict[str, object]) -> None:
    with interrupts.held():
        mlflow.log_params(params)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    with interrupts.held():
        mlflow.log_metrics(metrics, step=step)


def set_tags(tags: dict[str, str]) -> None:
    with interrupts.held():
        mlflow.set_tags(tags)


def nest_runs(parent_id: str, run_ids: list[str]) -> None:
    """Show the runs under `parent_id` in the MLflow UI. A seed run that DVC's cache lets a later pipeline run reuse
    moves under that run's comparison."""
    client = MlflowClient()
    with interrupts.held():
        for run_id in run_ids:
            client.set_tag(run_id, "mlflow.parentRunId", parent_id)


def register_model(model_uri: str, name: str, tags: dict[str, str], description: str) -> str:
    """A new version of registered model `name` for a logged model; returns its version number."""
    with interrupts.held():
        registered = mlflow.register_model(model_uri, name, tags=tags)
        MlflowClient().update_model_version(name, registered.version, description)
    return str(registered.version)


def log_file(path: Path, artifact_path: str) -> None:
    """A file among the active run's artifacts."""
    with interrupts.held():
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def attach_report(run_id: str, report: Path, figures: Path) -> None:
    """The report and its pictures, under `report/` in a finished run's artifacts."""
    with reopened_run(run_id), interrupts.held():
        mlflow.log_artifact(str(report), artifact_path="report")
        mlflow.log_artifacts(str(figures), artifact_path="report/figures")


def run_description(params: Params, kind: str, train_reviews: int, val_reviews: int = 0,
                    seed: int | None = None) -> str:
    """The one line the MLflow UI shows for a run: which model, on which reviews, with which key settings."""
    data, model, train = params.data, params.model, params.train
    reviews = f"{train_reviews:,} train" + (f" / {val_reviews:,} validation" if val_reviews else "") + " reviews"
    if kind == "baseline":
        return f"{model_names(params)[kind]} on {data_origin(data)} ({reviews}); seed {data.seed}"
    penalty = f", hop penalty {model.hop_penalty:g}" if model.hop_penalty else ""
    return (f"{model_names(params)[kind]} on {data_origin(data)} ({reviews}); embed {model.embed_dim}, hidden "
            f"{model.hidden_dim}, dropout {model.dropout}{penalty}; Adam lr {train.lr}, batch {train.batch_size}, "
            f"up to {train.epochs} epochs, seed {seed}")


def data_origin(data: DataParams) -> str:
    return {"imdb": "IMDB", "csv": data.path, "synthetic": "the synthetic corpus"}[data.source]


def log_servable_model(weights: Path, vocab: Path, tokenize: TokenizeParams, precision: str) -> ModelInfo:
    """Log the trained model as an MLflow model that takes raw text (see pipeline/servable.py); evaluate registers
    one seed's model per architecture."""
    from pipeline.classifier import DEFAULT_TOP_WORDS  # here, not at the top: it imports torch, which the
    # stages that only record runs (baseline, report) would otherwise load for nothing

    # Checking the input example reads the just-logged files back from the local store; its two
    # "Downloading artifacts" progress bars would only clutter the stage's log. Set the variable to show them.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with interrupts.held():
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=PACKAGE_DIR / "servable.py",
            artifacts={"weights": str(weights), "vocab": str(vocab)},
            model_config={"max_len": tokenize.eval_max_len, "keep": tokenize.keep, "precision": precision},
            code_paths=[str(PACKAGE_DIR)],
            input_example=(SERVABLE_INPUT_EXAMPLE, {"top": DEFAULT_TOP_WORDS}),
            pip_requirements=[f"{name}=={version(name).split('+')[0]}" for name in SERVED_PACKAGES],
        )
