"""The comparison report in markdown: verdict with significance, results, parameters, curves, attention, provenance.

Everything here reads finished outputs (metrics.json, attention.json, plot tables); nothing is recomputed.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from pipeline.decision import is_right
from pipeline.metrics import CONFIDENCE, SIGNIFICANCE
from pipeline.params import MODEL_KINDS, Params, model_names
from pipeline.tracking import is_server, ui_link

PARTS = {
    "embedding": "embedding", "rnn": "RNN", "attention": "multi-head attention", "pooling": "self-attentive pooling",
    "classifier": "dense classifier",
}


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def interval(scores: dict) -> str:
    low, high = 100 * scores["accuracy_ci_low"], 100 * scores["accuracy_ci_high"]
    return f"{percent(scores['accuracy'])} [{low:.2f}, {high:.2f}]"


def majority_share(scores: dict) -> float:
    """Accuracy of always answering the test split's more common label."""
    positives = scores["true_positives"] + scores["false_negatives"]
    return max(positives, scores["test_samples"] - positives) / scores["test_samples"]


def verdict(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    """Paragraphs that answer: which attention wins, is the gap real, did both learn, how far from the baseline."""
    self_, mha = metrics["self"], metrics["mha"]
    paired = metrics["self_vs_mha"]
    disagreements = paired["only_self_right"] + paired["only_mha_right"]
    gap = 100 * (self_["accuracy"] - mha["accuracy"])
    evidence = (f"Of the {self_['test_samples']:,} test reviews, {disagreements:,} are classified right by exactly one "
                f"model: {paired['only_self_right']:,} by self-attention, {paired['only_mha_right']:,} by multi-head "
                f"attention; McNemar's exact test gives p = {paired['mcnemar_p_value']:.3g}.")
    if paired["mcnemar_p_value"] < SIGNIFICANCE:
        winner, loser = ("self", "mha") if gap > 0 else ("mha", "self")
        w, lo = metrics[winner], metrics[loser]
        headline = (f"**{names[winner]} is better**: {interval(w)} against {interval(lo)} ({abs(gap):.2f} points). "
                    f"{evidence} A gap this lopsided would arise by chance less than {SIGNIFICANCE:.0%} of the time. "
                    f"It has {w['params'] / lo['params']:.2f}x the parameters of the other model and took "
                    f"{w['train_seconds'] / lo['train_seconds']:.2f}x its training time.")
    else:
        headline = (f"**No significant difference**: {names['self']} {interval(self_)}, {names['mha']} "
                    f"{interval(mha)} ({abs(gap):.2f} points apart). {evidence} Since p >= {SIGNIFICANCE}, the "
                    f"gap is within what chance produces on this test set: call it a tie.")
    paragraphs = []
    for kind in MODEL_KINDS:
        majority = majority_share(metrics[kind])
        if metrics[kind]["accuracy_ci_low"] <= majority:
            paragraphs.append(
                f"**{names[kind]} did not learn**: its accuracy {interval(metrics[kind])} is not clearly better than "
                f"always answering the more common label ({percent(majority)}). See its learning curves below; more "
                f"epochs, more data or another `train.lr` may help."
            )
    paragraphs.append(headline)
    baseline, best = metrics["baseline"], max(MODEL_KINDS, key=lambda kind: metrics[kind]["accuracy"])
    distance = 100 * (baseline["accuracy"] - metrics[best]["accuracy"])
    paragraphs.append(
        f"For scale, {names['baseline']} scores {interval(baseline)} after {baseline['train_seconds']:.1f} s of "
        f"fitting: {abs(distance):.2f} points {'above' if distance > 0 else 'below'} the better attention model."
    )
    return paragraphs


def results_table(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    lines = [
        f"| model | accuracy [{CONFIDENCE:.0%} CI] | F1 | ROC AUC | parameters | training time (s) | epochs (best) "
        f"| throughput (reviews/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in (*MODEL_KINDS, "baseline"):
        m = metrics[name]
        epochs = f"{m['epochs']} ({m['best_epoch']})" if "epochs" in m else "-"
        throughput = f"{m['throughput']:,.0f}" if "throughput" in m else "-"
        lines.append(f"| {names[name]} | {interval(m)} | {m['f1']:.4f} | {m['roc_auc']:.4f} | {m['params']:,} | "
                     f"{m['train_seconds']:.1f} | {epochs} | {throughput} |")
    lines += ["", f"The baseline's parameters are its n-gram weights ({metrics['baseline']['features']:,} word "
                  f"unigrams and bigrams seen in at least two training reviews) plus a bias."]
    return lines


def parameters_table(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    parts = {kind: metrics[kind]["params_by_part"] for kind in MODEL_KINDS}
    lines = [f"| part | {names['self']} | {names['mha']} | difference |", "|---|---:|---:|---:|"]
    for part in PARTS:
        counts = [parts[kind].get(part, 0) for kind in MODEL_KINDS]
        lines.append(f"| {PARTS[part]} | {counts[0]:,} | {counts[1]:,} | {counts[1] - counts[0]:+,} |")
    totals = [metrics[kind]["params"] for kind in MODEL_KINDS]
    lines.append(f"| **total** | **{totals[0]:,}** | **{totals[1]:,}** | **{totals[1] - totals[0]:+,}** |")
    more, extra = ("mha" if totals[1] > totals[0] else "self"), abs(totals[1] - totals[0])
    biggest = max(PARTS, key=lambda part: abs(parts["mha"].get(part, 0) - parts["self"].get(part, 0)))
    lines += ["", f"{names[more]} has {extra:,} more trainable parameters ({extra / min(totals):.1%}); "
                  f"most of the difference is in the {PARTS[biggest]}."]
    return lines


def differences_table(params: Params) -> list[str]:
    model = params.model
    width = model.hidden_dim
    return [
        "| | self-attention | multi-head attention |",
        "|---|---|---|",
        f"| RNN | bidirectional {model.rnn.upper()}, 2 x {width} units (`model.rnn`) | one-directional LSTM, "
        f"{width} units |",
        f"| attention | the pooling's own weights (below) | {model.heads} heads x {width // model.heads} dims of "
        f"scaled dot-product self-attention (`model.heads`), added to the states |",
        f"| pooling | self-attentive, in {model.hops} hops (`model.hops`): each hop one learned weight per token, "
        f"the hops' weighted sums of the states concatenated | same |",
        f"| shared | embed_dim {model.embed_dim}, hidden_dim {width}, dropout {model.dropout}, "
        f"every `train.*` param | same |",
    ]


def length_table(table: pd.DataFrame, names: dict[str, str]) -> list[str]:
    models = [name for name in names if f"accuracy_{name}" in table]
    lines = ["| review length | reviews | " + " | ".join(names[m] for m in models) + " |",
             "|---|---:|" + "---:|" * len(models)]
    for _, row in table.iterrows():
        cells = ["-" if pd.isna(row[f"accuracy_{m}"]) else percent(row[f"accuracy_{m}"]) for m in models]
        lines.append(f"| {row['band']} | {row['reviews']:,} | " + " | ".join(cells) + " |")
    return lines


def attention_section(examples: list[dict], figures: list[str], names: dict[str, str]) -> list[str]:
    lines = [
        "Each picture shows one test review as the models saw it (after truncation; `<unk>` marks words outside "
        "the vocabulary), shaded by attention: the darkest token in a row has that row's largest weight, and a row "
        "whose largest weight is under four times the even share (1 / tokens) is drawn paler, so near-uniform "
        "attention looks pale. "
        "Each attention layer of each model shows the mean of its rows first, then each row. Both models end in "
        "self-attentive pooling, whose hops each weight the review's tokens for a weighted sum that is one slice of "
        "what reaches the classifier: these rows come first, one model after the other, as they compare directly. "
        "Then the multi-head model's heads, which come before its pooling: there a token's weight is the attention "
        "it receives averaged over all query positions, how much the heads read from it (their output is added to "
        "the LSTM states, which the pooling then weights). "
        "The reviews are drawn with `data.seed`, one of each kind that occurs.",
        "",
    ]
    if not examples:
        return lines + ["_No test reviews to show._"]
    for example, figure in zip(examples, figures):
        label = "positive" if example["label"] else "negative"
        verdicts = ", ".join(
            f"{names[kind].split(' (')[0]} {example['probabilities'][kind]:.2f} "
            f"({'right' if is_right(example['probabilities'][kind], example['label']) else 'wrong'})"
            for kind in MODEL_KINDS
        )
        lines += [f"**{example['case'][0].upper()}{example['case'][1:]}** (test row {example['index']}, "
                  f"{len(example['tokens'])} tokens, {label}; probability of positive: {verdicts})", "",
                  f"![Attention over test review {example['index']}]({figure})", ""]
    return lines


def render_report(
    params: Params,
    metrics: dict[str, dict],
    by_length: pd.DataFrame,
    examples: list[dict],
    runs: dict[str, dict],
    commit: str,
    experiment: str | None,
    figures: dict[str, str | list[str]],
    tracking_uri: str,
) -> str:
    names = model_names(params)
    first = metrics["self"]
    data, tok, train = params.data, params.tokenize, params.train
    keep = tok.keep.replace("_", " and ")
    source = {"imdb": f"IMDB reviews from {data.url}", "csv": f"your table `{data.path}`",
              "synthetic": "the built-in synthetic corpus"}[data.source]
    links = [f"- {names[name]}: [run `{run['run_id']}`]({ui_link(tracking_uri, run['experiment_id'], run['run_id'])})"
             + (f"; model `models:/{run['registered_model']}/{run['registered_version']}`"
                if "registered_model" in run else "")
             for name, run in runs.items()]
    experiment_link = ui_link(tracking_uri, runs["self"]["experiment_id"])
    lines = [
        "# Self-attention vs multi-head attention",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `dvc repro` (stage `report`)"
        + (f" in DVC experiment `{experiment}`" if experiment else "") + ".",
        "",
        "## Verdict",
        "",
        *[line for paragraph in verdict(metrics, names) for line in (paragraph, "")],
        "## Results on the test split",
        "",
        *results_table(metrics, names),
        "",
        f"![ROC curves]({figures['roc']})",
        "",
        "## Parameters by part",
        "",
        *parameters_table(metrics, names),
        "",
        "## How the two models differ",
        "",
        *differences_table(params),
        "",
        "## Learning curves",
        "",
        f"![Training (dashed) and validation (solid) loss and accuracy per epoch]({figures['curves']})",
        "",
        f"Early stopping keeps the weights of the epoch with the lowest validation loss "
        f"(patience {train.patience}).",
        "",
        "## Accuracy by review length",
        "",
        "Does attention help on long reviews? Test reviews grouped by their length in tokens (groups without "
        f"reviews left out). Training cut reviews over `tokenize.max_len` = {tok.max_len} tokens to their "
        f"{keep}; evaluation read up to `tokenize.eval_max_len` = {tok.eval_max_len}.",
        "",
        *length_table(by_length, names),
        "",
        f"![Accuracy by review length]({figures['lengths']})",
        "",
        "## What the models attend to",
        "",
        *attention_section(examples, figures["attention"], names),
        "## What was run",
        "",
        f"- Data: {source}; {first['train_samples']:,} train, {first['val_samples']:,} validation, "
        f"{first['test_samples']:,} test reviews" + (f" (data.limit={data.limit} per split)" if data.limit else "")
        + f"; validation is {data.val_fraction:.0%} of train, drawn with seed {data.seed}.",
        f"- Tokens: vocabulary of {first['vocab_size']:,} (tokenize.vocab_size {tok.vocab_size:,}, min_freq "
        f"{tok.min_freq}, lowercase {tok.lowercase}), "
        f"reviews cut to their {keep}: to {tok.max_len} tokens for training, {tok.eval_max_len} for validation "
        f"and test.",
        f"- Training: Adam lr {train.lr}, batch {train.batch_size}, up to {train.epochs} epochs, early stopping "
        f"patience {train.patience} on validation loss, seed {train.seed}, device {train.device}.",
        f"- Code: git commit `{commit}`" + (f", DVC experiment `{experiment}`" if experiment else "") + ".",
        "",
        "## MLflow",
        "",
        f"Experiment [`{params.mlflow.experiment}`]({experiment_link}) in `{tracking_uri}`. Runs (this report and "
        f"its pictures are attached to both models' runs under `report/`):",
        "",
        *links,
        "",
        *([] if is_server(tracking_uri) else [
            "The links open `mlflow ui` at its default address: start it in the project folder with "
            "`mlflow ui --backend-store-uri sqlite:///mlflow.db`.", ""]),
    ]
    return "\n".join(lines)
