"""Command: add seeds to both architectures, a round at a time, until the verdict decides.

    python -m pipeline.decide                    # rounds of 2 new seeds per architecture, up to compare.max_seeds
    python -m pipeline.decide --round 4 --max-seeds 12

Each round appends the next unused seeds to `train.seeds` in params.yaml and runs `dvc repro evaluate`, the new
seeds trained side by side (one per core, pipeline/parallel.py), so that only they train and are scored, then reads
the verdict again; it stops once the verdict is decided, when the test set's own noise keeps the question open
whatever the seeds, or at the maximum. The verdict's repeated confidence interval keeps its error rates over these
looks (pipeline/sequential.py). At the end params.yaml holds the seeds used and `dvc repro` has written the report:
the decision is reproduced by `dvc repro`, and git shows what was run. After a Ctrl-C params.yaml names only seeds
whose models exist, and running the command again goes on from there.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from pipeline import interrupts
from pipeline.comparison import next_look
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import read_json, read_output
from pipeline.params import MODEL_KINDS, load_params, model_names
from pipeline.reporting import probabilities_text, verdict_line
from pipeline.parallel import reproduce, run_dvc, usable_cores
from pipeline.rounds import next_seeds, seeds_in_trial

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    round_size: int = typer.Option(2, "--round", min=1, help="Seeds added to each architecture per round."),
    max_seeds: int = typer.Option(None, min=2, help="Stop at this many seeds per architecture [default: "
                                                    "compare.max_seeds, which it may not exceed]."),
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file; its train.seeds grows."),
    reports: Path = typer.Option(Path("reports"), help="Folder of evaluate's metrics.json."),
    jobs: int = typer.Option(None, min=1, help="Trainings at once, each on cores/jobs threads [default: one per "
                                               "core]."),
) -> None:
    """Train and score more seeds until the comparison of the architectures is decided."""
    settings = load_params(params)
    limit = settings.compare.max_seeds if max_seeds is None else max_seeds
    if limit > settings.compare.max_seeds:
        raise PipelineError(f"--max-seeds {limit} is more than compare.max_seeds={settings.compare.max_seeds}, the "
                            f"plan the verdict's error is spread over: raise compare.max_seeds in {params} instead")
    names = model_names(settings)
    try:
        comparison = decide_in_rounds(list(settings.train.seeds), round_size, limit, names, params, reports,
                                      jobs or usable_cores(), settings.mlflow.experiment)
    except KeyboardInterrupt:
        kept = load_params(params).train.seeds
        typer.echo(f"interrupted: train.seeds in {params} is {kept}, the seeds whose models were trained; run the "
                   f"command again to go on", err=True)
        raise typer.Exit(interrupts.exit_status()) from None
    typer.echo(final_line(comparison, names, len(load_params(params).train.seeds), limit))


def decide_in_rounds(seeds: list[int], round_size: int, limit: int, names: dict[str, str], params: Path,
                     reports: Path, jobs: int, experiment: str) -> dict:
    """Look, and add a round of seeds while the verdict says more seeds could decide it; the last verdict."""
    reproduce("evaluate", jobs, experiment)
    while True:
        comparison = read_output(reports / "metrics.json", "evaluate", read_json)["comparison"]
        timings = read_output(reports / "timings.json", "evaluate", read_json)
        typer.echo(progress_line(comparison, names, sum(timings[kind]["train_seconds"] for kind in MODEL_KINDS)))
        following = next_look(len(seeds), comparison["outcome"], comparison["decidable"], round_size, limit)
        if following is None:
            break
        added = next_seeds(seeds, following - len(seeds))
        typer.echo(f"round: training seeds {', '.join(map(str, added))} of both architectures")
        started = time.perf_counter()
        with seeds_in_trial(params, seeds, added):
            reproduce("evaluate", jobs, experiment)
        seeds += added
        typer.echo(f"round: {time.perf_counter() - started:.0f} s")
    run_dvc(["repro"])
    return comparison


def progress_line(comparison: dict, names: dict[str, str], seconds_per_seed: float) -> str:
    """One line per look: seeds, difference and interval, the probabilities, and the seeds and time still needed
    (`seconds_per_seed`: training one more seed of each architecture)."""
    if comparison["ci_low"] is None:
        return f"1 seed: {verdict_line(comparison, names)}; a second seed gives the first interval"
    line = (f"{comparison['seeds']} seeds: {100 * comparison['difference']:+.2f} points "
            f"[{100 * comparison['ci_low']:+.2f}, {100 * comparison['ci_high']:+.2f}], margin "
            f"+-{100 * comparison['margin']:.2f}; {probabilities_text(comparison, names)}; {comparison['outcome']}")
    needed = comparison["seeds_needed"]
    if comparison["outcome"] == "not_resolved" and needed is not None:
        more = needed - comparison["seeds"]
        line += f"; about {needed} seeds needed ({more} more of each, ~{more * seconds_per_seed / 60:.0f} min)"
    return line


def final_line(comparison: dict, names: dict[str, str], seeds: int, limit: int) -> str:
    if comparison["outcome"] != "not_resolved":
        return f"decided: {verdict_line(comparison, names)}"
    if not comparison["decidable"]:
        return ("stopped: more seeds cannot decide it, the test set's own noise keeps it open; a larger test set or a "
                "wider compare.margin could")
    return f"stopped at {seeds} seeds per architecture (the maximum, {limit}): not resolved"


if __name__ == "__main__":
    app()
