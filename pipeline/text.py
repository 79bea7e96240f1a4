"""Words to ids: the tokenizer, a vocabulary built from training text, and encoded splits on disk."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from pipeline.params import TokenizeParams

PAD_ID = 0
UNK_ID = 1
SPECIALS = ["<pad>", "<unk>"]
HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
TOKEN = re.compile(r"[\w']+|[!?]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words (keeping inner apostrophes) plus ! and ?, which carry sentiment; HTML breaks removed."""
    text = HTML_BREAK.sub(" ", text)
    return TOKEN.findall(text.lower() if lowercase else text)


class Vocabulary:
    """Token <-> id mapping; ids 0 and 1 are padding and unknown."""

    def __init__(self, tokens: list[str], lowercase: bool):
        self.tokens = tokens
        self.lowercase = lowercase
        self.index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, reviews: Iterable[list[str]], size: int, min_freq: int, lowercase: bool) -> Vocabulary:
        """The `size` most frequent tokens of the tokenized reviews seen at least `min_freq` times; ties broken
        alphabetically. `lowercase` records how the reviews were tokenized, for prediction to do the same."""
        counts = Counter(chain.from_iterable(reviews))
        frequent = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(SPECIALS + frequent[: size - len(SPECIALS)], lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: list[str]) -> list[int]:
        index = self.index
        return [index.get(token, UNK_ID) for token in tokens]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"lowercase": self.lowercase, "tokens": self.tokens}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["tokens"], data["lowercase"])


def truncate(ids: list[int], max_len: int, keep: str) -> list[int]:
    """A long review's first `max_len` tokens ("head"), its last ("tail"), or its first quarter and last
    three quarters ("head_tail"): reviews open with the setting and close with the verdict."""
    if len(ids) <= max_len or keep == "head":
        return ids[:max_len]
    head = max_len // 4 if keep == "head_tail" else 0
    return ids[:head] + ids[len(ids) - (max_len - head) :]


def encode_review(tokens: list[str], vocab: Vocabulary, max_len: int, keep: str) -> list[int]:
    """One tokenized review's ids as the models see it, in training and in prediction alike: cut to `max_len`
    tokens (see `truncate`); an empty review becomes a single <unk>."""
    return truncate(vocab.ids(tokens), max_len, keep) or [UNK_ID]


@dataclass(frozen=True)
class EncodedSplit:
    """Reviews as a padded id matrix (n, longest review kept), their true lengths (>= 1) and labels."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def encode(
        cls, reviews: Iterable[list[str]], labels: Iterable[int], vocab: Vocabulary, max_len: int, keep: str
    ) -> EncodedSplit:
        """Every tokenized review as `encode_review` makes it, padded to the longest of them: a `max_len` beyond
        the longest review costs no memory."""
        rows = [encode_review(tokens, vocab, max_len, keep) for tokens in reviews]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int32, count=len(rows))
        ids = np.full((len(rows), lengths.max(initial=1)), PAD_ID, dtype=np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return cls(ids, lengths, np.asarray(list(labels), dtype=np.int64))

    def save(self, path: Path) -> None:
        with path.open("wb") as out:
            np.savez(out, ids=self.ids, lengths=self.lengths, labels=self.labels)

    @classmethod
    def load(cls, path: Path) -> EncodedSplit:
        with np.load(path) as data:
            return cls(data["ids"], data["lengths"], data["labels"])


def encode_splits(
    splits: dict[str, pd.DataFrame], params: TokenizeParams
) -> tuple[Vocabulary, dict[str, EncodedSplit]]:
    """The vocabulary of the "train" split, and every split encoded with it: "train" cut to `max_len` tokens,
    the others (validation, test) to `eval_max_len`, as prediction reads a review.

    The training reviews are tokenized once, for the vocabulary and their encoding alike: the tokenizer's
    regular expression is most of the stage's time. The others are tokenized one at a time as they are encoded."""
    train_reviews = [tokenize(text, params.lowercase) for text in splits["train"]["text"]]
    vocab = Vocabulary.build(train_reviews, params.vocab_size, params.min_freq, params.lowercase)
    encoded = {}
    for name, part in splits.items():
        if name == "train":
            reviews, max_len = train_reviews, params.max_len
        else:
            reviews, max_len = (tokenize(text, params.lowercase) for text in part["text"]), params.eval_max_len
        encoded[name] = EncodedSplit.encode(reviews, part["label"], vocab, max_len, params.keep)
    return vocab, encoded
