"""The report's pictures, drawn with matplotlib's object API (no pyplot: no GUI backend, no global state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from pipeline.decision import is_right
from pipeline.trained import mean_history

COLOURS = {"self": "tab:blue", "mha": "tab:orange", "baseline": "tab:gray"}
DPI = 110

# Attention pictures lay tokens out on a grid of monospace character cells, so no text needs measuring.
TOKEN_FONT_SIZE = 8.5
CHAR_WIDTH_PT = 0.602 * TOKEN_FONT_SIZE  # DejaVu Sans Mono's advance width is 0.602 em
LINE_HEIGHT_IN = 1.45 * TOKEN_FONT_SIZE / 72
ATTENTION_WIDTH_IN = 10.0
ATTENTION_COLOURS = colormaps["YlOrRd"]
EVEN_SHARES_FOR_DARKEST = 4  # a row's largest weight is darkest only if it is >= 4x the even share 1/tokens
RANKING_COLOURS = {"attention": "tab:red", "gradient": "tab:purple", "random": "tab:gray"}
ATTENTION_LAYERS = {"pooling": ("self-attentive pooling", "hop"), "attention": ("multi-head attention", "head")}


def plot_learning_curves(histories: dict[str, list[pd.DataFrame]], names: dict[str, str], path: Path) -> None:
    """Loss and accuracy per epoch, training dashed and validation solid, one colour per model: every seed thin, the
    mean over the seeds that trained that long bold."""
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    for kind, seeds in histories.items():
        mean = mean_history(seeds)
        for column, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
            for history in seeds:
                for split, style in (("train", "--"), ("val", "-")):
                    axis.plot(history["epoch"], history[f"{split}_{column}"], style, color=COLOURS[kind],
                              linewidth=0.7, alpha=0.45)
            axis.plot(mean["epoch"], mean[f"train_{column}"], "--", color=COLOURS[kind], linewidth=2.2,
                      label=f"{names[kind]}: train, mean of {len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
            axis.plot(mean["epoch"], mean[f"val_{column}"], "-o", color=COLOURS[kind], linewidth=2.2,
                      label=f"{names[kind]}: validation, mean")
    for axis, title in ((loss_axis, "Loss (binary cross-entropy)"), (accuracy_axis, "Accuracy")):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = accuracy_axis.get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=7.5, loc="outside lower center", ncols=2)
    figure.savefig(path, dpi=DPI, format="png")


def plot_seed_accuracy(metrics: dict[str, dict], intervals: dict[str, tuple[float, float] | None],
                       names: dict[str, str], path: Path) -> None:
    """Every seed's test accuracy as a point, per architecture, with the seeds' mean and its 95% interval, the seed
    ensemble as a diamond, and the baseline as a line."""
    kinds = list(intervals)
    figure = Figure(figsize=(7, 4.4), layout="constrained")
    axis = figure.subplots()
    for position, kind in enumerate(kinds):
        accuracies = [100 * seed["accuracy"] for seed in metrics[kind]["seeds"].values()]
        offsets = np.linspace(-0.12, 0.12, len(accuracies)) if len(accuracies) > 1 else [0.0]
        axis.scatter(position + np.asarray(offsets), accuracies, color=COLOURS[kind], alpha=0.7, zorder=3,
                     label="one seed" if position == 0 else None)
        mean = 100 * metrics[kind]["mean"]["accuracy"]
        if intervals[kind] is not None:
            low, high = (100 * bound for bound in intervals[kind])
            axis.errorbar(position + 0.3, mean, yerr=[[mean - low], [high - mean]], fmt="_", color="black",
                          markersize=18, capsize=5, label="mean and its 95% interval over seeds" if position == 0
                          else None)
        else:
            axis.plot(position + 0.3, mean, "_", color="black", markersize=18)
        axis.plot(position + 0.45, 100 * metrics[kind]["ensemble"]["accuracy"], "D", color=COLOURS[kind],
                  markeredgecolor="black", label="seed ensemble" if position == 0 else None)
    axis.axhline(100 * metrics["baseline"]["accuracy"], color=COLOURS["baseline"], linestyle="--",
                 label=names["baseline"])
    axis.set_xticks(range(len(kinds)), [names[kind].replace(" (", "\n(") for kind in kinds], fontsize=8)
    axis.set_xlim(-0.5, len(kinds) - 0.3)
    axis.set(ylabel="test accuracy (%)", title="Test accuracy of every seed")
    axis.grid(axis="y", alpha=0.3)
    figure.legend(fontsize=7.5, loc="outside lower center", ncols=2)
    figure.savefig(path, dpi=DPI, format="png")


def plot_roc_curves(curves: dict[str, pd.DataFrame], aucs: dict[str, float], names: dict[str, str], path: Path) -> None:
    figure = Figure(figsize=(5.5, 5), layout="tight")
    axis = figure.subplots()
    for name, curve in curves.items():
        axis.plot(curve["fpr"], curve["tpr"], color=COLOURS[name], label=f"{names[name]} (AUC {aucs[name]:.3f})")
    axis.plot([0, 1], [0, 1], ":", color="black", linewidth=0.8, label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate",
             title="ROC curves on the test split\n(each architecture's seed ensemble)", xlim=(0, 1), ylim=(0, 1.01),
             aspect="equal")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.savefig(path, dpi=DPI, format="png")


def plot_accuracy_by_length(table: pd.DataFrame, names: dict[str, str], path: Path) -> None:
    """Grouped bars: one group per length band, one bar per model; bands without reviews stay empty."""
    models = [name for name in names if f"accuracy_{name}" in table]
    figure = Figure(figsize=(8, 4.4), layout="constrained")
    axis = figure.subplots()
    width = 0.8 / len(models)
    positions = np.arange(len(table))
    for offset, name in enumerate(models):
        axis.bar(positions + (offset - (len(models) - 1) / 2) * width, table[f"accuracy_{name}"], width,
                 color=COLOURS[name], label=names[name])
    axis.set_xticks(positions, [f"{band}\n{count} reviews" for band, count in zip(table["band"], table["reviews"])])
    low = np.nanmin(table[[f"accuracy_{name}" for name in models]].to_numpy(), initial=1.0)
    axis.set(ylabel="test accuracy", title="Accuracy by review length", ylim=(max(0.0, low - 0.1), 1.0))
    axis.grid(axis="y", alpha=0.3)
    figure.legend(fontsize=7, loc="outside lower center", ncols=len(models))
    figure.savefig(path, dpi=DPI, format="png")


def plot_faithfulness(curves: dict[str, pd.DataFrame], names: dict[str, str], path: Path) -> None:
    """Per architecture, the drop in the predicted class's probability as each review's top tokens are erased, under
    the attention, gradient and random rankings: the mean over seeds as a line, the seeds' range as a band."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, len(curves), sharey=True)
    for axis, (kind, table) in zip(np.atleast_1d(axes), curves.items()):
        for ranking, colour in RANKING_COLOURS.items():
            axis.plot(100 * table["fraction"], table[ranking], "-o", color=colour, label=ranking, markersize=4)
            axis.fill_between(100 * table["fraction"], table[f"{ranking}_min"], table[f"{ranking}_max"],
                              color=colour, alpha=0.2, linewidth=0)
        axis.set_xscale("log")
        axis.set_xticks(100 * table["fraction"], labels=[f"{100 * fraction:g}%" for fraction in table["fraction"]])
        axis.minorticks_off()
        axis.set_title(names[kind], fontsize=9)
        axis.set_xlabel("top tokens erased, share of the review (log scale)")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("drop in the predicted class's probability")
    np.atleast_1d(axes)[0].legend(title="ranking (band: the seeds' range)", fontsize=8, title_fontsize=8)
    figure.savefig(path, dpi=DPI, format="png")


