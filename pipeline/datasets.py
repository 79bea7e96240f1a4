"""Raw labelled reviews from IMDB, a user's table, or the synthetic generator, as one table.

Every source yields the same columns: text, label (0 negative / 1 positive), split (train/test),
and rating (IMDB's star rating, missing for other sources).
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.errors import PipelineError
from pipeline.fetch import fetch
from pipeline.files import read_output
from pipeline.params import DataParams
from pipeline.synthetic import synthetic_reviews

COLUMNS = ["text", "label", "split", "rating"]
IMDB_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
DELIMITERS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}  # tried in this order
SNIFF_CHARACTERS = 64 * 1024
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
    """A user's table, with labels mapped to 0/1 and a train/test split."""
    path = Path(params.path)
    if not path.is_file():
        raise PipelineError(f"data.path {path} not found: point data.path at your table (.csv, .tsv, .txt, .parquet)")
    table = read_table_file(path, params.header, params.encoding)
    require_columns(table, path, params, {"data.text_column": params.text_key, "data.label_column": params.label_key})
    if table.empty:
        raise PipelineError(f"{path} has no rows")
    texts = table[params.text_key].fillna("").astype(str)
    blank = np.flatnonzero(texts.str.strip() == "")
    if len(blank):
        rows = ", ".join(str(row + 1) for row in blank[:5]) + (", ..." if len(blank) > 5 else "")
        raise PipelineError(
            f"{path} has {len(blank)} review(s) with an empty text in column {params.text_column!r} (data rows {rows}); "
            f"drop those rows or fill them in"
        )
    reviews = pd.DataFrame({
        "text": texts,
        "label": parse_labels(table[params.label_key], path, params.label_column),
        "rating": pd.NA,
    })
    if reviews["label"].nunique() < 2:
        raise PipelineError(f"{path} has only label {reviews['label'].iloc[0]}: a classifier needs both classes")
    if params.header and "split" in table.columns:
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


def require_columns(table: pd.DataFrame, path: Path, params: DataParams, wanted: dict[str, str | int]) -> None:
    """One line naming the columns `table` lacks, the ones it has and the params that choose them."""
    missing = {key: column for key, column in wanted.items() if column not in table.columns}
    if not missing:
        return
    settings = " / ".join(missing)
    if not params.header:
        raise PipelineError(
            f"{path} has {len(table.columns)} column(s), positions 0-{len(table.columns) - 1}, so there is no column "
            f"{', '.join(str(c) for c in missing.values())}: set {settings} (data.header is false)"
        )
    raise PipelineError(
        f"{path} has no column {', '.join(map(repr, missing.values()))} (columns: "
        f"{', '.join(map(str, table.columns))}); set {settings}, or data.header=false if the first line is data"
    )


def parse_labels(values: pd.Series, path: Path, column: str | int) -> pd.Series:
    """0/1 from any of LABEL_NAMES' spellings (any case, 1.0 as 1); one line listing the labels it cannot read."""
    labels = values.astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    unknown = sorted(set(labels) - set(LABEL_NAMES))
    if unknown:
        raise PipelineError(
            f"{path} column {column!r} has labels {unknown[:5]} that are not 0/1, neg/pos, negative/positive or "
            f"false/true; fix them, or name the right column with data.label_column"
        )
    return labels.map(LABEL_NAMES).astype("int64")


def read_table_file(path: Path, header: bool, encoding: str) -> pd.DataFrame:
    """A .parquet file, or a text table of any extension whose delimiter (comma, tab, semicolon or pipe) is
    detected; one-line errors for an empty file, a wrong encoding, or a table that does not parse."""
    if path.stat().st_size == 0:
        raise PipelineError(f"{path} is empty: it needs a table of reviews")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (ValueError, OSError) as error:
            raise PipelineError(f"cannot read {path} as parquet: {' '.join(str(error).split())}") from None
    text = read_text(path, encoding)
    delimiter = detect_delimiter(text, path)
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, header=0 if header else None, dtype=str,
                           keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise PipelineError(unparsable_table(path, delimiter, header, str(error))) from None


def read_text(path: Path, encoding: str) -> str:
    """A text file's contents (a byte-order mark dropped); one line naming the first byte `encoding` cannot read."""
    raw = path.read_bytes()
    try:
        return raw.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PipelineError(
            f"{path} is not {encoding} text (byte {raw[error.start]:#04x} on line {line}): set data.encoding to the "
            f"file's encoding (cp1252 or latin-1 for a CSV saved by a Windows spreadsheet program) or re-save it as "
            f"UTF-8"
        ) from None


def detect_delimiter(text: str, path: Path) -> str:
    """The delimiter that splits the most lines of the table's start into the same number (>= 2) of fields, quotes
    respected (a ragged line is then reported by the parser, with its number); a table with none is one column."""
    sample = text[:SNIFF_CHARACTERS]
    shares = {}
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
        if len(text) > len(sample):
            rows = rows[:-1]  # cut short by the sample's end
        width, count = Counter(len(row) for row in rows).most_common(1)[0] if rows else (0, 0)
        if width >= 2:
            shares[delimiter] = count / len(rows)
    if shares:
        return max(shares, key=shares.get)  # the first of DELIMITERS' order among equals
    if not any(delimiter in sample for delimiter in DELIMITERS):
        return ","
    raise PipelineError(
        f"cannot tell how the columns of {path} are separated: no tab, comma, semicolon or pipe splits its first "
        f"lines into two or more fields alike; put texts that contain the delimiter in double quotes"
    )


def unparsable_table(path: Path, delimiter: str, header: bool, reason: str) -> str:
    """What was expected of a text table that pandas could not parse, and which params say otherwise."""
    name = DELIMITERS[delimiter]
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", reason)
    if found:
        expected, line, saw = found.groups()
        where = f"line {line} has {saw} {name}-separated fields where the lines before it have {expected}"
    else:
        where = " ".join(reason.split())
    return (
        f"cannot read {path} as a {name}-separated table {'with a header row' if header else 'without a header row'}: "
        f"{where}; put texts that contain a {name} in double quotes, and set data.header (false when the first line "
        f"is data), data.text_column / data.label_column and data.encoding to match the file"
    )


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
    reviews = read_output(reviews_path, "download", pd.read_parquet)
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
