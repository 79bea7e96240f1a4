import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from pipeline.errors import PipelineError
from pipeline.text import tokenize
from pipeline.tfidf import NgramCounts

EXAMPLE_REVIEWS = Path(__file__).resolve().parent.parent / "data" / "example_reviews.csv"


@pytest.mark.parametrize("lowercase", [True, False])
def test_ngram_counts_are_scikit_learns_count_vectorizer_counts(lowercase):
    reviews = pd.read_csv(EXAMPLE_REVIEWS)["text"].tolist()
    train = reviews[:200] + ["", "Once-seen words: zyzzyva quixotic."]
    test = reviews[200:] + ["", "Unseen: zyzzyva flibbertigibbet! <br />The film"]
    ours = NgramCounts(lowercase=lowercase, min_df=2)
    theirs = CountVectorizer(tokenizer=functools.partial(tokenize, lowercase=lowercase), lowercase=False,
                             token_pattern=None, ngram_range=(1, 2), min_df=2)

    ours_train, theirs_train = ours.fit_transform(train), theirs.fit_transform(train)

    names = ours.get_feature_names_out()
    assert sorted(names) == sorted(theirs.get_feature_names_out())
    assert "film was" in names and "zyzzyva" not in names
    columns = [theirs.vocabulary_[name] for name in names]
    np.testing.assert_array_equal(ours_train.toarray(), theirs_train.toarray()[:, columns])
    np.testing.assert_array_equal(ours.transform(test).toarray(), theirs.transform(test).toarray()[:, columns])
    np.testing.assert_array_equal(ours.fit(train).transform(train).toarray(), ours_train.toarray())


def test_ngram_counts_name_a_training_split_with_no_repeated_word():
    with pytest.raises(PipelineError, match="no word in 2 or more of the 2 training reviews"):
        NgramCounts(min_df=2).fit(["one review", "another text"])
