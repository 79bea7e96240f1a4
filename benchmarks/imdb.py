"""The IMDB reviews the benchmarks train on: read from ../shared, subset, split and encoded as the pipeline does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import typer

from pipeline.datasets import limit_per_split, read_imdb_archive, training_splits
from pipeline.errors import PipelineError
from pipeline.params import Params
from pipeline.text import EncodedSplit, Vocabulary, encode_splits
from pipeline.compute import processor_name, resolve_device

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"


def read_reviews(archive: Path, train_size: int, test_size: int, seed: int) -> pd.DataFrame:
    """A stratified subset of at most `train_size` train and `test_size` test reviews."""
    full = read_imdb_archive(archive)
    return pd.concat([limit_per_split(full[full["split"] == split], size, seed)
                      for split, size in (("train", train_size), ("test", test_size))])


def encoded_splits(reviews: pd.DataFrame, params: Params) -> tuple[dict[str, EncodedSplit], Vocabulary]:
    """train/val/test as the tokenize stage writes them, under `params`."""
    vocab, splits = encode_splits(training_splits(reviews, params.data.val_fraction, params.data.seed), params.tokenize)
    return splits, vocab


def machine() -> str:
    """The line every benchmark prints first, so its numbers say where they were measured."""
    return f"{processor_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def device_option(name: str) -> torch.device:
    """The `--device` option resolved as train.device is; a GPU asked for but absent is a usage error."""
    try:
        return resolve_device(name)
    except PipelineError as error:
        raise typer.BadParameter(str(error), param_hint="--device") from None
