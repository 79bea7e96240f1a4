"""Two experiments compared with the verdict that compares the architectures: "did my change help?".

Each side is a git revision, a branch, a DVC experiment name or the workspace. Its params and each seed's test scores
(models/<self|mha>/seed-<seed>/test_scores.npz, written by the train stages) are read through DVC's file system at
that revision, from the local cache, so nothing is checked out or trained. Both sides must have scored the same test
reviews the same way (the same download output and `tokenize.eval_max_len`); the difference in mean accuracy of an
architecture's seeds, candidate minus baseline, then goes through `comparison.compare_architectures` as the two
architectures do within a run: one interval, one margin, one rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from dataclasses import dataclass

import numpy as np
import yaml
from dvc.api import DVCFileSystem
from dvc.repo import Repo
from dvc.scm import RevError

from pipeline.comparison import compare_architectures
from pipeline.decision import is_right
from pipeline.errors import PipelineError
from pipeline.parallel import changed_stages
from pipeline.params import MODEL_KINDS, Params, model_names, parse_params, stage_of
from pipeline.reporting import points, short_name, verdict_line
from pipeline.trained import Predictions

WORKSPACE = "workspace"
TEST_SPLIT = "data/processed/test.npz"


@dataclass(frozen=True)
class Revision:
    """The repository at a revision, as DVC reads it (DVC-tracked files from the local cache), and its params."""

    name: str  # as given: a revision, branch, experiment name, or "workspace"
    files: DVCFileSystem
    params: Params


@dataclass(frozen=True)
class ScoredRevision:
    """One side of the comparison: its params and every seed's test probabilities, as DVC recorded them there."""

    name: str
    params: Params
    reviews: str  # the download stage's output hash in dvc.lock: the reviews and their split
    labels: np.ndarray  # of the test split
    scores: dict[str, dict[int, np.ndarray]]  # kind -> seed -> probabilities of positive
    digests: dict[str, str]  # kind -> a hash of all its seeds' scores: equal when the models are the same


def open_revision(name: str) -> Revision:
    """This repository at revision `name` (WORKSPACE: the files as they are) and its params."""
    try:
        files = DVCFileSystem(".", rev=None if name == WORKSPACE else name)
        raw_params = yaml.safe_load(files.read_text("params.yaml"))
    except RevError:
        raise PipelineError(f"no git revision, branch or DVC experiment is named {name!r}: see `git log --oneline` "
                            f"and `dvc exp list`") from None
    except FileNotFoundError:
        raise PipelineError(f"{name} has no params.yaml: it is not a revision of this project") from None
    try:
        params = parse_params(raw_params, source=f"params.yaml at {name}")
    except PipelineError as error:
        raise PipelineError(f"{error} (a revision from before this param existed cannot be compared)") from None
    return Revision(name, files, params)


def read_scores(revision: Revision) -> ScoredRevision:
    """Every seed's test scores at the revision, the test labels and which reviews they are."""
    files, name, params = revision.files, revision.name, revision.params
    lock = yaml.safe_load(_read(files, "dvc.lock", name, "dvc repro", text=True)) or {}
    download = lock.get("stages", {}).get("download", {}).get("outs", [{}])[0]
    scores, digests = {}, {}
    for kind in MODEL_KINDS:
        digest = hashlib.sha256()
        scores[kind] = {}
        for seed in params.train.seeds:
            path = f"models/{kind}/seed-{seed}/test_scores.npz"
            content = _read(files, path, name, f"dvc repro {stage_of(kind, seed)}")
            digest.update(content)
            scores[kind][seed] = Predictions.load(io.BytesIO(content)).probabilities
        digests[kind] = digest.hexdigest()
    with np.load(io.BytesIO(_read(files, TEST_SPLIT, name, "dvc repro tokenize"))) as test:
        labels = test["labels"]
    return ScoredRevision(name, params, str(download.get("md5", "")), labels, scores, digests)


def read_revision(name: str) -> ScoredRevision:
    """`name`'s params and scores: one side of a comparison."""
    return read_scores(open_revision(name))


