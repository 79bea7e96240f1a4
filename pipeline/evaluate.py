"""Stage: score both models and the baseline on the test split.

Writes reports/: metrics.json (scores with 95% intervals, and McNemar's test of self vs mha; the same
params and seed give the same file byte for byte), timings.json (training seconds, inference throughput),
test_predictions.csv (every test review's probabilities), attention.json (the weights of a few reviews)
and plots/ (ROC, confusion, accuracy by review length: DVC plots).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from sklearn.metrics import roc_curve

from pipeline import tracking
from pipeline.attention import attention_example, pick_examples
from pipeline.decision import predicted_labels
from pipeline.errors import PipelineError, reports_errors
from pipeline.files import atomic_path, read_json, read_output, write_json
from pipeline.metrics import accuracy_by_length, classification_metrics, mcnemar_exact
from pipeline.models import load_checkpoint
from pipeline.params import MODEL_KINDS, load_params, stage_of
from pipeline.text import EncodedSplit, Vocabulary
from pipeline.training import Batches, resolve_device, timed_predictions

LOGGED_SCORES = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "precision", "recall", "f1", "roc_auc")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_errors
def main(
    params: Path = typer.Option(Path("params.yaml"), help="Parameters file."),
    data: Path = typer.Option(Path("data/processed"), help="Output of tokenize."),
    models: Path = typer.Option(Path("models"), help="Folder holding self/, mha/ and baseline/."),
    out: Path = typer.Option(Path("reports"), help="Folder for metrics.json, predictions, attention and plots/."),
) -> None:
    """Accuracy (with its 95% interval), F1, ROC AUC, confusion, size, time and throughput of each model."""
    settings = load_params(params)
    test = read_output(data / "test.npz", "tokenize", EncodedSplit.load)
    vocab = read_output(data / "vocab.json", "tokenize", Vocabulary.load)
    device = resolve_device(settings.train.device)
    networks = {kind: read_output(models / kind / "model.pt", stage_of(kind), load_checkpoint).to(device)
                for kind in MODEL_KINDS}
    baseline = read_output(models / "baseline" / "test_probabilities.npy", "baseline", np.load)
    names = (*MODEL_KINDS, "baseline")
    trained = {name: read_output(models / name / "train_metrics.json", stage_of(name), read_json) for name in names}
    runs = {name: read_output(models / name / "mlflow_run.json", stage_of(name), read_json) for name in names}
    tracking.use_experiment(settings.mlflow.experiment)  # an unreachable tracking server fails before any work
    batches = Batches(test, device)

    probabilities, results, timings = {}, {}, {}
    for kind, (scores, throughput) in timed_predictions(networks, batches).items():
        probabilities[kind] = scores
        results[kind] = classification_metrics(test.labels, scores)
        timings[kind] = {"throughput": round(throughput, 1)}
    probabilities["baseline"] = baseline
    if len(probabilities["baseline"]) != len(test):
        raise PipelineError(f"{models}/baseline does not match the test split: run the baseline stage again")
    results["baseline"] = classification_metrics(test.labels, probabilities["baseline"])
    for name in results:
        timings[name] = timings.get(name, {}) | {"train_seconds": trained[name].pop("train_seconds")}
        results[name] = results[name] | trained[name] | {"test_samples": len(test)}
        typer.echo(f"{name}: accuracy {results[name]['accuracy']:.4f} "
                   f"[{results[name]['accuracy_ci_low']:.4f}, {results[name]['accuracy_ci_high']:.4f}]")
    paired = mcnemar_exact(test.labels, probabilities["self"], probabilities["mha"])
    results["self_vs_mha"] = {"only_self_right": paired.only_first_right, "only_mha_right": paired.only_second_right,
                              "mcnemar_p_value": paired.p_value}
    typer.echo(f"McNemar self vs mha: {paired.only_first_right} vs {paired.only_second_right} reviews "
               f"only one model got right, p = {paired.p_value:.4g}")

    for name in probabilities:
        with tracking.reopened_run(runs[name]["run_id"]):
            if name in MODEL_KINDS:  # the baseline stage records the test reviews it scored itself
                tracking.log_token_split(settings.data, "test", "testing", test.ids, test.lengths, test.labels)
            tracking.log_metrics({f"test_{key}": results[name][key] for key in LOGGED_SCORES}
                               | {key: value for key, value in timings[name].items() if key == "throughput"})

    write_plots(out / "plots", test, probabilities, settings.tokenize.max_len)
    with atomic_path(out / "test_predictions.csv") as partial:
        pd.DataFrame({"label": test.labels, "tokens": test.lengths} | probabilities).to_csv(partial, index_label="row")
    examples = []
    on_cpu = {kind: network.cpu() for kind, network in networks.items()}  # one unpadded review at a time
    for case, index in pick_examples(test.labels, test.lengths, {k: probabilities[k] for k in MODEL_KINDS},
                                     settings.data.seed, max_tokens=settings.tokenize.max_len):
        ids = test.ids[index, : test.lengths[index]]
        examples.append(attention_example(
            case, index, int(test.labels[index]), [vocab.tokens[i] for i in ids], ids, on_cpu,
            {kind: float(probabilities[kind][index]) for kind in MODEL_KINDS},
        ))
    write_json(out / "attention.json", [asdict(example) for example in examples])
    write_json(out / "metrics.json", results)
    write_json(out / "timings.json", timings)


def write_plots(folder: Path, test: EncodedSplit, probabilities: dict[str, np.ndarray], max_len: int) -> None:
    """The tables `dvc plots` draws (see dvc.yaml): ROC curves, confusion pairs, accuracy by length."""
    for name, probs in probabilities.items():
        fpr, tpr, _ = roc_curve(test.labels, probs)
        with atomic_path(folder / f"roc_{name}.csv") as partial:
            pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(partial, index=False)
    for kind in MODEL_KINDS:
        with atomic_path(folder / f"confusion_{kind}.csv") as partial:
            pd.DataFrame({"actual": test.labels, "predicted": predicted_labels(probabilities[kind])}).to_csv(
                partial, index=False)
    with atomic_path(folder / "accuracy_by_length.csv") as partial:
        accuracy_by_length(test.labels, test.lengths, max_len, probabilities).to_csv(partial, index=False)


if __name__ == "__main__":
    app()
