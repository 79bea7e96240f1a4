"""Ctrl-C at chosen moments of a real `python -m pipeline.<step>` process: while it imports, during an epoch,
inside MLflow calls. The process interrupts itself (os.kill, SIGINT) from a sitecustomize hook at the named
point, so each case lands exactly where it says, however busy the machine is."""

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, invoke, run, small_params, write_params

# Loaded by Python at start-up from PYTHONPATH. INTERRUPT_IMPORT=module: SIGINT when that module is first imported.
# INTERRUPT_CALL=module:function (a dotted path): SIGINT as that function is called, from the first call on which
# the file INTERRUPT_ONCE_EXISTS (if given) exists; once.
HOOK = textwrap.dedent('''
    import importlib, os, signal, sys

    def interrupt():
        os.kill(os.getpid(), signal.SIGINT)

    if os.environ.get("INTERRUPT_IMPORT"):
        class InterruptOnImport:
            def find_spec(self, name, path=None, target=None):
                if name == os.environ["INTERRUPT_IMPORT"]:
                    sys.meta_path.remove(self)
                    interrupt()
                return None
        sys.meta_path.insert(0, InterruptOnImport())

    if os.environ.get("INTERRUPT_CALL"):
        module_name, function_path = os.environ["INTERRUPT_CALL"].split(":")
        owner = importlib.import_module(module_name)
        *parents, name = function_path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, name)
        done = []

        def interrupting(*args, **kwargs):
            if not done and os.path.exists(os.environ.get("INTERRUPT_ONCE_EXISTS", ".")):
                done.append(True)
                interrupt()
            return original(*args, **kwargs)
        setattr(owner, name, interrupting)
''')


def interrupted(step: list[str], cwd: Path, **where: str) -> subprocess.CompletedProcess:
    """Run `python -m pipeline.<step>` in `cwd`, interrupting itself where `where` says (see HOOK)."""
    hook = cwd / "interrupt-hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERRUPT_")}
    env |= {"PYTHONPATH": f"{hook}{os.pathsep}{ROOT}"} | where
    return subprocess.run([sys.executable, "-m", f"pipeline.{step[0]}", *step[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_interrupted(result: subprocess.CompletedProcess, last_line: str) -> None:
    """Exit 130, no traceback (SQLAlchemy logs one when a query is cut), the given line last on stderr."""
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "Exception during reset" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == last_line, result.stderr


def run_statuses(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / "mlflow.db") as db:
        return dict(db.execute("SELECT name, status FROM runs").fetchall())


@pytest.fixture
def ready_to_train(tmp_path, monkeypatch) -> Path:
    """params.yaml and what download and tokenize write, for a 3-epoch training of ~2 s an epoch."""
    write_params(tmp_path / "params.yaml", small_params(**{"train.epochs": 3, "train.patience": 3}))
    for step in ["download", "tokenize"]:
        assert invoke(step, [], tmp_path, monkeypatch).exit_code == 0
    return tmp_path


@pytest.mark.parametrize("step", [["train", "--model", "self", "--seed", "42"], ["evaluate"], ["predict", "Fine."]])
def test_ctrl_c_while_a_step_imports_exits_at_once_with_one_line(step, tmp_path):
    result = interrupted(step, tmp_path, INTERRUPT_IMPORT="torch")
    assert result.returncode == 130 and result.stdout == "", result
    assert result.stderr == "interrupted while starting: no output was written\n"


def test_ctrl_c_during_an_epoch_keeps_the_checkpoint_marks_the_run_killed_and_resume_goes_on(ready_to_train):
    folder = ready_to_train
    checkpoint = folder / "models/self/seed-42/checkpoint.pt"
    result = interrupted(["train", "--model", "self", "--seed", "42"], folder,
                         INTERRUPT_CALL="torch.nn.utils:clip_grad_norm_", INTERRUPT_ONCE_EXISTS=str(checkpoint))
    assert_interrupted(result, "interrupted: only models/self/seed-42/checkpoint.pt was written")
    assert "epoch 1:" in result.stdout and "epoch 2:" not in result.stdout
    assert checkpoint.is_file() and not (folder / "models/self/seed-42/model.pt").exists()
    assert run_statuses(folder) == {"self-seed42": "KILLED"}

    params = yaml.safe_load((folder / "params.yaml").read_text())
    write_params(folder / "params.yaml", params | {"train": params["train"] | {"resume": True}})
    resumed = run([sys.executable, "-m", "pipeline.train", "--model", "self", "--seed", "42"], folder,
                  PYTHONPATH=str(ROOT))
    assert "resuming from models/self/seed-42/checkpoint.pt after epoch 1" in resumed.stdout + resumed.stderr
    assert "Downloading artifacts" not in resumed.stderr, "MLflow's progress bars are back in the stage's log"
    history = (folder / "models/self/seed-42/history.csv").read_text().splitlines()
    assert len(history) == 1 + 3 and (folder / "models/self/seed-42/model.pt").is_file()


@pytest.mark.parametrize("call", ["mlflow:log_metrics", "mlflow.pyfunc:log_model"])
def test_ctrl_c_inside_an_mlflow_call_waits_for_it_then_marks_the_run_killed(call, ready_to_train):
    folder = ready_to_train
    result = interrupted(["train", "--model", "mha", "--seed", "42"], folder, INTERRUPT_CALL=call)
    expected = "models/mha/seed-42/checkpoint.pt was" if "log_metrics" in call else \
        "models/mha/seed-42/checkpoint.pt, models/mha/seed-42/model.pt were"
    assert_interrupted(result, f"interrupted: only {expected} written")
    assert run_statuses(folder) == {"mha-seed42": "KILLED"}
    assert not (folder / "models/mha/seed-42/mlflow_run.json").exists()


def test_ctrl_c_while_evaluate_adds_to_a_finished_run_leaves_it_finished(ready_to_train, monkeypatch):
    folder = ready_to_train
    seed_42 = ["--seed", "42"]
    for step in (["train", "--model", "self", *seed_42], ["train", "--model", "mha", *seed_42], ["baseline"],
                 ["faithfulness", "--model", "self", *seed_42], ["faithfulness", "--model", "mha", *seed_42]):
        assert invoke(step[0], step[1:], folder, monkeypatch).exit_code == 0, step  # in this process: no imports
    result = interrupted(["evaluate"], folder, INTERRUPT_CALL="mlflow:log_metrics")
    assert_interrupted(result, "interrupted: no output was written")
    assert set(run_statuses(folder).values()) == {"FINISHED"}
    assert not (folder / "reports/metrics.json").exists()
