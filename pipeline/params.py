"""params.yaml, parsed once into typed, validated dataclasses before any stage does work."""

from __future__ import annotations

import codecs
import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import yaml

from pipeline.errors import PipelineError

SOURCES = ("imdb", "csv", "synthetic")
RNNS = ("lstm", "gru")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
TRUNCATIONS = ("head", "tail", "head_tail")


class ModelKind(str, Enum):
    """The two models; also the `--model` choice of the train and predict commands."""

    self = "self"
    mha = "mha"


MODEL_KINDS = tuple(kind.value for kind in ModelKind)


def stage_of(name: str, seed: int | None = None) -> str:
    """The DVC stage that writes a model's files: baseline, or train_self@<seed> / train_mha@<seed> (DVC's name for
    one seed of the `foreach` stages train_self and train_mha)."""
    if name == "baseline":
        return name
    return f"train_{name}" + (f"@{seed}" if seed is not None else "")


def faithfulness_stage(kind: str, seed: int) -> str:
    """The DVC stage that measures a model's faithfulness: faithfulness_self@<seed> / faithfulness_mha@<seed>."""
    return f"faithfulness_{kind}@{seed}"


def model_dir(models: Path, name: str, seed: int | None = None) -> Path:
    """Where a stage writes a model's files: models/baseline/, or models/<self|mha>/seed-<seed>/."""
    return models / name if name == "baseline" else models / name / f"seed-{seed}"


@dataclass(frozen=True)
class DataParams:
    source: str
    url: str
    md5: str
    path: str
    header: bool  # false: the table's first line is data, and the columns below are positions (0, 1, ...)
    text_column: str | int
    label_column: str | int
    encoding: str
    test_fraction: float
    limit: int
    val_fraction: float
    seed: int

    def problems(self) -> list[str]:
        found = _choice("data.source", self.source, SOURCES)
        if self.source == "imdb" and not re.fullmatch(r"[0-9a-fA-F]{32}", self.md5):
            found.append(f"data.md5={self.md5!r} is not an MD5 checksum (32 hex digits)")
        if self.source == "imdb" and not self.url.strip():
            found.append("data.url is empty: give an http(s):// or file:// URL or a path to the IMDB archive")
        found += self._column_problems()
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            found.append(f"data.encoding={self.encoding!r} is not a text encoding Python knows; "
                         f"use e.g. utf-8, cp1252 or latin-1")
        found += _fraction("data.test_fraction", self.test_fraction)
        found += _fraction("data.val_fraction", self.val_fraction)
        if self.limit < 0:
            found.append(f"data.limit={self.limit} must be 0 (all reviews) or a positive count")
        return found

    def _column_problems(self) -> list[str]:
        columns = {"data.text_column": self.text_column, "data.label_column": self.label_column}
        if self.header:
            return [f"{key} is empty: name a column of your table's header" for key, value in columns.items()
                    if not str(value).strip()]
        found = [f"{key}={value!r} must be a column position (0 for the first column, 1 for the second, ...) "
                 f"when data.header is false" for key, value in columns.items() if column_position(value) is None]
        if not found and column_position(self.text_column) == column_position(self.label_column):
            found.append(f"data.text_column and data.label_column are both column {self.text_column}: "
                         f"they must be different columns")
        return found

    def column(self, value: str | int) -> str | int:
        """How the table read with these params labels `value`'s column: its header name, or its position."""
        return str(value) if self.header else column_position(value)

    @property
    def text_key(self) -> str | int:
        return self.column(self.text_column)

    @property
    def label_key(self) -> str | int:
        return self.column(self.label_column)


def column_position(value: str | int) -> int | None:
    """A 0-based column position given as a number or a string of digits; None otherwise."""
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


@dataclass(frozen=True)
class TokenizeParams:
    vocab_size: int
    min_freq: int
    lowercase: bool
    max_len: int
    eval_max_len: int
    keep: str

    def problems(self) -> list[str]:
        found = _choice("tokenize.keep", self.keep, TRUNCATIONS)
        if self.vocab_size < 3:
            found.append(f"tokenize.vocab_size={self.vocab_size} must be >= 3 (padding, unknown and at least one word)")
        found += _at_least("tokenize.min_freq", self.min_freq, 1)
        found += _at_least("tokenize.max_len", self.max_len, 1)
        if self.eval_max_len < self.max_len:
            found.append(f"tokenize.eval_max_len={self.eval_max_len} must be >= tokenize.max_len={self.max_len}: "
                         f"evaluation reads at least what training read")
        return found