def _read(files: DVCFileSystem, path: str, name: str, command: str, text: bool = False) -> bytes | str:
    """A file at the revision; missing (not produced there, or not in the local cache), one line saying so."""
    try:
        return files.read_text(path) if text else files.read_bytes(path)
    except FileNotFoundError:
        where = "the workspace" if name == WORKSPACE else name
        raise PipelineError(f"{path} is missing at {where}: run `{command}` there (`dvc exp run` for an experiment), "
                            f"or `dvc pull` if it was pushed") from None


def require_up_to_date_workspace() -> None:
    """The workspace's scores must be those of its params and code, as `dvc status` finds them."""
    if stale := changed_stages(("train_self", "train_mha")):
        raise PipelineError(f"the workspace's {', '.join(stale)} {'is' if len(stale) == 1 else 'are'} not up to date "
                            f"with params.yaml and the code: run `dvc repro` (or `dvc exp run`) first")


def changed_params(baseline: Params, candidate: Params) -> dict[str, tuple[object, object]]:
    """Params whose values differ, as `dvc params diff` lists them: name -> (baseline's, candidate's)."""
    before, after = baseline.flat(), candidate.flat()
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}


def why_not_comparable(baseline: ScoredRevision, candidate: ScoredRevision) -> str | None:
    """Why the two sides' test scores cannot be paired review by review; None when they can."""
    changed = changed_params(baseline.params, candidate.params)
    if "tokenize.eval_max_len" in changed:
        return "they read the test reviews to different lengths (tokenize.eval_max_len {!r} vs {!r})".format(
            *changed["tokenize.eval_max_len"])
    if baseline.reviews != candidate.reviews or not np.array_equal(baseline.labels, candidate.labels):
        differing = "; ".join(f"{name} {old!r} vs {new!r}" for name, (old, new) in changed.items()
                              if name.startswith("data."))
        return f"they were scored on different test reviews ({differing or 'the download stage wrote other reviews'})"
    return None


def compare_revisions(baseline: ScoredRevision, candidate: ScoredRevision) -> dict[str, dict | None]:
    """Per architecture, the verdict on candidate minus baseline in mean test accuracy (None where the two sides'
    models are the same, the change leaving that architecture alone); under the candidate's margin and plan."""
    if reason := why_not_comparable(baseline, candidate):
        raise PipelineError(f"cannot compare {candidate.name} with {baseline.name}: {reason}; compare revisions that "
                            f"score the same test reviews to the same tokenize.eval_max_len")
    return {kind: compare_pair(baseline, candidate, kind) for kind in MODEL_KINDS}


def compare_pair(baseline: ScoredRevision, candidate: ScoredRevision, kind: str) -> dict | None:
    """One architecture's verdict, candidate minus baseline; None when both sides hold the same models."""
    if baseline.digests[kind] == candidate.digests[kind]:
        return None
    compare = candidate.params.compare
    return compare_architectures(candidate.labels, {"candidate": candidate.scores[kind],
                                                    "baseline": baseline.scores[kind]},
                                 compare.margin_share, compare.max_seeds)


def mean_accuracy(side: ScoredRevision, kind: str) -> float:
    """An architecture's test accuracy averaged over a side's seeds."""
    return float(np.mean([is_right(scores, side.labels).mean() for scores in side.scores[kind].values()]))


def side_names(baseline: ScoredRevision, candidate: ScoredRevision) -> dict[str, str]:
    """How the verdict's text names the two sides."""
    return {"baseline": baseline.name, "candidate": candidate.name}


