"""The whole `dvc repro` on the full IMDB data, timed stage by stage, as a user runs it.

Copies the pipeline into a fresh DVC project (no git needed), serves the IMDB archive on 127.0.0.1 as the
download mirror, runs one `dvc repro` and prints each stage's time (from the moment DVC announces it), the
total, the peak memory of the largest process, the test metrics, and how long a second `dvc repro` with
nothing changed takes. This machine's speed drifts up to 2x between hours, so the run is also stated in reference
epochs: one epoch of benchmarks.train_speed's padded tutorial loop over the same training split, timed on the same
machine right after the run and again at the end. Asserts nothing.

    .venv/bin/python -m benchmarks.full_pipeline
    .venv/bin/python -m benchmarks.full_pipeline --jobs 2     # python -m pipeline.repro: trainings side by side
    .venv/bin/python -m benchmarks.full_pipeline --device cuda --workdir /tmp/imdb-run
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import typer
import yaml

from benchmarks.imdb import ARCHIVE, device_option, machine
from benchmarks.mirror import serve
from benchmarks.train_speed import train_reference
from pipeline.params import DEVICES, load_params
from pipeline.text import EncodedSplit, Vocabulary

PROJECT = Path(__file__).resolve().parents[1]
STAGE_STARTED = re.compile(rb"Running stage '([\w@-]+)'")
SIDE_BY_SIDE_STARTED = re.compile(rb"([\w@-]+): started \(")  # pipeline.repro's lines
SIDE_BY_SIDE_DONE = re.compile(rb"([\w@-]+): done in (\d+) s")


def make_project(workdir: Path, url: str, md5: str, device: str) -> None:
    """The repository's pipeline, code and params in `workdir`, pointed at the local mirror."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(PROJECT / name, workdir / name)
    shutil.copytree(PROJECT / "pipeline", workdir / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    (workdir / "data").mkdir()
    shutil.copy(PROJECT / "data" / "example_reviews.csv", workdir / "data")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["data"].update(source="imdb", url=url, md5=md5, limit=0)
    params["train"]["device"] = device
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=workdir, check=True)


