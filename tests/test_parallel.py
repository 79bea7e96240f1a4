"""`python -m pipeline.repro`: real DVC in a temporary git repository whose stages (named as the pipeline's) are small
scripts, so that what is checked is the running side by side itself: stages that can only finish together, the
threads each was given, DVC's record afterwards, and a failed stage's one-line error. Then the threads of a queued
experiment's training, from the queue's worker records."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from pipeline.parallel import queue_workers, threads_in_queue, threads_per_job, usable_cores
from tests.conftest import ROOT, run, small_params, write_params

# A stage's command, `python stage.py NAME [PARTNER ...]`: mark itself running, wait (at most a minute) until every
# partner has marked itself running too, then write its output, the thread count its environment gives torch.
# Partners finish only if they run side by side. A NAME ending in "fail" fails.
STAGE_SCRIPT = """\
import os, sys, time
from pathlib import Path

name, partners = sys.argv[1], sys.argv[2:]
if name.endswith("fail"):
    sys.exit("this stage fails")
Path("running").mkdir(exist_ok=True)
(Path("running") / name).touch()
deadline = time.monotonic() + 60
while not all((Path("running") / partner).exists() for partner in partners):
    if time.monotonic() > deadline:
        sys.exit(f"{name} never ran beside {partners}")
    time.sleep(0.05)
Path("out").mkdir(exist_ok=True)
(Path("out") / f"{name}.txt").write_text(os.environ.get("OMP_NUM_THREADS", "unset"))
"""


def toy_repo(path, self_seeds: list[str], self_partner: str = "", mha_partner: str = ""):
    """A DVC repository with the pipeline's stage names: tokenize, train_self (one per seed), train_mha, baseline,
    and a report that needs them all."""
    def stage(name: str, partner: str = "", deps: tuple[str, ...] = ("stage.py", "out/tokenize.txt")) -> dict:
        return {"cmd": f"python stage.py {name} {partner}".strip(), "deps": list(deps), "outs": [f"out/{name}.txt"]}

    outputs = [f"out/self-{seed}.txt" for seed in self_seeds] + ["out/mha.txt", "out/baseline.txt"]
    stages = {"tokenize": stage("tokenize", deps=("stage.py",)),
              "train_self": {"foreach": self_seeds, "do": stage("self-${item}", self_partner)},
              "train_mha": stage("mha", mha_partner),
              "baseline": stage("baseline"),
              "report": stage("report", deps=tuple(outputs))}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    (path / "stage.py").write_text(STAGE_SCRIPT)
    write_params(path / "params.yaml", small_params())
    run(["git", "init", "-q", "-b", "main"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    return path


def repro(path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "pipeline.repro", *args], path, check=check, PYTHONPATH=str(ROOT))


def lines_saying(output: str, what: str) -> list[str]:
    return [line.split(":")[0] for line in output.splitlines() if f": {what}" in line]


def test_threads_per_job_never_put_more_threads_than_cores_on_the_machine():
    assert [threads_per_job(jobs, cores=2) for jobs in (1, 2, 3)] == [2, 1, 1]
    assert [threads_per_job(jobs, cores=8) for jobs in (1, 2, 3, 8)] == [8, 4, 2, 1]


def test_stages_run_side_by_side_on_their_share_of_the_cores_and_dvc_records_them(tmp_path):
    path = toy_repo(tmp_path, ["1"], self_partner="mha", mha_partner="self-1")  # neither finishes alone
    result = repro(path, "--jobs", "2")
    assert lines_saying(result.stdout, "started") == ["train_self@1", "train_mha", "baseline"]
    assert sorted(lines_saying(result.stdout, "done")) == ["baseline", "train_mha", "train_self@1"]
    threads = str(threads_per_job(2, usable_cores()))
    assert [(path / "out" / f"{name}.txt").read_text() for name in ("self-1", "mha", "baseline")] == [threads] * 3
    assert "Running stage 'report'" in result.stdout and (path / "out" / "report.txt").is_file()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], path).stdout
    again = repro(path)
    assert "started" not in again.stdout and "Running stage" not in again.stdout


def test_a_failed_stage_ends_the_run_with_one_line_naming_it_and_its_log_and_starts_no_other(tmp_path):
    path = toy_repo(tmp_path, ["1", "fail", "3"])
    result = repro(path, "--jobs", "1", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: stage train_self@fail failed; its output is in .dvc/tmp/side-by-side/train_self@fail.log, the end "
        "of it above")
    assert "this stage fails" in result.stderr
    assert lines_saying(result.stdout, "started") == ["train_self@1", "train_self@fail"]
    assert not (path / "out" / "report.txt").exists()
    assert "train_self@1" in yaml.safe_load((path / "dvc.lock").read_text())["stages"]  # kept: it finished


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_must_be_at_least_one(tmp_path, jobs):
    result = repro(tmp_path, "--jobs", jobs, check=False)
    assert result.returncode == 2 and "--jobs" in result.stderr


def test_bad_params_stop_it_before_dvc_runs(tmp_path):
    path = toy_repo(tmp_path, ["1"])
    write_params(path / "params.yaml", small_params(**{"train.lr": 0}))
    result = repro(path, check=False)
    assert result.returncode == 1 and result.stderr.strip().startswith("error: params.yaml: 1 problem(s)")
    assert not (path / "out").exists() and "Running stage" not in result.stdout


def worker_record(root, number: int, pid: int, returncode: int | None) -> None:
    """A queue worker's record as dvc-task writes it for `dvc queue start`."""
    folder = root / ".dvc/tmp/exps/celery"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"dvc-exp-worker-{number}.json").write_text(json.dumps(
        {"pid": pid, "stdin": None, "stdout": None, "stderr": None, "returncode": returncode}))


def test_a_queued_experiments_training_shares_the_cores_with_the_other_running_workers(tmp_path, monkeypatch):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    worker_record(tmp_path, 1, os.getpid(), None)
    worker_record(tmp_path, 2, os.getppid(), None)
    worker_record(tmp_path, 3, os.getpid(), 0)  # finished
    worker_record(tmp_path, 4, ended.pid, None)  # its process is gone
    assert queue_workers(tmp_path) == 2
    copy = tmp_path / ".dvc/tmp/exps/tmpab12cd"  # where DVC runs a queued experiment
    copy.mkdir()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(copy)
    assert threads_in_queue() == threads_per_job(2, usable_cores())
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_in_queue() is None  # the user's choice, which torch reads itself
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.chdir(tmp_path)
    assert threads_in_queue() is None  # `dvc repro` or `dvc exp run` in the workspace: torch's own choice
    (tmp_path / ".dvc/tmp/exps/celery/dvc-exp-worker-2.json").unlink()
    monkeypatch.chdir(copy)
    assert threads_in_queue() is None  # a queue with one worker runs one experiment at a time