def versus_lines(baseline: ScoredRevision, candidate: ScoredRevision,
                 comparisons: dict[str, dict | None]) -> list[str]:
    """The changed params, then per architecture both sides' mean accuracy and the verdict, one line each."""
    changed = changed_params(baseline.params, candidate.params)
    lines = [f"{candidate.name} against {baseline.name}: "
             + ("; ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changed.items()) if changed
                else "no param differs")]
    names = model_names(candidate.params)
    for kind, comparison in comparisons.items():
        title = short_name(names, kind)
        if comparison is None:
            lines.append(f"{title}: the same models on both sides (the change left its stages alone)")
            continue
        means = ", ".join(f"{side.name} {100 * mean_accuracy(side, kind):.2f}% over {len(side.scores[kind])} seeds"
                          for side in (baseline, candidate))
        lines.append(f"{title}: {means}; {verdict_line(comparison, side_names(baseline, candidate))}")
    return lines


@dataclass(frozen=True)
class AgainstBaseline:
    """A pipeline run's results against the commit it started from."""

    baseline: ScoredRevision
    run: ScoredRevision
    comparisons: dict[str, dict | None]


THIS_RUN = "this run"


def against_baseline(commit: str) -> AgainstBaseline | None:
    """The workspace's results (as the running pipeline left them) against those at `commit`; None when nothing
    differs: the same params and the same models."""
    start = open_revision(commit)
    if not start.files.exists("dvc.lock"):
        return None  # the pipeline never ran at that commit (a fresh clone's first run): nothing to compare with
    run = dataclasses.replace(read_revision(WORKSPACE), name=THIS_RUN)
    try:
        baseline = dataclasses.replace(read_scores(start), name=commit[:7])
    except PipelineError:
        if not changed_params(start.params, run.params):
            return None  # the same params, and the commit's results not in this cache: nothing to tell
        raise
    if not changed_params(baseline.params, run.params) and baseline.digests == run.digests:
        return None
    return AgainstBaseline(baseline, run, compare_revisions(baseline, run))


def against_baseline_section(against: AgainstBaseline | None, problem: str | None) -> list[str]:
    """The report's "Against the baseline" section: empty when this run is its baseline commit's."""
    if against is None and problem is None:
        return []
    lines = ["## Against the baseline", ""]
    if problem:
        return [*lines, f"Not compared with the commit this run started from: {problem}.", ""]
    baseline, changed = against.baseline.name, changed_params(against.baseline.params, against.run.params)
    lines.append(f"This run against commit `{baseline}`, the one it started from, as `python -m pipeline.versus "
                 f"{baseline}` compares them (candidate minus baseline, the verdict's interval, margin and rule).")
    lines.append("")
    if changed:
        lines += ["| param | baseline | this run |", "|---|---|---|",
                  *[f"| `{name}` | {old} | {new} |" for name, (old, new) in changed.items()], ""]
    else:
        lines += ["No param differs: the code or the data did.", ""]
    lines += [f"- {line}" for line in versus_lines(against.baseline, against.run, against.comparisons)[1:]]
    return [*lines, ""]


def against_baseline_record(against: AgainstBaseline) -> tuple[dict[str, float], dict[str, str]]:
    """The comparison run's metrics and tags for it: per architecture compared, the difference (this run minus the
    baseline), its interval and the probabilities; the outcome and the baseline commit as tags."""
    metrics, tags = {}, {"baseline.commit": against.baseline.name,
                         "baseline.changed_params": " ".join(changed_params(against.baseline.params,
                                                                            against.run.params))}
    for kind, comparison in against.comparisons.items():
        if comparison is None:
            continue
        tags[f"baseline.{kind}.outcome"] = comparison["outcome"]
        metrics |= {f"baseline_{kind}_{key}": comparison[key] for key in (
            "difference", "ci_low", "ci_high", "p_candidate_better", "p_equivalent", "p_baseline_better")
            if comparison[key] is not None}
    return metrics, tags


def experiment_names(baseline: str) -> list[str]:
    """The DVC experiments run from commit `baseline`, as `dvc exp list` names them."""
    with Repo(".") as repo:
        listed = repo.experiments.ls(rev=[baseline])
    return sorted(name for found in listed.values() for name, _ in found)


@dataclass(frozen=True)
class SweepRow:
    """One experiment of a sweep, for one architecture."""

    side: ScoredRevision
    mean: float
    against_baseline: dict | None  # the verdict on this minus the baseline; None: the baseline, or its same models
    against_best: dict | None  # this minus the sweep's best (highest mean); None: the best, or its same models


