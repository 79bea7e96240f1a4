"""What `evaluate` costs for 2, 6 and 20 models, and what starting a stage costs, on a finished project.

`evaluate` no longer scores the models (each seed's train stage wrote its test scores), so its cost is reading those
scores, the statistics, the attention examples, MLflow and the plot tables. This runs `python -m pipeline.evaluate`
with `train.seeds` cut to the project's first N seeds (1, 3 and 10 per architecture by default: 2, 6 and 20 models),
each in a scratch copy of the project's MLflow store so that the project keeps its own, and prints its seconds; with
`--profile` also the functions that take the most time. Then the seconds each stage's Python imports take (the least
of three fresh interpreters), the part of a stage's startup that every seed now pays. Asserts nothing.

    .venv/bin/python -m benchmarks.evaluate_cost --project /tmp/imdb-run --seeds 1 --seeds 3 --seeds 10
"""

from __future__ import annotations

import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
import yaml

from benchmarks.imdb import machine

STEPS = ("train", "evaluate", "report", "baseline")
CODE = Path(__file__).resolve().parents[1]  # this checkout's pipeline package, whatever the project's copy


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   env=os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(CODE)})
    return time.perf_counter() - started


def main(
    project: Path = typer.Option(..., help="A project where the pipeline has run with at least max(--seeds) seeds."),
    seeds: list[int] = typer.Option([1, 3, 10], "--seeds", help="Seeds per architecture to evaluate (repeatable)."),
    profile: bool = typer.Option(False, help="Print each evaluate run's 12 most expensive functions."),
) -> None:
    project = project.resolve()
    params = yaml.safe_load((project / "params.yaml").read_text())
    available = params["train"]["seeds"]
    if max(seeds) > len(available):
        raise typer.BadParameter(f"{project} has {len(available)} seeds; ask for at most that many",
                                 param_hint="--seeds")
    print(f"{machine()}; {project}")
    print("\n| models | seeds per architecture | evaluate seconds |\n|---:|---:|---:|")
    for count in seeds:
        with tempfile.TemporaryDirectory(prefix="evaluate-cost-") as scratch:
            scratch = Path(scratch)
            shutil.copy(project / "mlflow.db", scratch / "mlflow.db")
            params["train"]["seeds"] = available[:count]
            (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            command = [sys.executable, *(["-m", "cProfile", "-o", str(scratch / "profile")] if profile else []),
                       "-m", "pipeline.evaluate", "--params", "params.yaml", "--data", str(project / "data/processed"),
                       "--models", str(project / "models"), "--out", "reports"]
            seconds = timed(command, scratch)
            print(f"| {2 * count} | {count} | {seconds:.1f} |", flush=True)
            if profile:
                pstats.Stats(str(scratch / "profile")).sort_stats("cumulative").print_stats(12)

    print("\n| stage | imports (s) | `--help` (s) |\n|---|---:|---:|")
    for step in STEPS:
        imports = min(timed([sys.executable, "-c", f"import pipeline.{step}"], project) for _ in range(3))
        helped = min(timed([sys.executable, "-m", f"pipeline.{step}", "--help"], project) for _ in range(3))
        print(f"| {step} | {imports:.2f} | {helped:.2f} |", flush=True)


if __name__ == "__main__":
    typer.run(main)
