"""The comparison report: a markdown page with a results table, learning curves and a verdict."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipeline.params import Params

TIE_POINTS = 0.5  # accuracy differences below this many points are called a tie


def model_names(params: Params) -> dict[str, str]:
    return {
        "self": f"Self-attention (Bi{params.model.rnn.upper()} + attentive pooling)",
        "mha": f"Multi-head attention (LSTM + {params.model.heads} heads)",
    }


def plot_learning_curves(histories: dict[str, pd.DataFrame], names: dict[str, str], path: Path) -> None:
    """Loss and accuracy per epoch, training dashed and validation solid, one colour per model."""
    figure = Figure(figsize=(11, 4), layout="tight")  # no pyplot: no GUI backend, no global figure state
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    for (kind, history), colour in zip(histories.items(), ("tab:blue", "tab:orange")):
        for column, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
            axis.plot(history["epoch"], history[f"train_{column}"], "--", color=colour, label=f"{names[kind]} train")
            axis.plot(history["epoch"], history[f"val_{column}"], "-o", color=colour, label=f"{names[kind]} val")
    for axis, title in ((loss_axis, "Loss (binary cross-entropy)"), (accuracy_axis, "Accuracy")):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    accuracy_axis.legend(fontsize=8, loc="lower right")
    figure.savefig(path, dpi=110, format="png")


def verdict(metrics: dict[str, dict], names: dict[str, str]) -> str:
    gap = 100 * (metrics["self"]["accuracy"] - metrics["mha"]["accuracy"])
    accuracies = " vs ".join(f"{100 * metrics[k]['accuracy']:.2f}%" for k in ("self", "mha"))
    if abs(gap) < TIE_POINTS:
        return (f"**A tie**: the two models are within {TIE_POINTS} accuracy points of each other "
                f"({accuracies}, a gap of {abs(gap):.2f} points).")
    winner, loser = ("self", "mha") if gap > 0 else ("mha", "self")
    size = metrics[winner]["params"] / metrics[loser]["params"]
    return (f"**{names[winner]} wins** by {abs(gap):.2f} accuracy points ({accuracies}), "
            f"with {size:.2f}x the parameters of {names[loser]} and "
            f"{metrics[winner]['train_seconds'] / metrics[loser]['train_seconds']:.2f}x its training time.")


def render_report(
    params: Params,
    metrics: dict[str, dict],
    run_ids: dict[str, str],
    commit: str,
    experiment: str | None,
    curves_png: str,
) -> str:
    names = model_names(params)
    first = metrics["self"]
    lines = [
        "# Self-attention vs multi-head attention",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `dvc repro` (stage `report`).",
        "",
        "## Verdict",
        "",
        verdict(metrics, names),
        "",
        "## Results on the test split",
        "",
        "| model | accuracy | F1 | ROC AUC | parameters | training time (s) | epochs (best) | throughput (reviews/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in ("self", "mha"):
        m = metrics[kind]
        lines.append(
            f"| {names[kind]} | {m['accuracy']:.4f} | {m['f1']:.4f} | {m['roc_auc']:.4f} | {m['params']} | "
            f"{m['train_seconds']:.1f} | {m['epochs']} ({m['best_epoch']}) | {m['throughput']:,.0f} |"
        )
    data, tok, model, train = params.data, params.tokenize, params.model, params.train
    source = {"imdb": f"IMDB reviews from {data.url}", "csv": f"your table {data.path}",
              "synthetic": "the built-in synthetic corpus"}[data.source]
    lines += [
        "",
        "## Learning curves",
        "",
        f"![Training (dashed) and validation (solid) loss and accuracy per epoch]({curves_png})",
        "",
        "## What was run",
        "",
        f"- Data: {source}; {first['train_samples']} train, {first['val_samples']} validation, "
        f"{first['test_samples']} test reviews" + (f" (data.limit={data.limit} per split)" if data.limit else "") + ".",
        f"- Tokens: vocabulary of {tok.vocab_size} (min_freq {tok.min_freq}, lowercase {tok.lowercase}), "
        f"reviews longer than {tok.max_len} tokens cut to their {tok.keep.replace('_', ' and ')}.",
        f"- Models: embed_dim {model.embed_dim}, hidden_dim {model.hidden_dim}, dropout {model.dropout}; "
        f"self-attention RNN {model.rnn} (bidirectional), multi-head attention {model.heads} heads.",
        f"- Training: Adam lr {train.lr}, batch {train.batch_size}, up to {train.epochs} epochs, early stopping "
        f"patience {train.patience} on validation loss, seed {train.seed}, device {train.device}.",
        f"- Code: git commit `{commit}`" + (f", DVC experiment `{experiment}`" if experiment else "") + ".",
        "",
        "## MLflow",
        "",
        f"Experiment `{params.mlflow.experiment}`; runs: "
        + ", ".join(f"{kind} `{run_ids[kind]}`" for kind in ("self", "mha"))
        + ". Open them with `mlflow ui --backend-store-uri sqlite:///mlflow.db` in the project folder.",
        "",
    ]
    return "\n".join(lines)
