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


def points(value: float) -> str:
    """A share as signed accuracy points; a difference that rounds to zero reads +0.00, whatever its float sign."""
    text = f"{100 * value:+.2f}"
    return "+0.00" if text == "-0.00" else text


def interval(scores: dict) -> str:
    low, high = 100 * scores["accuracy_ci_low"], 100 * scores["accuracy_ci_high"]
    return f"{percent(scores['accuracy'])} [{low:.2f}, {high:.2f}]"


def short_name(names: dict[str, str], kind: str) -> str:
    return names[kind].split(" (")[0]


def in_sentence(name: str) -> str:
    """A name as it reads inside a sentence: "Self-attention" -> "self-attention"; "HEAD" stays."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def majority_share(scores: dict) -> float:
    """Accuracy of always answering the test split's more common label."""
    positives = scores["true_positives"] + scores["false_negatives"]
    return max(positives, scores["test_samples"] - positives) / scores["test_samples"]


INTERVAL_METHOD = (
    "The interval adds the two sources of noise: the spread of each architecture's mean accuracy over its seeds (as "
    "in Welch's t-test) and the test sample's noise in the per-review difference between the two architectures; it "
    "uses Student's t with Welch-Satterthwaite degrees of freedom. It is a repeated confidence interval (Jennison & "
    "Turnbull 2000, ch. 9): its 5% error is spread over looks at every seed count from 2 to `compare.max_seeds` by "
    "Lan & DeMets' Pocock-type spending function, so the verdict keeps its error rates however often seeds are added "
    "and it is read again (`python -m pipeline.decide` does that)."
)
PROBABILITY_METHOD = (
    "The probabilities take the same Student t as a posterior for the difference, as Benavoli et al. (2017) do in "
    "their Bayesian comparison of classifiers; unlike the interval, they are not adjusted for repeated looks."
)


def margin_text(comparison: dict) -> str:
    return f"{100 * comparison['margin']:.2f}"


def probabilities_text(comparison: dict, names: dict[str, str]) -> str:
    """The probability of each answer, in one clause."""
    first, second = comparison["compared"]
    return (f"P({in_sentence(short_name(names, first))} better by more than {margin_text(comparison)}) = "
            f"{comparison[f'p_{first}_better']:.2f}, P(equivalent) = {comparison['p_equivalent']:.2f}, "
            f"P({in_sentence(short_name(names, second))} better by more than {margin_text(comparison)}) = "
            f"{comparison[f'p_{second}_better']:.2f}")


def headline(comparison: dict, names: dict[str, str]) -> str:
    """What the verdict decided, in a few words."""
    seeds, margin = comparison["seeds"], margin_text(comparison)
    winner = comparison["winner"] and short_name(names, comparison["winner"])
    return {
        "better_beyond_margin": f"{winner} is better by more than the {margin}-point margin over {seeds} seeds",
        "better": f"{winner} is better over {seeds} seeds, perhaps by less than the {margin}-point margin",
        "equivalent": f"Practically equivalent over {seeds} seeds (within +-{margin} points)",
        "not_resolved": f"Not resolved with {seeds} seeds",
        "one_seed": ("One seed per model: this compares two trained models, not the architectures"
                     if comparison["compared"] == list(MODEL_KINDS)
                     else "One seed per side: this compares two trained models, not the settings behind them"),
    }[comparison["outcome"]]


def verdict_line(comparison: dict, names: dict[str, str]) -> str:
    """The verdict in one line: for the comparison run's description and evaluate's output."""
    gap = f"{points(comparison['difference'])} points"
    first, second = (short_name(names, side) for side in comparison["compared"])
    if comparison["ci_low"] is None:
        return f"{headline(comparison, names)} ({first} minus {second}: {gap})"
    return (f"{headline(comparison, names)}: {first} minus {second} {gap} [{points(comparison['ci_low'])}, "
            f"{points(comparison['ci_high'])}]; {probabilities_text(comparison, names)}")


