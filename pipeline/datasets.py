"""Raw labelled reviews from IMDB, a user's table, or the synthetic generator, as one table.

Every source yields the same columns: text, label (0 negative / 1 positive), split (train/test),
and rating (IMDB's star rating, missing for other sources).
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.errors import PipelineError
from pipeline.fetch import fetch
from pipeline.files import require_output
from pipeline.params import DataParams
from pipeline.synthetic import synthetic_reviews

COLUMNS = ["text", "label", "split", "rating"]
IMDB_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
LABEL_NAMES = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1, "false": 0, "true": 1}


def load_reviews(params: DataParams, download_dir: Path) -> pd.DataFrame:
    """The reviews `params` selects, limited to `params.limit` per split."""
    if params.source == "imdb":
        archive = fetch(params.url, download_dir / Path(params.url).name, params.md5)
        reviews = read_imdb_archive(archive)
    elif params.source == "csv":
        reviews = read_table(params)
    else:
        reviews = synthetic_reviews(params.seed).assign(rating=pd.NA)
    return limit_per_split(reviews[COLUMNS], params.limit, params.seed)


def read_imdb_archive(archive: Path) -> pd.DataFrame:
    """The labelled train/test reviews of an aclImdb tarball; `unsup` and other files are skipped."""
    rows = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                match = IMDB_MEMBER.fullmatch(member.name)
                if match and member.isfile():
                    split, sentiment, review_id, rating = match.groups()
                    text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                    rows.append((text, int(sentiment == "pos"), split, int(rating), int(review_id)))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise PipelineError(
            f"{archive} is not a readable .tar.gz archive ({error}); delete it and download again"
        ) from None
    reviews = pd.DataFrame(rows, columns=["text", "label", "split", "rating", "id"])
    missing = sorted({"train", "test"} - set(reviews["split"]))
    if missing:
        raise PipelineError(
            f"{archive} has no aclImdb/{missing[0]}/{{pos,neg}}/*.txt reviews: it is not the IMDB archive layout"
        )
    return reviews.sort_values(["split", "label", "id"], ignore_index=True).drop(columns="id")


def read_table(params: DataParams) -> pd.DataFrame:
    """A user's CSV, TSV or parquet file, with labels mapped to 0/1 and a train/test split."""
    path = Path(params.path)
    if not path.is_file():
        raise PipelineError(f"data.path {path} not found: point data.path at your .csv, .tsv or .parquet file")
    table = read_table_file(path)
    missing = [c for c in (params.text_column, params.label_column) if c not in table.columns]
    if missing:
        raise PipelineError(
            f"{path} has no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, table.columns))}); "
            f"set data.text_column / data.label_column"
        )
    if table.empty:
        raise PipelineError(f"{path} has no rows")
    labels = table[params.label_column].astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    unknown = sorted(set(labels) - set(LABEL_NAMES))
    if unknown:
        raise PipelineError(
            f"{path} column {params.label_column!r} has labels {unknown[:5]} that are not 0/1, neg/pos, "
            f"negative/positive or false/true"
        )
    texts = table[params.text_column].fillna("").astype(str)
    blank = np.flatnonzero(texts.str.strip() == "")
    if len(blank):
        rows = ", ".join(str(row + 1) for row in blank[:5]) + (", ..." if len(blank) > 5 else "")
        raise PipelineError(
            f"{path} has {len(blank)} review(s) with an empty {params.text_column!r} (data rows {rows}); "
            f"drop those rows or fill them in"
        )
    reviews = pd.DataFrame({
        "text": texts,
        "label": labels.map(LABEL_NAMES).astype("int64"),
        "rating": pd.NA,
    })
    if reviews["label"].nunique() < 2:
        raise PipelineError(f"{path} has only label {reviews['label'].iloc[0]}: a classifier needs both classes")
    if "split" in table.columns:
        reviews["split"] = table["split"].astype(str).str.strip().str.lower()
        bad = sorted(set(reviews["split"]) - {"train", "test"})
        if bad:
            raise PipelineError(f"{path} column 'split' has values {bad[:5]}; use train or test, or drop the column")
    else:
        try:
            train, _ = train_test_split(
                reviews.index, test_size=params.test_fraction, stratify=reviews["label"], random_state=params.seed
            )
        except ValueError as error:
            raise PipelineError(
                f"cannot split the {len(reviews)} reviews of {path} by data.test_fraction={params.test_fraction} "
                f"({error}); add reviews, change data.test_fraction or add a 'split' column"
            ) from None
        reviews["split"] = "test"
        reviews.loc[train, "split"] = "train"
    return reviews


def read_table_file(path: Path) -> pd.DataFrame:
    """An existing .parquet, .tsv or (otherwise) comma-separated file; one-line errors for an empty file,
    text that is not UTF-8, or anything pandas cannot parse."""
    if path.stat().st_size == 0:
        raise PipelineError(f"{path} is empty: it needs a table of reviews with a header row")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PipelineError(
            f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}): "
            f"re-save it with UTF-8 encoding"
        ) from None
    except (ValueError, OSError) as error:
        raise PipelineError(f"cannot read {path}: {' '.join(str(error).split())}") from None


def train_test_overlap(reviews: pd.DataFrame) -> int:
    """How many test reviews have a text that also appears in the train split."""
    train_texts = set(reviews.loc[reviews["split"] == "train", "text"])
    return int(reviews.loc[reviews["split"] == "test", "text"].isin(train_texts).sum())


def limit_per_split(reviews: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """A stratified, seeded subset of at most `limit` reviews from each split (0 keeps everything)."""
    if not limit:
        return reviews.reset_index(drop=True)
    parts = []
    for split in ("train", "test"):
        part = reviews[reviews["split"] == split]
        if len(part) > limit:
            if limit < part["label"].nunique():
                raise PipelineError(f"data.limit={limit} is too small to keep both labels: use >= 2, or 0 for all")
            part, _ = train_test_split(part, train_size=limit, stratify=part["label"], random_state=seed)
            part = part.sort_index()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def read_training_splits(reviews_path: Path, params: DataParams) -> dict[str, pd.DataFrame]:
    """train, val and test from the download stage's table: the one definition the tokenize and baseline
    stages share, so the baseline fits on exactly the reviews the models learn from."""
    reviews = pd.read_parquet(require_output(reviews_path, "download"))
    return training_splits(reviews, params.val_fraction, params.seed)


def training_splits(reviews: pd.DataFrame, val_fraction: float, seed: int) -> dict[str, pd.DataFrame]:
    """train, val and test, where val is a stratified, seeded share of the train split."""
    train = reviews[reviews["split"] == "train"]
    test = reviews[reviews["split"] == "test"]
    if train["label"].value_counts().min() < 2 or train["label"].nunique() < 2 or test.empty:
        raise PipelineError("the reviews need at least two train reviews of each label and some test reviews")
    try:
        train, val = train_test_split(train, test_size=val_fraction, stratify=train["label"], random_state=seed)
    except ValueError as error:
        raise PipelineError(
            f"cannot carve a validation split of data.val_fraction={val_fraction} from {len(train)} train reviews "
            f"({error}); use more reviews (data.limit) or another data.val_fraction"
        ) from None
    return {"train": train, "val": val, "test": test}
