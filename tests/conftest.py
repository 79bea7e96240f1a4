"""Shared fixtures: a local HTTP server, small real-layout archives, params, and throwaway DVC repos."""

from __future__ import annotations

import importlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner, Result

from benchmarks.mirror import serve
from pipeline.params import Params, parse_params

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMDB = ROOT.parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"
SHARED_IMDB_MD5 = "0e23b2773db9dbb7b02dc6cf1dae5f09"
PROJECT_FILES = ["dvc.yaml", "params.yaml", "pipeline", "data/example_reviews.csv", "data/.gitignore", ".dvcignore",
                 ".gitignore"]

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)


def repo_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def small_params(**overrides) -> dict:
    """The repo's params.yaml, shrunk so a whole pipeline run takes seconds; overrides as 'section.key'."""
    raw = repo_params()
    small = {
        "data.source": "synthetic", "data.limit": 300,
        "tokenize.vocab_size": 400, "tokenize.max_len": 64, "tokenize.eval_max_len": 128,
        "model.embed_dim": 16, "model.hidden_dim": 16, "model.hops": 2, "model.heads": 2,
        "train.epochs": 2, "train.batch_size": 32, "train.seeds": [42], "train.device": "cpu",
        "faithfulness.reviews": 60, "faithfulness.random_draws": 2,
    }
    for key, value in (small | overrides).items():
        section, name = key.split(".")
        raw[section][name] = value
    return raw


def typed_small_params(**overrides) -> Params:
    return parse_params(small_params(**overrides))


def write_params(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tools_env(**env) -> dict[str, str]:
    """This environment with the test's Python environment (dvc, mlflow, python) first on PATH."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"} | env


def run(cmd: list[str], cwd: Path, check: bool = True, **env) -> subprocess.CompletedProcess:
    """Run a command with the test's Python environment first on PATH, as `make` does."""
    result = subprocess.run(cmd, cwd=cwd, env=tools_env(**env), capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def invoke(step: str, args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    """`python -m pipeline.<step> <args>` run in `cwd` in this process, without the seconds a new
    interpreter spends importing torch and MLflow: for checks that need no separate process."""
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(importlib.import_module(f"pipeline.{step}").app, args)


def make_dvc_repo(dest: Path, params: dict) -> Path:
    """A fresh git + DVC repository holding this project's pipeline, committed."""
    for name in PROJECT_FILES:
        source = ROOT / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    write_params(dest / "params.yaml", params)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "config", "user.email", "tests@example.com"], dest)
    run(["git", "config", "user.name", "Tests"], dest)
    run(["dvc", "init", "-q"], dest)
    run(["dvc", "config", "core.analytics", "false"], dest)
    run(["dvc", "config", "core.check_update", "false"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "pipeline"], dest)
    return dest


def trained_in_process(repo, seeds: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage run in this process (no torch or MLflow start-up per stage), then recorded in dvc.lock by `dvc
    commit` as `dvc repro` would have recorded it."""
    steps = [["download"], ["tokenize"], ["baseline"]]
    steps += [[step, "--model", kind, "--seed", str(seed)] for step in ("train", "faithfulness")
              for kind in ("self", "mha") for seed in seeds]
    for step in [*steps, ["evaluate"], ["report"]]:
        result = invoke(step[0], step[1:], repo, monkeypatch)
        assert result.exit_code == 0, (step, result.output)
    run(["dvc", "commit", "--force", "--quiet"], repo)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo).stdout
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "first seeds"], repo)


@pytest.fixture(autouse=True)
def mlflow_left_as_found():
    """A test that points MLflow at a store (set_tracking_uri, set_experiment) must not steer later
    tests or their subprocesses: set_experiment also exports MLFLOW_EXPERIMENT_ID."""
    yield
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_dir(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    server = serve(served)
    yield served, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def imdb_layout_archive(path: Path, reviews: dict[str, str]) -> Path:
    """A .tar.gz with the given member names (aclImdb/...) and texts."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in reviews.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="session")
def imdb_sample(tmp_path_factory) -> Path:
    """A small archive of the first 40 real reviews of each train/test pos/neg folder of ../shared."""
    return sample_of_shared_imdb(tmp_path_factory.mktemp("imdb") / "aclImdb_sample.tar.gz", per_folder=40)


def sample_of_shared_imdb(path: Path, per_folder: int) -> Path:
    if not SHARED_IMDB.is_file():
        pytest.skip(f"real IMDB archive not found at {SHARED_IMDB} (../shared is absent)")
    taken: dict[str, str] = {}
    counts: dict[str, int] = {}
    with tarfile.open(SHARED_IMDB, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] in ("train", "test"):
                folder = "/".join(parts[1:3])
                if counts.get(folder, 0) < per_folder:
                    counts[folder] = counts.get(folder, 0) + 1
                    taken[member.name] = tar.extractfile(member).read().decode("utf-8")
            if len(counts) == 4 and all(c >= per_folder for c in counts.values()):
                break
    return imdb_layout_archive(path, taken)
