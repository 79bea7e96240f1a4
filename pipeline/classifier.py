"""A trained network together with the vocabulary and truncation it was trained with: raw text in,
label, probability and the most attended words out. The predict command and the MLflow model both use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import torch
from torch import nn

from pipeline.attention import classify_with_attention
from pipeline.compute import resolve_precision
from pipeline.decision import predicted_labels
from pipeline.models import load_checkpoint
from pipeline.text import UNK_ID, Vocabulary, encode_review, tokenize

DEFAULT_TOP_WORDS = 5


class Prediction(pydantic.BaseModel):
    """One review's result; a pydantic model so that MLflow derives the served model's output schema."""

    label: str  # "positive" or "negative"
    probability: float  # of positive
    attended: list[str]  # known words the pooling weighted most, most first


class ReviewClassifier:
    """On the CPU, in train.precision as this machine resolves it (pipeline.compute: auto is bf16 only where fast)."""

    def __init__(self, network: nn.Module, vocab: Vocabulary, max_len: int, keep: str, precision: str):
        self.network = network.eval()
        self.vocab = vocab
        self.max_len = max_len
        self.keep = keep
        self.precision = resolve_precision(precision, torch.device("cpu"))

    @classmethod
    def load(cls, weights: Path, vocab: Path, max_len: int, keep: str, precision: str) -> ReviewClassifier:
        """From a train stage's model.pt and the tokenize stage's vocab.json."""
        return cls(load_checkpoint(weights), Vocabulary.load(vocab), max_len, keep, precision)

    def predict(self, texts: list[str], top: int = DEFAULT_TOP_WORDS) -> list[Prediction]:
        return [self.predict_one(text, top) for text in texts]

    def predict_one(self, text: str, top: int) -> Prediction:
        """Reviews go through one at a time: unpadded, so that every query's attention is a real token's."""
        tokens = tokenize(text, self.vocab.lowercase)
        ids = np.asarray(encode_review(tokens, self.vocab, self.max_len, self.keep))
        probability, weights = classify_with_attention(self.network, ids, self.precision)
        label = "positive" if predicted_labels(probability) else "negative"
        return Prediction(label=label, probability=probability, attended=self.most_attended(ids, weights, top))

    def most_attended(self, ids: np.ndarray, weights: dict[str, np.ndarray], top: int) -> list[str]:
        """The `top` known words by the pooling's weight averaged over hops, a repeated word's weights summed: the
        words the review's vector for the classifier is made of most, in either model."""
        per_word: dict[str, float] = {}
        for token_id, weight in zip(ids, weights["pooling"].mean(axis=0)):
            if token_id != UNK_ID:
                word = self.vocab.tokens[token_id]
                per_word[word] = per_word.get(word, 0.0) + float(weight)
        return sorted(per_word, key=per_word.get, reverse=True)[:top]
