"""Stage: every seed's test scores (as its train stage wrote them) and the baseline's, summarised, and the
architectures compared.

Writes reports/: metrics.json (per architecture: each seed's scores with 95% intervals, their mean, std, lowest and
highest, the seed ensemble; the verdict on the difference between the architectures: its outcome against the margin,
its interval over seeds and test reviews, the probability of each answer; McNemar's test per seed; the same params
give the same file byte for byte), timings.json (training seconds, inference throughput), test_predictions.csv
(every seed's probability for every test review), attention.json (the weights of a few reviews, from each
architecture's representative seed), mlflow.json (the comparison run and the registered models) and plots/ (ROC,
confusion, accuracy by length of the seed ensembles, mean learning curves: DVC plots).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer
from sklearn.metrics import roc_curve
from torch import nn

from pipeline import tracking
from pipeline.attention import attention_example, pick_examples
from pipeline.compute import resolve_precision
from pipeline.comparison import architecture_scores, compare_architectures, seed_ensemble, spread
from pipeline.decision import predicted_labels
from pipeline.errors import PipelineError, reports_errors
from pipeline.faithfulness_report import curves, faithfulness_metrics, faithfulness_results, read_faithfulness
from pipeline.files import atomic_path, read_json, read_output, write_json
from pipeline.metrics import accuracy_by_length, classification_metrics, mcnemar_exact
from pipeline.models import load_checkpoint
from pipeline.params import MODEL_KINDS, Params, load_params, model_names
from pipeline.reporting import verdict_line
from pipeline.text import EncodedSplit, Vocabulary
from pipeline.trained import Predictions, TrainedSeed, mean_history, representative, trained_seeds

LOGGED_SCORES = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "precision", "recall", "f1", "roc_auc",
                 "hop_overlap")
SHARED_FIELDS = ("params", "params_by_part", "vocab_size", "train_samples", "val_samples")  # the same for every seed
SEED_FIELDS = ("epochs", "best_epoch", "val_loss", "val_accuracy")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/, mha/ and baseline/."),
    out: Path = typer.Option(Path("reports"), help="Folder for metrics.json, predictions, attention and plots/."),
) -> None:
    """Accuracy (with its 95% interval), F1, ROC AUC and confusion of every seed, their spread, the seed ensembles,
    and whether one architecture is more accurate beyond the seeds' and the test reviews' noise."""
    settings = load_params(params)
    test = read_output(data / "test.npz", "tokenize", EncodedSplit.load)
    vocab = read_output(data / "vocab.json", "tokenize", Vocabulary.load)
    trained = {kind: trained_seeds(models, kind, settings.train.seeds) for kind in MODEL_KINDS}
    scored = {kind: {seed: run.test_scores(len(test)) for seed, run in trained[kind].items()} for kind in MODEL_KINDS}
    baseline_probabilities = read_output(models / "baseline" / "test_probabilities.npy", "baseline", np.load)
    baseline_trained = read_output(models / "baseline" / "train_metrics.json", "baseline", read_json)
    baseline_run = read_output(models / "baseline" / "mlflow_run.json", "baseline", read_json)
    if len(baseline_probabilities) != len(test):
        raise PipelineError(f"{models}/baseline does not match the test split: run the baseline stage again")
    histories = {kind: [run.history() for run in trained[kind].values()] for kind in MODEL_KINDS}
    faithfulness = {kind: read_faithfulness(models, kind, settings.train.seeds) for kind in MODEL_KINDS}
    chosen = {kind: representative(trained[kind]) for kind in MODEL_KINDS}
    networks = {kind: read_output(run.weights, run.stage, load_checkpoint) for kind, run in chosen.items()}
    tracking.use_experiment(settings.mlflow.experiment)  # an unreachable tracking server fails before any work

    probabilities = {kind: {seed: scores.probabilities for seed, scores in scored[kind].items()}
                     for kind in MODEL_KINDS}
    results, timings = {}, {}
    for kind in MODEL_KINDS:
        results[kind], timings[kind] = architecture_results(test, scored[kind], trained[kind])
        typer.echo(f"{kind}: mean accuracy {results[kind]['mean']['accuracy']:.4f} over seeds "
                   f"{', '.join(map(str, trained[kind]))}; seed ensemble {results[kind]['ensemble']['accuracy']:.4f}")
    results["baseline"] = (classification_metrics(test.labels, baseline_probabilities)
                           | {k: v for k, v in baseline_trained.items() if k != "train_seconds"}
                           | {"test_samples": len(test)})
    timings["baseline"] = {"train_seconds": baseline_trained["train_seconds"]}
    ensembles = {kind: seed_ensemble(probabilities[kind]) for kind in MODEL_KINDS}
    results["comparison"] = compare_architectures(test.labels, probabilities, settings.compare.margin_share,
                                                  settings.compare.max_seeds)
    results["self_vs_mha"] = paired_tests(test.labels, probabilities, ensembles)
    results["faithfulness"] = faithfulness_results(faithfulness, settings.faithfulness.margin,
                                                   settings.compare.max_seeds)
    names = model_names(settings)
    typer.echo(verdict_line(results["comparison"], names))

    examples = attention_examples(test, vocab, settings, chosen, networks, probabilities)
    recorded = record_in_mlflow(settings, test, results, timings, trained, chosen, baseline_run)

    write_plots(out / "plots", test, ensembles | {"baseline": baseline_probabilities}, settings.tokenize.max_len,
                histories)
    for kind in MODEL_KINDS:
        with atomic_path(out / "plots" / f"faithfulness_{kind}.csv") as partial:
            curves(faithfulness[kind]).to_csv(partial, index=False)
    columns = {f"{kind}_seed{seed}": scores for kind in MODEL_KINDS for seed, scores in probabilities[kind].items()}
    with atomic_path(out / "test_predictions.csv") as partial:
        pd.DataFrame({"label": test.labels, "tokens": test.lengths} | columns
                     | {f"{kind}_ensemble": ensembles[kind] for kind in MODEL_KINDS}
                     | {"baseline": baseline_probabilities}).to_csv(partial, index_label="row")
    write_json(out / "attention.json", examples)
    write_json(out / "metrics.json", results)
    write_json(out / "timings.json", timings)
    write_json(out / "mlflow.json", recorded)


def architecture_results(test: EncodedSplit, scored: dict[int, Predictions],
                         trained: dict[int, TrainedSeed]) -> tuple[dict, dict]:
    """metrics.json's and timings.json's entries for one architecture."""
    results = architecture_scores(test.labels, {seed: scores.probabilities for seed, scores in scored.items()})
    for seed, run in trained.items():
        results["seeds"][str(seed)] |= {field: run.metrics[field] for field in SEED_FIELDS}
    overlaps = {seed: scores.mean_hop_overlap for seed, scores in scored.items()}
    if None not in overlaps.values():  # two hops or more
        for seed, overlap in overlaps.items():
            results["seeds"][str(seed)]["hop_overlap"] = overlap
        for statistic, value in spread(list(overlaps.values())).items():
            results[statistic]["hop_overlap"] = value
    first = next(iter(trained.values()))
    results |= {field: first.metrics[field] for field in SHARED_FIELDS} | {"test_samples": len(test)}
    results["representative_seed"] = representative(trained).seed
    seconds = {seed: run.metrics["train_seconds"] for seed, run in trained.items()}
    throughputs = {seed: run.metrics["test_throughput"] for seed, run in trained.items()}
    timings = {
        "seeds": {str(seed): {"train_seconds": seconds[seed], "throughput": round(throughputs[seed], 1),
                              "compute": run.metrics["compute"]} for seed, run in trained.items()},
        "train_seconds": round(float(np.mean(list(seconds.values()))), 3),
        "train_seconds_total": round(sum(seconds.values()), 3),
        "throughput": round(float(np.mean(list(throughputs.values()))), 1),
    }
    return results, timings


def paired_tests(labels: np.ndarray, probabilities: dict[str, dict[int, np.ndarray]],
                 ensembles: dict[str, np.ndarray]) -> dict[str, dict]:
    """McNemar's test of the two architectures' models trained with the same seed, and of their seed ensembles: do
    these two trained models err at different rates on this test set? (Not a test of the architectures.)"""
    pairs = {str(seed): (probabilities["self"][seed], probabilities["mha"][seed])
             for seed in probabilities["self"] if seed in probabilities["mha"]}
    pairs["ensemble"] = tuple(ensembles[kind] for kind in MODEL_KINDS)
    tests = {}
    for name, (first, second) in pairs.items():
        paired = mcnemar_exact(labels, first, second)
        tests[name] = {"only_self_right": paired.only_first_right, "only_mha_right": paired.only_second_right,
                       "mcnemar_p_value": paired.p_value}
    return tests


def attention_examples(test: EncodedSplit, vocab: Vocabulary, settings: Params, chosen: dict[str, TrainedSeed],
                       networks: dict[str, nn.Module], probabilities: dict[str, dict[int, np.ndarray]]) -> list[dict]:
    """A few test reviews as each architecture's representative seed weighted them (on the CPU in train.precision,
    one unpadded review at a time)."""
    chosen_probabilities = {kind: probabilities[kind][run.seed] for kind, run in chosen.items()}
    examples = []
    for case, index in pick_examples(test.labels, test.lengths, chosen_probabilities, settings.data.seed,
                                     max_tokens=settings.tokenize.max_len):
        ids = test.ids[index, : test.lengths[index]]
        example = attention_example(
            case, index, int(test.labels[index]), [vocab.tokens[i] for i in ids], ids, networks,
            {kind: float(scores[index]) for kind, scores in chosen_probabilities.items()},
            resolve_precision(settings.train.precision, torch.device("cpu")),
        )
        examples.append(asdict(example) | {"seeds": {kind: run.seed for kind, run in chosen.items()}})
    return examples


def record_in_mlflow(settings: Params, test: EncodedSplit, results: dict, timings: dict,
                     trained: dict[str, dict[int, TrainedSeed]], chosen: dict[str, TrainedSeed],
                     baseline_run: dict) -> dict:
    """Test scores on every seed's run; one comparison run holding the means, the interval and the verdict, with the
    seed runs and the baseline nested under it; each architecture's representative seed registered."""
    tested = tracking.token_split(settings.data, "test", test.ids, test.lengths, test.labels)
    for kind in MODEL_KINDS:
        for seed, run in trained[kind].items():
            with tracking.reopened_run(run.run["run_id"]):
                tracking.log_input(tested, "testing")
                scores = results[kind]["seeds"][str(seed)]
                tracking.log_metrics({f"test_{key}": scores[key] for key in LOGGED_SCORES if key in scores}
                                     | {"throughput": timings[kind]["seeds"][str(seed)]["throughput"]})
    with tracking.reopened_run(baseline_run["run_id"]):
        tracking.log_metrics({f"test_{key}": results["baseline"][key] for key in LOGGED_SCORES
                              if key in results["baseline"]})

    names = model_names(settings)
    comparison = results["comparison"]
    tags = tracking.run_tags("evaluate", comparison="self vs mha", seeds=len(settings.train.seeds),
                             outcome=comparison["outcome"], winner=comparison["winner"] or "none")
    with tracking.recorded_run(tracking.run_name("comparison"), tags, verdict_line(comparison, names)) as run:
        seed_runs = {f"{kind}.seed_runs": " ".join(f"{seed}:{seed_run.run['run_id']}"
                                                   for seed, seed_run in trained[kind].items())
                     for kind in MODEL_KINDS}  # a cached seed run is nested under the latest comparison only
        tracking.log_params(settings.flat() | seed_runs
                            | {f"{kind}.representative_seed": chosen[kind].seed for kind in MODEL_KINDS})
        tracking.log_metrics(comparison_metrics(results, timings))
        tracking.nest_runs(run.info.run_id, [seed_run.run["run_id"] for kind in MODEL_KINDS
                                             for seed_run in trained[kind].values()] + [baseline_run["run_id"]])
        registered = {}
        for kind, seed_run in chosen.items():
            name = settings.mlflow.registered_name(kind)
            note = (f"{names[kind]}, seed {seed_run.seed}: of seeds {', '.join(map(str, trained[kind]))}, the one with "
                    f"the lowest validation loss; compared in run {run.info.run_id}")
            version = tracking.register_model(seed_run.run["model_uri"], name,
                                              {"seed": str(seed_run.seed), "comparison_run": run.info.run_id}, note)
            registered[kind] = {"name": name, "version": version, "seed": seed_run.seed,
                                "run_id": seed_run.run["run_id"], "model_uri": seed_run.run["model_uri"]}
    return {"experiment_id": run.info.experiment_id, "comparison_run_id": run.info.run_id, "registered": registered}