def timed_repro(workdir: Path, jobs: int | None) -> tuple[dict[str, float], float]:
    """Seconds per stage and in all for one `dvc repro` (`python -m pipeline.repro --jobs N` with `jobs`), its output
    passed through. Stages that ran side by side count from their start to their end, each."""
    started = time.perf_counter()
    stages: dict[str, float] = {}
    current, current_started = None, started
    command = ["dvc", "repro"] if jobs is None else ["pipeline.repro", "--jobs", str(jobs)]
    with subprocess.Popen([sys.executable, "-m", *command], cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as process:
        # passed through as it comes, carriage returns kept, so that progress bars redraw in place
        unfinished_line = b""
        for chunk in iter(lambda: process.stdout.read1(1 << 16), b""):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            *lines, unfinished_line = (unfinished_line + chunk).split(b"\n")
            for line in lines:
                if match := STAGE_STARTED.search(line) or SIDE_BY_SIDE_STARTED.match(line):
                    now = time.perf_counter()
                    if current:
                        stages[current] = now - current_started
                    current, current_started = match.group(1).decode(), now
                    if match.re is SIDE_BY_SIDE_STARTED:
                        current = None  # its time comes with its end
                elif match := SIDE_BY_SIDE_DONE.match(line):
                    stages[match.group(1).decode()] = float(match.group(2))
    finished = time.perf_counter()
    if process.returncode:
        raise SystemExit(f"dvc repro failed with exit code {process.returncode}")
    if current:
        stages[current] = finished - current_started
    return stages, finished - started


def reference_epoch(workdir: Path, device: torch.device) -> float:
    """Seconds for one epoch of the tutorial loop on the run's own training split, with the run's model sizes."""
    params = load_params(workdir / "params.yaml")
    train = EncodedSplit.load(workdir / "data" / "processed" / "train.npz")
    vocab = Vocabulary.load(workdir / "data" / "processed" / "vocab.json")
    return train_reference(train, len(vocab), params.model, params.train.lr, 1, params.data.seed, device)[1]


def main(
    device: str = typer.Option("auto", help=f"train.device: {', '.join(DEVICES)}."),
    archive: Path = typer.Option(ARCHIVE, help="The IMDB archive, served as the download mirror."),
    workdir: Path = typer.Option(None, help="Run here and keep the outputs [default: a temporary folder]."),
    jobs: int = typer.Option(None, min=1, help="Run `python -m pipeline.repro --jobs N` (trainings side by side) "
                                               "[default: plain `dvc repro`]."),
) -> None:
    resolved = device_option(device)  # train.device=cuda without a GPU fails here, not ten minutes in
    if not archive.is_file():
        raise typer.BadParameter(f"{archive} not found; pass --archive with the IMDB .tar.gz", param_hint="--archive")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    keep = workdir is not None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="full-pipeline-"))
    if keep and workdir.exists() and any(workdir.iterdir()):
        raise typer.BadParameter(f"{workdir} is not empty; pass a new or empty folder", param_hint="--workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    # the stages run `python -m pipeline.<step>`: this interpreter's environment first on PATH, as `make` does
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    server = serve(archive.parent)
    try:
        make_project(workdir, f"http://127.0.0.1:{server.server_port}/{archive.name}", md5, device)
        stages, total = timed_repro(workdir, jobs)
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        reference = [reference_epoch(workdir, resolved)]
        _, unchanged = timed_repro(workdir, jobs)
        reference.append(reference_epoch(workdir, resolved))
        metrics = json.loads((workdir / "reports" / "metrics.json").read_text())
        timings = json.loads((workdir / "reports" / "timings.json").read_text())
    finally:
        server.shutdown()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    gpu = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else "no GPU used"
    print(f"\n{machine()}, {os.cpu_count()} CPUs, {gpu}, train.device={device}, "
          f"{'dvc repro' if jobs is None else f'python -m pipeline.repro --jobs {jobs}'}")
    print("\n| stage | seconds |\n|---|---:|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.1f} |")
    print(f"| **whole run** | **{total:.1f}** |")
    epoch = sum(reference) / len(reference)
    print(f"\none epoch of the padded reference loop: {' and '.join(f'{s:.1f}' for s in reference)} s; "
          f"the whole run took {total / epoch:.1f} reference epochs")
    print(f"\npeak memory of the largest process: {peak_gb:.2f} GB; "
          f"`dvc repro` with nothing changed: {unchanged:.1f} s")
    print("\n| model | seed | test accuracy | training seconds | epochs (best) |\n|---|---|---:|---:|---:|")
    for name, seconds in timings.items():
        scores = metrics[name]
        if "seeds" not in scores:
            print(f"| {name} | - | {scores['accuracy']:.4f} | {seconds['train_seconds']:.1f} | - |")
            continue
        for seed, scored in scores["seeds"].items():
            print(f"| {name} | {seed} | {scored['accuracy']:.4f} | {seconds['seeds'][seed]['train_seconds']:.1f} | "
                  f"{scored['epochs']} ({scored['best_epoch']}) |")
        print(f"| {name} | mean (std) | {scores['mean']['accuracy']:.4f} ({scores['std']['accuracy']:.4f}) | "
              f"{seconds['train_seconds_total']:.1f} in all | - |")
        print(f"| {name} | ensemble | {scores['ensemble']['accuracy']:.4f} | - | - |")
    comparison = metrics["comparison"]
    interval = ("no interval (one seed)" if comparison["ci_low"] is None
                else f"[{100 * comparison['ci_low']:+.2f}, {100 * comparison['ci_high']:+.2f}]")
    print(f"\nself minus mha: {100 * comparison['difference']:+.2f} points {interval}; "
          f"outcome: {comparison['outcome']}, winner: {comparison['winner'] or 'none'}")


if __name__ == "__main__":
    typer.run(main)
