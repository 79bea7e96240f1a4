"""`dvc repro` with the training stages side by side: DVC's own way to run independent stages at once ("Parallel
stage execution" in the `dvc repro` docs) is one `dvc repro` per stage, started together. Here each is
`dvc --wait-for-lock repro --single-item <stage>`, `jobs` at a time, each stage's torch on cores/jobs threads.

DVC still runs, locks and records every stage: it holds its repository lock only while it reads the pipeline and
writes dvc.lock and the cache (not while a stage's command runs), its per-file locks keep two stages from writing
one output, and `dvc status` is clean afterwards. Training processes are faster side by side than one process on
every core (docs/performance.md), and the thread count is fixed by `jobs` alone, not by how many stages happen to
be left, so a seed's numbers do not depend on what trained beside it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import typer

from pipeline import interrupts, tracking
from pipeline.errors import PipelineError

UPSTREAM = "tokenize"  # every stage of SIDE_BY_SIDE needs only its outputs (and download's, upstream of it)
# Stages run side by side, wave after wave: each wave's stages need only the waves before it and UPSTREAM
SIDE_BY_SIDE = (("train_self", "train_mha", "baseline"), ("faithfulness_self", "faithfulness_mha"))
LOGS = Path(".dvc/tmp/side-by-side")  # each stage's output, beside DVC's own temporary files
LOG_TAIL = 15  # lines of a failed stage's log shown before the error
EXPERIMENT_COPIES = Path(".dvc/tmp/exps")  # where DVC runs queued and --temp experiments
QUEUE_WORKERS = EXPERIMENT_COPIES / "celery"  # the records of the workers `dvc queue start` runs


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_job(jobs: int, cores: int) -> int:
    """Threads for each of `jobs` processes sharing `cores`: never more threads than cores in all."""
    return max(1, cores // jobs)


def threads_in_queue() -> int | None:
    """The torch threads for a stage of a queued DVC experiment: cores / the queue's running workers, as `dvc queue
    start --jobs N` runs N experiments at once and each torch would otherwise take every core. None (torch's own
    choice) outside the queue, with one worker, or when OMP_NUM_THREADS is set (the user's, or pipeline.repro's)."""
    if "OMP_NUM_THREADS" in os.environ or "DVC_ROOT" not in os.environ:
        return None
    root = Path(os.environ["DVC_ROOT"])  # a queued experiment runs in a copy under the checkout's .dvc/tmp/exps/
    if not Path.cwd().resolve().is_relative_to((root / EXPERIMENT_COPIES).resolve()):
        return None
    workers = queue_workers(root)
    return threads_per_job(workers, usable_cores()) if workers > 1 else None


def queue_workers(root: Path) -> int:
    """How many `dvc queue` workers of the repository at `root` are running, read from the record each one's
    process keeps (dvc-task's ManagedProcess: its pid, and its exit status once it ended)."""
    running = 0
    for record in (root / QUEUE_WORKERS).glob("dvc-exp-worker-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            worker = json.loads(record.read_text(encoding="utf-8"))
            running += worker["returncode"] is None and _alive(worker["pid"])
    return running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def thread_env(threads: int) -> dict[str, str]:
    """The environment that starts torch (and the OpenMP and MKL libraries under it) on `threads` threads."""
    return os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_dvc(arguments: list[str]) -> None:
    """`dvc <arguments>` in this environment, its output passed through. It runs in a process group of its own, which
    is handed any Ctrl-C or SIGTERM this command gets and waited for, so that the stage it runs ends as its own
    Ctrl-C handling ends it (outputs whole, MLflow run KILLED) before this command goes on."""
    process = subprocess.Popen([sys.executable, "-m", "dvc", *arguments], start_new_session=True)
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        _interrupt([process])
        raise
    if returncode:
        raise PipelineError(f"dvc {' '.join(arguments)} failed (exit status {returncode}); its output above says why")


def reproduce(target: str | None, jobs: int, experiment: str) -> None:
    """`dvc repro [target]`, with the stages of SIDE_BY_SIDE that need to run `jobs` at a time, wave by wave.
    The MLflow store and `experiment` are made first: stages that start together would each create a new store's
    tables."""
    if changed_stages((UPSTREAM,)):
        run_dvc(["repro", UPSTREAM])
    for wave in SIDE_BY_SIDE:
        stages = [name for name in changed_stages(()) if name.split("@")[0] in wave]
        if stages:
            tracking.use_experiment(experiment)
        run_side_by_side(stages, jobs)
    run_dvc(["repro", *([target] if target else [])])


def changed_stages(targets: tuple[str, ...]) -> list[str]:
    """The stages that `dvc status` says must run for `targets` (stage names or foreach groups; their upstream stages
    included), in dvc.yaml's order."""
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "--json", *targets], capture_output=True,
                            text=True)
    if status.returncode:
        raise PipelineError(f"dvc status failed: {status.stderr.strip() or status.stdout.strip()}")
    return list(json.loads(status.stdout or "{}"))


@dataclass
class Job:
    stage: str
    process: subprocess.Popen
    log: IO[str]
    started: float


def run_side_by_side(stages: list[str], jobs: int) -> None:
    """Run `stages`, `jobs` at a time, each by its own `dvc repro`; one line as each starts and ends. When one fails,
    those already running finish (their results are kept) and none other starts."""
    if not stages:
        return
    threads = threads_per_job(jobs, usable_cores())
    LOGS.mkdir(parents=True, exist_ok=True)
    waiting, running, failed = list(stages), [], []
    try:
        while waiting or running:
            while waiting and not failed and len(running) < jobs:
                running.append(_start(waiting.pop(0), threads))
                typer.echo(f"{running[-1].stage}: started ({threads} thread{'s' * (threads > 1)}, log "
                           f"{LOGS / running[-1].stage}.log)")
            if failed and not running:
                break
            time.sleep(0.2)
            for job in [job for job in running if job.process.poll() is not None]:
                running.remove(job)
                job.log.close()
                if job.process.returncode:
                    failed.append(job)
                else:
                    typer.echo(f"{job.stage}: done in {time.perf_counter() - job.started:.0f} s")
    except KeyboardInterrupt:
        _interrupt([job.process for job in running])
        raise
    if failed:
        job = failed[0]
        tail = (LOGS / f"{job.stage}.log").read_text(errors="replace").splitlines()[-LOG_TAIL:]
        typer.echo("\n".join(tail), err=True)
        raise PipelineError(f"stage {job.stage} failed; its output is in {LOGS / job.stage}.log, the end of it above")


def _start(stage: str, threads: int) -> Job:
    log = (LOGS / f"{stage}.log").open("w", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=thread_env(threads))
    return Job(stage, process, log, time.perf_counter())


def _interrupt(processes: list[subprocess.Popen]) -> None:
    """Hand Ctrl-C to each process's group and wait for all of them to end."""
    with interrupts.held():
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        for process in processes:
            process.wait()