def comparison_metrics(results: dict, timings: dict) -> dict[str, float]:
    """What the comparison run shows: each architecture's spread over seeds and ensemble, the baseline, and the
    difference with its interval (absent with a single seed)."""
    metrics = {}
    for kind in MODEL_KINDS:
        for statistic in ("mean", "std", "min", "max"):
            metrics |= {f"{kind}_{score}_{statistic}": value for score, value in results[kind][statistic].items()}
        metrics[f"{kind}_ensemble_accuracy"] = results[kind]["ensemble"]["accuracy"]
        metrics[f"{kind}_train_seconds_total"] = timings[kind]["train_seconds_total"]
    comparison = results["comparison"]
    metrics |= {"baseline_accuracy": results["baseline"]["accuracy"], "difference": comparison["difference"],
                "margin": comparison["margin"]}
    if comparison["ci_low"] is not None:
        metrics |= {f"difference_{key}": comparison[key] for key in ("ci_low", "ci_high")}
        metrics |= {key: comparison[key] for key in ("p_self_better", "p_equivalent", "p_mha_better")}
    return metrics | faithfulness_metrics(results["faithfulness"])


def write_plots(folder: Path, test: EncodedSplit, probabilities: dict[str, np.ndarray], max_len: int,
                histories: dict[str, list[pd.DataFrame]]) -> None:
    """The tables `dvc plots` draws (see dvc.yaml): the seed ensembles' ROC curves, confusion pairs and accuracy by
    length, and each architecture's learning curves averaged over its seeds."""
    for name, probs in probabilities.items():
        fpr, tpr, _ = roc_curve(test.labels, probs)
        with atomic_path(folder / f"roc_{name}.csv") as partial:
            pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(partial, index=False)
    for kind in MODEL_KINDS:
        with atomic_path(folder / f"confusion_{kind}.csv") as partial:
            pd.DataFrame({"actual": test.labels, "predicted": predicted_labels(probabilities[kind])}).to_csv(
                partial, index=False)
        with atomic_path(folder / f"history_{kind}.csv") as partial:
            mean_history(histories[kind]).to_csv(partial, index=False)
    with atomic_path(folder / "accuracy_by_length.csv") as partial:
        accuracy_by_length(test.labels, test.lengths, max_len, probabilities).to_csv(partial, index=False)


if __name__ == "__main__":
    app()