@dataclass(frozen=True)
class ModelParams:
    embed_dim: int
    hidden_dim: int
    rnn: str
    hops: int
    heads: int
    dropout: float
    hop_penalty: float  # Lin et al.'s penalty on overlapping hops, added to both models' training loss; 0: off
    mha_bidirectional: bool  # the multi-head model's LSTM reads both ways, like the self-attention model's RNN

    @property
    def mha_width(self) -> int:
        """The multi-head model's attention width: its LSTM's states, both directions' when bidirectional."""
        return self.hidden_dim * (2 if self.mha_bidirectional else 1)

    def problems(self) -> list[str]:
        found = _at_least("model.embed_dim", self.embed_dim, 1) + _at_least("model.hidden_dim", self.hidden_dim, 1)
        found += _choice("model.rnn", self.rnn, RNNS)
        found += _at_least("model.hops", self.hops, 1) + _at_least("model.heads", self.heads, 1)
        if self.heads >= 1 and self.hidden_dim >= 1 and self.mha_width % self.heads:
            divisors = [d for d in range(1, self.mha_width + 1) if self.mha_width % d == 0]
            width = "2 x model.hidden_dim" if self.mha_bidirectional else "model.hidden_dim"
            found.append(
                f"model.heads={self.heads} must divide the attention width, {width} = {self.mha_width}; "
                f"use one of {divisors}"
            )
        if not 0 <= self.dropout < 1:
            found.append(f"model.dropout={self.dropout} must be in [0, 1)")
        if self.hop_penalty < 0:
            found.append(f"model.hop_penalty={self.hop_penalty} must be >= 0 (0 turns the penalty off)")
        return found


@dataclass(frozen=True)
class TrainParams:
    lr: float
    batch_size: int
    epochs: int
    patience: int
    seeds: list[int]  # each model trains once per seed (DVC stages train_self@<seed>, train_mha@<seed>)
    device: str
    precision: str  # of training and inference: fp32, bf16 (autocast) or auto (bf16 where fast; pipeline.compute)
    resume: bool

    def problems(self) -> list[str]:
        found = [] if self.lr > 0 else [f"train.lr={self.lr} must be > 0"]
        found += _at_least("train.batch_size", self.batch_size, 1)
        found += _at_least("train.epochs", self.epochs, 1)
        found += _at_least("train.patience", self.patience, 1)
        if not self.seeds:
            found.append("train.seeds is empty: give at least one seed, e.g. [42, 43, 44]")
        repeated = sorted({seed for seed in self.seeds if self.seeds.count(seed) > 1})
        if repeated:
            found.append(f"train.seeds lists {', '.join(map(str, repeated))} more than once: each seed trains once")
        found += [f"train.seeds has {seed}: a seed must be >= 0" for seed in self.seeds if seed < 0]
        found += _choice("train.device", self.device, DEVICES)
        found += _choice("train.precision", self.precision, PRECISIONS)
        return found


@dataclass(frozen=True)
class CompareParams:
    margin: float  # accuracy points: a difference within +-margin is of no practical consequence
    max_seeds: int  # per architecture: the plan the verdict's 5% error is spread over; pipeline.decide stops there

    @property
    def margin_share(self) -> float:
        """The margin as a share of the test reviews, as accuracies are kept."""
        return self.margin / 100

    def problems(self) -> list[str]:
        found = [] if 0 < self.margin < 100 else [f"compare.margin={self.margin} must be between 0 and 100 "
                                                   f"(accuracy points)"]
        return found + _at_least("compare.max_seeds", self.max_seeds, 2)


@dataclass(frozen=True)
class FaithfulnessParams:
    reviews: int  # the class-balanced sample of test reviews every model and seed is measured on
    fractions: list[float]  # shares of each review's tokens erased (comprehensiveness) or kept alone (sufficiency)
    random_draws: int  # random token orders per review, their measures averaged: the ranking attention must beat
    seed: int  # draws the sample and the random orders
    margin: float  # of AOPC comprehensiveness (a share of probability): gaps within +-margin are practically nil

    def problems(self) -> list[str]:
        found = _at_least("faithfulness.reviews", self.reviews, 2)
        if not self.fractions:
            found.append("faithfulness.fractions is empty: give shares of tokens, e.g. [0.01, 0.05, 0.1, 0.2, 0.5]")
        found += [f"faithfulness.fractions has {fraction}: a share of tokens must be in (0, 1]"
                  for fraction in self.fractions if not 0 < fraction <= 1]
        if len(set(self.fractions)) < len(self.fractions):
            found.append("faithfulness.fractions lists a share more than once")
        found += _at_least("faithfulness.random_draws", self.random_draws, 1)
        if self.seed < 0:
            found.append(f"faithfulness.seed={self.seed} must be >= 0")
        if not 0 < self.margin < 1:
            found.append(f"faithfulness.margin={self.margin} must be between 0 and 1 (a share of probability)")
        return found


@dataclass(frozen=True)
class MlflowParams:
    experiment: str
    registered_model: str  # each trained model is registered as <registered_model>-self / -mha

    def problems(self) -> list[str]:
        found = [] if self.experiment.strip() else ["mlflow.experiment is empty: name the MLflow experiment"]
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.registered_model):
            found.append(
                f"mlflow.registered_model={self.registered_model!r} must be a model registry name: letters, "
                f"digits, '_', '.' and '-', starting with a letter or digit"
            )
        return found

    def registered_name(self, kind: str) -> str:
        return f"{self.registered_model}-{kind}"


