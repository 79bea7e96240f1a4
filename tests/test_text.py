import numpy as np
import pandas as pd
import pytest

from pipeline.params import TokenizeParams
from pipeline.text import PAD_ID, UNK_ID, EncodedSplit, Vocabulary, encode_splits, tokenize, truncate


def tokenized(texts: list[str]) -> list[list[str]]:
    return [tokenize(text) for text in texts]


def test_tokenize_removes_html_breaks_lowercases_and_keeps_exclamations():
    assert tokenize("Great<br /><br />film! Don't miss it?") == ["great", "film", "!", "don't", "miss", "it", "?"]
    assert tokenize("Great FILM", lowercase=False) == ["Great", "FILM"]


def test_vocabulary_orders_by_frequency_then_alphabet_and_respects_min_freq_and_size():
    reviews = tokenized(["b a a c", "a b d", "e e"])
    vocab = Vocabulary.build(reviews, size=10, min_freq=2, lowercase=True)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "e"]
    assert Vocabulary.build(reviews, size=3, min_freq=1, lowercase=True).tokens == ["<pad>", "<unk>", "a"]
    assert vocab.ids(tokenize("A b zebra")) == [2, 3, UNK_ID]


def test_encoding_truncates_pads_and_never_yields_an_empty_review():
    vocab = Vocabulary(["<pad>", "<unk>", "good", "film"], lowercase=True)
    split = EncodedSplit.encode(tokenized(["good film good film good", "film", ""]), [1, 0, 1], vocab, 3, "head")
    assert split.ids.tolist() == [[2, 3, 2], [3, PAD_ID, PAD_ID], [UNK_ID, PAD_ID, PAD_ID]]
    assert split.lengths.tolist() == [3, 1, 1]
    assert split.labels.tolist() == [1, 0, 1]


def test_a_max_len_beyond_the_longest_review_pads_only_to_that_review():
    vocab = Vocabulary(["<pad>", "<unk>", "good", "film"], lowercase=True)
    split = EncodedSplit.encode(tokenized(["good film good", "film"]), [1, 0], vocab, 1_000_000, "head_tail")
    assert split.ids.tolist() == [[2, 3, 2], [3, PAD_ID, PAD_ID]]


@pytest.mark.parametrize(
    ("keep", "expected"),
    [("head", list(range(8))), ("tail", list(range(12, 20))), ("head_tail", [0, 1, 14, 15, 16, 17, 18, 19])],
)
def test_long_reviews_keep_the_chosen_part(keep, expected):
    assert truncate(list(range(20)), 8, keep) == expected
    assert truncate([5, 6], 8, keep) == [5, 6]


def test_training_reads_max_len_tokens_and_validation_and_test_read_eval_max_len():
    long_review = " ".join(f"w{i}" for i in range(12))
    splits = {name: pd.DataFrame({"text": [long_review, "w1 w2"], "label": [1, 0]})
              for name in ("train", "val", "test")}
    params = TokenizeParams(vocab_size=100, min_freq=1, lowercase=True, max_len=4, eval_max_len=8, keep="head_tail")
    vocab, encoded = encode_splits(splits, params)
    assert encoded["train"].lengths.tolist() == [4, 2]
    assert encoded["val"].lengths.tolist() == encoded["test"].lengths.tolist() == [8, 2]
    assert [vocab.tokens[i] for i in encoded["test"].ids[0]] == ["w0", "w1", "w6", "w7", "w8", "w9", "w10", "w11"]


def test_encoded_split_and_vocabulary_round_trip(tmp_path):
    vocab = Vocabulary(["<pad>", "<unk>", "word"], lowercase=False)
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert (loaded.tokens, loaded.lowercase) == (vocab.tokens, False)
    split = EncodedSplit.encode(tokenized(["word word", "other"]), [0, 1], vocab, max_len=4, keep="head")
    split.save(tmp_path / "train.npz")
    again = EncodedSplit.load(tmp_path / "train.npz")
    assert np.array_equal(again.ids, split.ids) and np.array_equal(again.lengths, split.lengths)
    assert np.array_equal(again.labels, split.labels)