def plot_review_attention(example: dict, names: dict[str, str], path: Path) -> None:
    """One review of evaluate's attention.json: for each attention layer of each model the mean of the layer's rows,
    then each row. Both models' pooling hops come first, one after the other, as they compare directly; then the
    multi-head model's heads."""
    panels = []
    for layer, (what, row_name) in ATTENTION_LAYERS.items():
        for kind in ("self", "mha"):
            if layer not in example["weights"][kind]:
                continue
            probability = example["probabilities"][kind]
            right = "right" if is_right(probability, example["label"]) else "wrong"
            header = f"{names[kind]}, seed {example['seeds'][kind]}: p(positive) {probability:.2f}, {right}; {what}"
            rows = np.asarray(example["weights"][kind][layer])
            if len(rows) == 1:
                panels.append((header, rows[0]))
                continue
            panels.append((f"{header}, mean of the {len(rows)} {row_name}s", rows.mean(axis=0)))
            panels += [(f"{row_name} {number}", row) for number, row in enumerate(rows, start=1)]
    label = "positive" if example["label"] else "negative"
    title = f"{example['case'].capitalize()}: test row {example['index']}, {len(example['tokens'])} tokens, {label}"
    plot_token_attention(title, example["tokens"], panels, path)


def plot_token_attention(title: str, tokens: list[str], panels: list[tuple[str, np.ndarray]], path: Path) -> None:
    """The review's tokens once per panel, each shaded by that panel's weights: darkest is the panel's largest
    weight, unless that is under 4x the even share, so near-uniform attention looks pale, not dark.

    Each line is one text and each panel's shading one collection: drawn token by token, the pictures of a
    4-hop, 4-head report took most of the report stage's time."""
    margin_in = 0.15
    columns = (ATTENTION_WIDTH_IN - 2 * margin_in) * 72 / CHAR_WIDTH_PT
    places, texts, column = [], [[]], 0.0
    for token in tokens:
        if column and column + len(token) > columns:
            texts.append([])
            column = 0.0
        places.append((column, len(texts) - 1))
        texts[-1].append(token)
        column += len(token) + 1
    lines = len(texts)
    panel_in = (lines + 2.2) * LINE_HEIGHT_IN
    header_in = 0.45
    height_in = header_in + panel_in * len(panels)
    figure = Figure(figsize=(ATTENTION_WIDTH_IN, height_in))
    figure.text(margin_in / ATTENTION_WIDTH_IN, 1 - 0.12 / height_in, title, va="top", fontsize=9.5, wrap=True)
    for number, (panel_title, weights) in enumerate(panels):
        top_in = header_in + number * panel_in
        axis = figure.add_axes((
            margin_in / ATTENTION_WIDTH_IN, 1 - (top_in + panel_in - 0.6 * LINE_HEIGHT_IN) / height_in,
            1 - 2 * margin_in / ATTENTION_WIDTH_IN, lines * LINE_HEIGHT_IN / height_in,
        ))
        axis.set(xlim=(0, columns), ylim=(lines, 0))
        axis.axis("off")
        axis.set_title(panel_title, loc="left", fontsize=8.5, pad=3)
        shades = weights / max(weights.max(), EVEN_SHARES_FOR_DARKEST / len(weights))
        boxes = [Rectangle((x - 0.15, y + 0.06), len(token) + 0.3, 0.88) for token, (x, y) in zip(tokens, places)]
        axis.add_collection(PatchCollection(boxes, facecolors=ATTENTION_COLOURS(0.7 * shades), linewidths=0),
                            autolim=False)
        for y, line_tokens in enumerate(texts):  # one space between tokens: the same cells as the boxes
            axis.text(0, y + 0.5, " ".join(line_tokens), family="DejaVu Sans Mono", fontsize=TOKEN_FONT_SIZE,
                      va="center", parse_math=False)
    with rc_context({"text.hinting": "no_hinting"}):  # hinting rounds each glyph's advance: lines drift off the cells
        figure.savefig(path, dpi=DPI, format="png")