@dataclass(frozen=True)
class Params:
    data: DataParams
    tokenize: TokenizeParams
    model: ModelParams
    train: TrainParams
    compare: CompareParams
    faithfulness: FaithfulnessParams
    mlflow: MlflowParams

    def problems(self) -> list[str]:
        """What no one section can see alone."""
        if len(self.train.seeds) > self.compare.max_seeds:
            return [f"train.seeds has {len(self.train.seeds)} seeds, more than compare.max_seeds="
                    f"{self.compare.max_seeds}, the plan the verdict's error is spread over: raise compare.max_seeds "
                    f"(the verdict then needs a little more evidence at every look) or train fewer seeds"]
        return []

    def for_model(self, kind: str, seed: int) -> dict[str, object]:
        """The params one model's training with one seed depends on, flat with dotted names (as dvc.yaml lists
        them): `train.seed` in place of the whole list."""
        model_fields = {"self": ("embed_dim", "hidden_dim", "rnn", "hops", "dropout", "hop_penalty"),
                        "mha": ("embed_dim", "hidden_dim", "heads", "hops", "dropout", "hop_penalty",
                                "mha_bidirectional")}[kind]
        train = {key: value for key, value in _dotted("train", self.train).items() if key != "train.seeds"}
        flat = _dotted("data", self.data) | _dotted("tokenize", self.tokenize) | train | {"train.seed": seed}
        return flat | {f"model.{k}": getattr(self.model, k) for k in model_fields}

    def flat(self) -> dict[str, object]:
        """Every param, with dotted names."""
        return {key: value for field in dataclasses.fields(self) for key, value in
                _dotted(field.name, getattr(self, field.name)).items()}

    def for_baseline(self) -> dict[str, object]:
        """The params the TF-IDF baseline depends on: the data and its split (`data.seed`), the tokenizer's case
        folding. Not `train.seeds`: adding a seed leaves the baseline as it is."""
        return _dotted("data", self.data) | {"tokenize.lowercase": self.tokenize.lowercase}


def model_names(params: Params) -> dict[str, str]:
    """How the report, its pictures and the MLflow runs name each model."""
    return {
        "self": f"Self-attention (Bi{params.model.rnn.upper()} + {params.model.hops}-hop attentive pooling)",
        "mha": f"Multi-head attention ({'BiLSTM' if params.model.mha_bidirectional else 'LSTM'} + "
               f"{params.model.heads} heads, {params.model.hops}-hop attentive pooling)",
        "baseline": "TF-IDF 1-2 grams + logistic regression",
    }


def _dotted(section: str, values: object) -> dict[str, object]:
    return {f"{section}.{key}": value for key, value in dataclasses.asdict(values).items()}


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml, reporting every problem at once."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run from the project root or pass --params") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    return parse_params(raw, source=str(path))


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    if not isinstance(raw, dict):
        raise PipelineError(f"{source} must be a mapping of sections (data, tokenize, model, train, compare, "
                            f"faithfulness, mlflow)")
    problems: list[str] = []
    sections = {}
    for field in dataclasses.fields(Params):
        section_type = typing.get_type_hints(Params)[field.name]
        sections[field.name] = _parse_section(field.name, section_type, raw.get(field.name), problems)
    problems += [f"unknown section {name!r}" for name in raw if name not in sections]
    if not problems:
        params = Params(**sections)
        problems = [p for section in sections.values() for p in section.problems()]
        problems = problems or params.problems()
        if not problems:
            return params
    raise PipelineError(f"{source}: {len(problems)} problem(s): " + "; ".join(problems))


def _parse_section(name: str, section_type: type, raw: object, problems: list[str]):
    if not isinstance(raw, dict):
        problems.append(f"section {name!r} is missing or not a mapping")
        return None
    values = {}
    hints = typing.get_type_hints(section_type)
    for field_name, field_type in hints.items():
        key = f"{name}.{field_name}"
        if field_name not in raw:
            problems.append(f"{key} is missing")
            continue
        value = raw[field_name]
        if not _has_type(value, field_type):
            problems.append(f"{key}={value!r} must be {_type_name(field_type)}")
            continue
        values[field_name] = float(value) if field_type is float else value
    problems += [f"unknown parameter {name}.{key}" for key in raw if key not in hints]
    return section_type(**values) if len(values) == len(hints) else None


def _has_type(value: object, expected: type) -> bool:
    if typing.get_origin(expected) is list:
        return isinstance(value, list) and all(_has_type(item, typing.get_args(expected)[0]) for item in value)
    if isinstance(expected, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(expected))
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _type_name(expected: type) -> str:
    if typing.get_origin(expected) is list:
        return f"a list of {_type_name(typing.get_args(expected)[0])}, e.g. [42, 43, 44]"
    if isinstance(expected, types.UnionType):
        return " or ".join(option.__name__ for option in typing.get_args(expected))
    return expected.__name__


def _choice(key: str, value: str, choices: tuple[str, ...]) -> list[str]:
    return [] if value in choices else [f"{key}={value!r} must be one of {', '.join(choices)}"]


def _fraction(key: str, value: float) -> list[str]:
    return [] if 0 < value < 1 else [f"{key}={value} must be between 0 and 1 (exclusive)"]


def _at_least(key: str, value: int, minimum: int) -> list[str]:
    return [] if value >= minimum else [f"{key}={value} must be >= {minimum}"]