def verdict(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    """Paragraphs that answer: which attention wins, by a margin that matters, beyond seeds and test reviews; did
    every seed learn; how far from the baseline."""
    comparison = metrics["comparison"]
    paragraphs = [did_not_learn(metrics[kind], names[kind]) for kind in MODEL_KINDS]
    paragraphs = [paragraph for paragraph in paragraphs if paragraph]
    if comparison["ci_low"] is None:
        paragraphs += single_seed_verdict(metrics, names)
    else:
        paragraphs += seeds_verdict(metrics, names)
    best = max(MODEL_KINDS, key=lambda kind: metrics[kind]["mean"]["accuracy"])
    baseline = metrics["baseline"]
    distance = 100 * (baseline["accuracy"] - metrics[best]["mean"]["accuracy"])
    paragraphs.append(
        f"For scale, {names['baseline']} scores {interval(baseline)} after {baseline['train_seconds']:.1f} s of "
        f"fitting: {abs(distance):.2f} points {'above' if distance > 0 else 'below'} the better architecture's mean."
    )
    return paragraphs


def did_not_learn(scores: dict, name: str) -> str | None:
    majority = majority_share(scores["ensemble"] | {"test_samples": scores["test_samples"]})
    failed = [seed for seed, scored in scores["seeds"].items() if scored["accuracy_ci_low"] <= majority]
    if not failed:
        return None
    return (f"**{name} did not learn with seed{'s' if len(failed) > 1 else ''} {', '.join(failed)}**: "
            f"{'its accuracy is' if len(failed) == 1 else 'their accuracies are'} not clearly better than always "
            f"answering the more common label ({percent(majority)}). See the learning curves below; more epochs, more "
            f"data or another `train.lr` may help.")


def seeds_verdict(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    """The decision over seeds: the outcome, the evidence, the probabilities and, when open, how to decide it."""
    comparison = metrics["comparison"]
    seeds, margin, found = comparison["seeds"], margin_text(comparison), comparison["outcome"]
    means = {kind: percent(metrics[kind]["mean"]["accuracy"]) for kind in MODEL_KINDS}
    evidence = (f"Mean test accuracy {means['self']} ({in_sentence(short_name(names, 'self'))}) against {means['mha']} "
                f"({in_sentence(short_name(names, 'mha'))}) over {seeds} seeds each: the difference is "
                f"{points(comparison['difference'])} points, 95% interval [{points(comparison['ci_low'])}, "
                f"{points(comparison['ci_high'])}] at this look ({seeds} of at most {comparison['max_seeds']} seeds "
                f"per architecture), read against a margin of practical equivalence of +-{margin} points "
                f"(`compare.margin`).")
    if found in ("better_beyond_margin", "better"):
        winner = comparison["winner"]
        loser = next(kind for kind in MODEL_KINDS if kind != winner)
        w, lo = metrics[winner], metrics[loser]
        meaning = (f"The whole interval lies beyond the margin: {names[winner]} is better, and by more than {margin} "
                   f"points." if found == "better_beyond_margin" else
                   f"The interval excludes zero but reaches into the margin: {names[winner]} is better, though "
                   f"perhaps by less than {margin} points, a difference that would not matter.")
        meaning += (f" It has {w['params'] / lo['params']:.2f}x the parameters of the other model and took "
                    f"{w['train_seconds'] / lo['train_seconds']:.2f}x its training time per seed.")
    elif found == "equivalent":
        meaning = (f"The whole interval lies inside +-{margin} points: whichever is better, it is by less than the "
                   f"margin, so for practical purposes the two architectures are equally accurate.")
    else:
        meaning = ("The interval holds zero and reaches past the margin: the data do not yet say whether the "
                   "architectures differ, nor that they are equivalent.")
    paragraphs = [f"**{headline(comparison, names)}.** {evidence} {meaning}",
                  f"Probabilities: {probabilities_text(comparison, names)}. {PROBABILITY_METHOD}"]
    if found == "not_resolved":
        paragraphs.append(how_to_decide(metrics))
    paragraphs.append(INTERVAL_METHOD)
    return paragraphs


def how_to_decide(metrics: dict[str, dict]) -> str:
    """What would answer an open question: more seeds (how many, how long, the command), or only more test reviews."""
    comparison = metrics["comparison"]
    if not comparison["decidable"]:
        return ("**More seeds cannot decide it.** Every difference the interval allows lies where the test set's own "
                f"noise (standard error {100 * comparison['lasting_test_variance'] ** 0.5:.2f} points, which no "
                "number of seeds removes) keeps both zero and the margin within reach: only a larger test set, or "
                "a wider `compare.margin`, could.")
    needed = comparison["seeds_needed"]
    command = (f"`python -m pipeline.decide` adds seeds in rounds until the verdict decides (at most "
               f"{comparison['max_seeds']} per architecture)")
    if needed is None:
        return (f"If the difference and the spreads stay as measured, even {comparison['max_seeds']} seeds per "
                f"architecture are not expected to decide it; {command}.")
    per_seed = sum(metrics[kind]["train_seconds"] for kind in MODEL_KINDS)
    minutes = (needed - comparison["seeds"]) * per_seed / 60
    return (f"If the difference and the spreads stay as measured, about {needed} seeds per architecture would decide "
            f"it: {needed - comparison['seeds']} more of each, about {minutes:.0f} minutes of training at this run's "
            f"pace. {command}.")


def single_seed_verdict(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    """One seed per model: McNemar's test answers the narrower question of whether these two trained models differ."""
    self_, mha = (metrics[kind]["ensemble"] for kind in MODEL_KINDS)
    seed = next(iter(metrics["self"]["seeds"]))
    paired = metrics["self_vs_mha"]["ensemble"]
    disagreements = paired["only_self_right"] + paired["only_mha_right"]
    gap = 100 * (self_["accuracy"] - mha["accuracy"])
    caution = (f"**One seed per model (`train.seeds` = [{seed}]): this compares two trained models, not the two "
               f"architectures.** Another seed can reverse it: the seeds' own spread is not measured. For a verdict "
               f"about the architectures train at least three seeds (the default, `train.seeds: [42, 43, 44]`).")
    evidence = (f"Of the {metrics['self']['test_samples']:,} test reviews, {disagreements:,} are classified right by "
                f"exactly one model: {paired['only_self_right']:,} by self-attention, {paired['only_mha_right']:,} by "
                f"multi-head attention; McNemar's exact test gives p = {paired['mcnemar_p_value']:.3g}.")
    if paired["mcnemar_p_value"] < SIGNIFICANCE:
        winner = "self" if gap > 0 else "mha"
        loser = "mha" if winner == "self" else "self"
        headline = (f"**These two trained models differ**: the {in_sentence(short_name(names, winner))} model "
                    f"{interval(metrics[winner]['ensemble'])} against {interval(metrics[loser]['ensemble'])} "
                    f"({abs(gap):.2f} points). {evidence} A gap this lopsided between these two sets of weights would "
                    f"arise by chance less than {SIGNIFICANCE:.0%} of the time.")
    else:
        headline = (f"**No significant difference between these two trained models**: {names['self']} "
                    f"{interval(self_)}, {names['mha']} {interval(mha)} ({abs(gap):.2f} points apart). {evidence} "
                    f"Since p >= {SIGNIFICANCE}, the gap is within what chance produces on this test set.")
    return [caution, headline]


def results_table(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    """The headline: each architecture's spread over seeds and its seed ensemble, beside the baseline."""
    lines = [
        "| model | mean accuracy (std) | lowest - highest | seed ensemble [95% CI] | F1 (mean) | ROC AUC (mean) "
        "| parameters | training time per seed (s) | training time, all seeds (s) | throughput (reviews/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in MODEL_KINDS:
        m = metrics[kind]
        lines.append(
            f"| {names[kind]} | {percent(m['mean']['accuracy'])} ({100 * m['std']['accuracy']:.2f}) | "
            f"{percent(m['min']['accuracy'])} - {percent(m['max']['accuracy'])} | {interval(m['ensemble'])} | "
            f"{m['mean']['f1']:.4f} | {m['mean']['roc_auc']:.4f} | {m['params']:,} | {m['train_seconds']:.1f} | "
            f"{m['train_seconds_total']:.1f} | {m['throughput']:,.0f} |")
    b = metrics["baseline"]
    lines.append(f"| {names['baseline']} | {percent(b['accuracy'])} | - | {interval(b)} | {b['f1']:.4f} | "
                 f"{b['roc_auc']:.4f} | {b['params']:,} | {b['train_seconds']:.1f} | {b['train_seconds']:.1f} | - |")
    seeds = len(metrics["self"]["seeds"])
    lines += ["", f"Mean, std, lowest and highest are over the {seeds} seed{'s' if seeds > 1 else ''} of "
                  f"`train.seeds`; the seed ensemble averages the seeds' probabilities. The baseline is fitted once "
                  f"(it has no training seed); its parameters are its n-gram weights "
                  f"({b['features']:,} word unigrams and bigrams seen in at least two training reviews) plus a bias.",
              "", f"Times measured on {compute_text(metrics)}."]
    return lines


def compute_text(metrics: dict[str, dict]) -> str:
    """Where the seeds trained, e.g. 'Intel(R) Xeon(R) Processor (cpu, AVX512 kernels, 2 threads, fp32)'; seeds
    trained on different machines or settings are not comparable in time, nor byte for byte in metrics."""
    used = []
    for kind in MODEL_KINDS:
        for seed in metrics[kind]["seeds"].values():
            compute = seed["compute"]
            if compute not in used:
                used.append(compute)

    def described(compute: dict) -> str:
        details = [compute["device"]]
        if "kernels" in compute:
            threads = compute["threads"]
            details += [f"{compute['kernels']} kernels", f"{threads} thread{'s' if threads > 1 else ''}"]
        return f"{compute['processor']} ({', '.join(details + [compute['precision']])})"

    return "; ".join(described(compute) for compute in used)


def seeds_table(metrics: dict[str, dict], names: dict[str, str]) -> list[str]:
    lines = [f"| model | seed | accuracy [{CONFIDENCE:.0%} CI] | F1 | ROC AUC | epochs (best) | validation loss "
             f"| training time (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in MODEL_KINDS:
        for seed, m in metrics[kind]["seeds"].items():
            marked = f"**{seed}**" if int(seed) == metrics[kind]["representative_seed"] else seed
            lines.append(f"| {short_name(names, kind)} | {marked} | {interval(m)} | {m['f1']:.4f} | "
                         f"{m['roc_auc']:.4f} | {m['epochs']} ({m['best_epoch']}) | {m['val_loss']:.4f} | "
                         f"{m['train_seconds']:.1f} |")
    lines += ["", "In bold, each architecture's representative seed: the one with the lowest validation loss (chosen "
                  "without the test set). It is the model registered in MLflow, the one `python -m pipeline.predict` "
                  "uses, and the one whose attention is pictured below."]
    return lines


def paired_table(metrics: dict[str, dict]) -> list[str]:
    lines = ["| models compared | only self-attention right | only multi-head right | McNemar p |",
             "|---|---:|---:|---:|"]
    for name, paired in metrics["self_vs_mha"].items():
        which = "seed ensembles" if name == "ensemble" else f"seed {name} of each"
        lines.append(f"| {which} | {paired['only_self_right']:,} | {paired['only_mha_right']:,} | "
                     f"{paired['mcnemar_p_value']:.3g} |")
    lines += ["", "McNemar's exact test asks whether two trained models err at different rates on this test set; "
                  "it knows nothing of the seeds' spread, so it is no test of the architectures."]
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
    self_rnn = f"bidirectional {model.rnn.upper()}, 2 x {width} units (`model.rnn`)"
    if not model.mha_bidirectional:
        mha_rnn = f"one-directional LSTM, {width} units (`model.mha_bidirectional` false)"
    elif model.rnn == "lstm":
        mha_rnn = "same (`model.mha_bidirectional` true)"
    else:
        mha_rnn = f"bidirectional LSTM, 2 x {width} units (`model.mha_bidirectional` true)"
    penalty = (f"Lin et al.'s hop penalty x {model.hop_penalty:g} (`model.hop_penalty`)" if model.hop_penalty
               else "no hop penalty (`model.hop_penalty` 0)")
    lines = [
        "| | self-attention | multi-head attention |",
        "|---|---|---|",
        f"| RNN | {self_rnn} | {mha_rnn} |",
        f"| attention | the pooling's own weights (below) | {model.heads} heads x {model.mha_width // model.heads} "
        f"dims of scaled dot-product self-attention (`model.heads`), added to the states |",
        f"| pooling | self-attentive, in {model.hops} hops (`model.hops`): each hop one learned weight per token, "
        f"the hops' weighted sums of the states concatenated | same |",
        f"| shared | embed_dim {model.embed_dim}, hidden_dim {width}, dropout {model.dropout}, {penalty}, "
        f"every `train.*` param | same |",
    ]
    if model.mha_bidirectional and model.rnn == "lstm":
        return lines + ["", "The two models read with the same encoder, so the verdict compares their attention "
                            "alone."]
    return lines + ["", "The models differ in their encoder as well as their attention, so the verdict cannot say "
                        "which of the two made the difference; `dvc exp run -S model.mha_bidirectional=true` gives the "
                        "multi-head model the self-attention model's bidirectional encoder (with `model.rnn` lstm)."]


def hops_section(metrics: dict[str, dict], names: dict[str, str], params: Params) -> list[str]:
    """Do the pooling's hops weigh different words, or collapse onto the same ones?"""
    model = params.model
    if model.hops < 2:
        return [f"One hop (`model.hops` = {model.hops}): there is no second hop to compare it with."]
    lines = ["| model | hop overlap, mean over seeds | lowest - highest |", "|---|---:|---:|"]
    for kind in MODEL_KINDS:
        m = metrics[kind]
        lines.append(f"| {names[kind]} | {m['mean']['hop_overlap']:.3f} | {m['min']['hop_overlap']:.3f} - "
                     f"{m['max']['hop_overlap']:.3f} |")
    trained = (f"with Lin et al.'s penalty on overlapping hops weighed {model.hop_penalty:g} (`model.hop_penalty`)"
               if model.hop_penalty else
               "without Lin et al.'s penalty on overlapping hops (`model.hop_penalty` = 0; a positive value adds it "
               "to the training loss and pushes the hops apart)")
    return lines + ["", f"A hop overlap is, for one test review, the weight two hops put on the same tokens (the sum "
                        f"over tokens of the smaller of their two weights), averaged over every pair of the "
                        f"{model.hops} hops, then over the test reviews: 1 means every hop weighs the words alike, so "
                        f"the hops are as good as one; 0 that no two hops share a word. The models were trained "
                        f"{trained}."]


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
        "The reviews are drawn with `data.seed`, one of each kind that occurs; each architecture is shown by its "
        "representative seed (named above each picture).",
        "",
    ]
    if not examples:
        return lines + ["_No test reviews to show._"]
    for example, figure in zip(examples, figures):
        label = "positive" if example["label"] else "negative"
        verdicts = ", ".join(
            f"{short_name(names, kind)} seed {example['seeds'][kind]} {example['probabilities'][kind]:.2f} "
            f"({'right' if is_right(example['probabilities'][kind], example['label']) else 'wrong'})"
            for kind in MODEL_KINDS
        )
        lines += [f"**{example['case'][0].upper()}{example['case'][1:]}** (test row {example['index']}, "
                  f"{len(example['tokens'])} tokens, {label}; probability of positive: {verdicts})", "",
                  f"![Attention over test review {example['index']}]({figure})", ""]
    return lines


def with_timings(scores: dict[str, dict], timings: dict[str, dict]) -> dict[str, dict]:
    """metrics.json's entries with timings.json's added, down to each seed's."""
    merged = {}
    for name, values in scores.items():
        timed = timings.get(name, {})
        merged[name] = values | {key: value for key, value in timed.items() if key != "seeds"}
        if "seeds" in timed:
            merged[name]["seeds"] = {seed: scored | timed["seeds"][seed] for seed, scored in values["seeds"].items()}
    return merged


def mlflow_section(params: Params, names: dict[str, str], seed_runs: dict[str, dict[str, dict]], baseline_run: dict,
                   recorded: dict, tracking_uri: str) -> list[str]:
    def link(run_id: str) -> str:
        return ui_link(tracking_uri, recorded["experiment_id"], run_id)

    comparison = recorded["comparison_run_id"]
    lines = [
        f"Experiment [`{params.mlflow.experiment}`]({ui_link(tracking_uri, recorded['experiment_id'])}) in "
        f"`{tracking_uri}`. This pipeline run's [comparison run `{comparison}`]({link(comparison)}) holds the means, "
        f"the interval, the verdict and this report (under `report/`); every seed's run and the baseline's are "
        f"nested under it.",
        "",
    ]
    for kind in MODEL_KINDS:
        registered = recorded["registered"][kind]
        runs = ", ".join(f"[seed {seed}]({link(run['run_id'])})" for seed, run in seed_runs[kind].items())
        lines.append(f"- {names[kind]}: {runs}; registered as `models:/{registered['name']}/{registered['version']}` "
                     f"(seed {registered['seed']}, the lowest validation loss)")
    lines += [f"- {names['baseline']}: [run `{baseline_run['run_id']}`]({link(baseline_run['run_id'])})", ""]
    if not is_server(tracking_uri):
        lines += ["The links open `mlflow ui` at its default address: start it in the project folder with "
                  "`mlflow ui --backend-store-uri sqlite:///mlflow.db`.", ""]
    return lines


def render_report(
    params: Params,
    metrics: dict[str, dict],
    by_length: pd.DataFrame,
    examples: list[dict],
    seed_runs: dict[str, dict[str, dict]],
    baseline_run: dict,
    recorded: dict,
    commit: str,
    experiment: str | None,
    figures: dict[str, str | list[str]],
    tracking_uri: str,
    against_baseline: list[str],
    faithfulness: list[str],
) -> str:
    names = model_names(params)
    first = metrics["self"]
    data, tok, train = params.data, params.tokenize, params.train
    keep = tok.keep.replace("_", " and ")
    source = {"imdb": f"IMDB reviews from {data.url}", "csv": f"your table `{data.path}`",
              "synthetic": "the built-in synthetic corpus"}[data.source]
    lines = [
        "# Self-attention vs multi-head attention",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `dvc repro` (stage `report`)"
        + (f" in DVC experiment `{experiment}`" if experiment else "") + ".",
        "",
        "## Verdict",
        "",
        *[line for paragraph in verdict(metrics, names) for line in (paragraph, "")],
        *against_baseline,
        "## Results on the test split",
        "",
        *results_table(metrics, names),
        "",
        f"![Every seed's test accuracy]({figures['seeds']})",
        "",
        f"![ROC curves of the seed ensembles]({figures['roc']})",
        "",
        "## Every seed",
        "",
        *seeds_table(metrics, names),
        "",
        *paired_table(metrics),
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
        f"![Training and validation loss and accuracy per epoch, every seed and their mean]({figures['curves']})",
        "",
        f"Every seed's curves are drawn thin, their mean bold. Early stopping keeps the weights of the epoch with the "
        f"lowest validation loss (patience {train.patience}).",
        "",
        "## Accuracy by review length",
        "",
        "Does attention help on long reviews? The seed ensembles' test accuracy, reviews grouped by their length in "
        f"tokens (groups without reviews left out). Training cut reviews over `tokenize.max_len` = {tok.max_len} "
        f"tokens to their {keep}; evaluation read up to `tokenize.eval_max_len` = {tok.eval_max_len}.",
        "",
        *length_table(by_length, names),
        "",
        f"![Accuracy by review length]({figures['lengths']})",
        "",
        "## Do the hops read different words?",
        "",
        *hops_section(metrics, names, params),
        "",
        "## What the models attend to",
        "",
        *attention_section(examples, figures["attention"], names),
        "## Do the attention pictures show what the models use?",
        "",
        *faithfulness,
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
        f"patience {train.patience} on validation loss, seeds {', '.join(map(str, train.seeds))} (each seed sets the "
        f"initial weights, dropout and batch order), device {train.device}.",
        f"- Code: git commit `{commit}`" + (f", DVC experiment `{experiment}`" if experiment else "") + ".",
        "",
        "## MLflow",
        "",
        *mlflow_section(params, names, seed_runs, baseline_run, recorded, tracking_uri),
    ]
    return "\n".join(lines)