def sweep_rows(baseline: ScoredRevision, experiments: list[ScoredRevision]) -> dict[str, list[SweepRow]]:
    """Per architecture: the baseline and every experiment, each against the baseline and against the best."""
    rows = {}
    for kind in MODEL_KINDS:
        sides = [baseline, *experiments]
        means = [mean_accuracy(side, kind) for side in sides]
        best = sides[int(np.argmax(means))]
        rows[kind] = [SweepRow(side, mean, None if side is baseline else compare_pair(baseline, side, kind),
                               None if side is best else compare_pair(best, side, kind))
                      for side, mean in zip(sides, means)]
    return rows


def sweep_table(baseline: ScoredRevision, rows: dict[str, list[SweepRow]], skipped: dict[str, str]) -> list[str]:
    """The sweep in markdown: per architecture a table of every experiment's mean accuracy and its difference from
    the baseline and from the best, each with its interval and decision."""
    margin = 100 * baseline.params.compare.margin_share
    lines = [f"# Sweep: the experiments of {baseline.name} against it and against the best", "",
             f"Each experiment's mean test accuracy over its seeds; the difference in points (the experiment minus the "
             f"other) with its 95% interval over seeds and test reviews, and the decision against the +-{margin:.2f}-"
             f"point margin, as `python -m pipeline.versus` computes them. \"same models\": the experiment left this "
             f"architecture's stages alone.", ""]
    names = model_names(baseline.params)
    for kind, kind_rows in rows.items():
        best = max(kind_rows, key=lambda row: row.mean).side
        lines += [f"## {short_name(names, kind)}", "",
                  f"| experiment | changed params | seeds | mean accuracy | vs {baseline.name} | decision | "
                  f"vs the best, {best.name} | decision |", "|---|---|---:|---:|---:|---|---:|---|"]
        for row in kind_rows:
            changed = ", ".join(f"{name}={new}" for name, (_, new) in changed_params(
                baseline.params, row.side.params).items()) or "-"
            lines.append(f"| {row.side.name} | {changed} | {len(row.side.scores[kind])} | {100 * row.mean:.2f}% | "
                         f"{_difference_cells(row.against_baseline, row.side, baseline)} | "
                         f"{_difference_cells(row.against_best, row.side, best)} |")
        lines.append("")
    lines += [f"Not compared: {name}: {reason}." for name, reason in skipped.items()]
    return lines


def _difference_cells(comparison: dict | None, side: ScoredRevision, other: ScoredRevision) -> str:
    """Two table cells: the difference (side minus other) with its interval, and the decision."""
    if side is other:
        return "- | -"
    if comparison is None:
        return "same models | -"
    low, high = comparison["ci_low"], comparison["ci_high"]
    interval = "" if low is None else f" [{points(low)}, {points(high)}]"
    winner = {"candidate": side.name, "baseline": other.name, None: ""}[comparison["winner"]]
    decision = {"better_beyond_margin": f"{winner} better by more than the margin", "better": f"{winner} better",
                "equivalent": "equivalent", "not_resolved": "not resolved", "one_seed": "one seed: no interval"}
    return f"{points(comparison['difference'])}{interval} | {decision[comparison['outcome']]}"


def sweep_metrics(rows: dict[str, list[SweepRow]]) -> dict[str, float]:
    """The sweep's MLflow metrics: per experiment and architecture, the mean and the differences with intervals."""
    metrics = {}
    for kind, kind_rows in rows.items():
        for row in kind_rows:
            prefix = f"{row.side.name}.{kind}"
            metrics[f"{prefix}.mean_accuracy"] = row.mean
            for against, comparison in (("baseline", row.against_baseline), ("best", row.against_best)):
                if comparison is not None:
                    metrics |= {f"{prefix}.vs_{against}.{key}": comparison[key]
                                for key in ("difference", "ci_low", "ci_high", "p_equivalent")
                                if comparison[key] is not None}
    return metrics
