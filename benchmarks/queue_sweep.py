"""A two-experiment sweep through DVC's queue, `dvc queue start --jobs 1` against `--jobs 2`, timed as a user runs it.

Copies the pipeline into a fresh git + DVC project in a temporary folder, runs it once on the synthetic corpus
(one seed, `--epochs` epochs), then for each `--jobs` value queues the same two experiments
(`-S model.heads=1,2`: each retrains the multi-head seed, evaluates and reports) and times `dvc queue start` until
the queue is empty. Prints each sweep's seconds and the threads each training ran on. Asserts nothing.

    .venv/bin/python -m benchmarks.queue_sweep
    .venv/bin/python -m benchmarks.queue_sweep --epochs 6 --jobs 1 --jobs 2 --jobs 2 --jobs 1   # repeated, interleaved
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
import yaml

from benchmarks.imdb import machine
from pipeline.parallel import queue_workers

PROJECT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["dvc.yaml", "params.yaml", "pipeline", "data/example_reviews.csv", ".dvcignore", ".gitignore"]


def run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def make_project(workdir: Path, epochs: int) -> None:
    """The pipeline on the synthetic corpus, one seed, committed and reproduced once."""
    for name in PROJECT_FILES:
        source, target = PROJECT / name, workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["data"]["source"] = "synthetic"
    params["train"].update(epochs=epochs, seeds=[42])
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "bench@example.com"],
                    ["git", "config", "user.name", "Bench"], ["dvc", "init", "-q"],
                    ["dvc", "config", "core.analytics", "false"], ["dvc", "repro", "--quiet"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "baseline"]):
        run(command, workdir)


def timed_sweep(workdir: Path, jobs: int) -> float:
    """Seconds from `dvc queue start --jobs <jobs>` to an empty queue, for the two heads experiments."""
    run(["dvc", "exp", "run", "--queue", "-S", "model.heads=1,2"], workdir)
    started = time.perf_counter()
    with (workdir / f"queue-{jobs}.log").open("w") as log:  # the workers outlive the command; no pipe to wait on
        subprocess.run(["dvc", "queue", "start", "--jobs", str(jobs)], cwd=workdir, stdout=log, stderr=log, check=True)
    while re.search(r"Queued|Running", status := run(["dvc", "queue", "status"], workdir)):
        time.sleep(1)
    seconds = time.perf_counter() - started
    if "Failed" in status:
        raise SystemExit(f"an experiment failed:\n{status}")
    # DVC's queue workers end after 10 s idle. Not `dvc queue stop`: after it, one sweep's new worker once ended at
    # once and left its experiment queued.
    while queue_workers(workdir):
        time.sleep(1)
    return seconds


def threads_of_last_trainings(workdir: Path, count: int) -> list[str]:
    with sqlite3.connect(workdir / "mlflow.db") as db:
        rows = db.execute("SELECT tags.value FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
                          "WHERE tags.key = 'compute.threads' ORDER BY runs.start_time DESC LIMIT ?", (count,))
        return [value for value, in rows]


def main(
    jobs: list[int] = typer.Option([1, 2], min=1, help="`dvc queue start --jobs` values, timed in this order."),
    epochs: int = typer.Option(6, min=1, help="train.epochs of every training."),
) -> None:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    workdir = Path(tempfile.mkdtemp(prefix="queue-sweep-"))
    try:
        make_project(workdir, epochs)
        times = [(count, timed_sweep(workdir, count), threads_of_last_trainings(workdir, 2)) for count in jobs]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{machine()}, {os.cpu_count()} CPUs; two queued experiments (model.heads=1,2), synthetic, "
          f"{epochs} epochs, one seed")
    print("\n| `dvc queue start` | seconds to an empty queue | threads of each training |\n|---|---:|---|")
    for count, seconds, threads in times:
        print(f"| `--jobs {count}` | {seconds:.1f} | {', '.join(threads)} |")


if __name__ == "__main__":
    typer.run(main)
