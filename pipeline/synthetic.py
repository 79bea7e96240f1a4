"""A deterministic corpus of movie-review-like texts, so the pipeline runs offline in minutes.

Each review mixes neutral plot sentences with a few opinions ("the plot is not very good").
Its label is the sign of the opinions' summed polarity, where negation flips an opinion and an
intensifier doubles it, so a model must read words in context, not just count them; a little
label noise keeps the task from being perfectly separable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN_SIZE = 2000
TEST_SIZE = 2000
LABEL_NOISE = 0.03

POSITIVE = ["good", "great", "brilliant", "wonderful", "moving", "superb", "charming", "gripping",
            "funny", "beautiful", "memorable", "clever", "touching", "delightful"]
NEGATIVE = ["bad", "boring", "awful", "dull", "terrible", "clumsy", "forgettable", "predictable",
            "weak", "painful", "lifeless", "silly", "tedious", "messy"]
INTENSIFIERS = ["very", "truly", "really", "incredibly", "remarkably", "extremely"]
NEGATIONS = ["not", "never", "hardly"]
SUBJECTS = ["the acting", "the plot", "the script", "the soundtrack", "the ending", "the direction",
            "the cast", "this film", "the dialogue", "the cinematography", "the pacing", "the humour"]
ROLES = ["detective", "teacher", "farmer", "pilot", "young widow", "retired boxer", "journalist", "chef"]
PLACES = ["Paris", "a small town", "the desert", "New York", "a space station", "the mountains", "Tokyo"]
NAMES = ["Anna Berg", "Tom Hale", "Maria Lopez", "Ken Ito", "Sam Reed", "Lucy Grant"]
NEUTRAL = [
    "The story follows a {role} in {place}.",
    "It runs for about {minutes} minutes.",
    "The film was shot in {place}.",
    "{name} plays the {role}.",
    "It was released in {year}.",
    "The {role} meets {name} halfway through.",
    "Most of the second act takes place in {place}.",
]


def synthetic_reviews(seed: int, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE) -> pd.DataFrame:
    """Balanced train and test reviews with columns text, label (0/1), split."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, size in (("train", train_size), ("test", test_size)):
        per_label = {0: size // 2, 1: size - size // 2}
        while any(per_label.values()):
            text, label = _review(rng)
            if per_label[label]:
                per_label[label] -= 1
                if rng.random() < LABEL_NOISE:
                    label = 1 - label
                rows.append((text, label, split))
    return pd.DataFrame(rows, columns=["text", "label", "split"])


def _review(rng: np.random.Generator) -> tuple[str, int]:
    while True:
        opinions = [_opinion(rng) for _ in range(rng.integers(1, 5))]
        score = sum(polarity for _, polarity in opinions)
        if score:
            break
    sentences = [sentence for sentence, _ in opinions]
    sentences += [_neutral(rng) for _ in range(rng.integers(1, 12))]
    rng.shuffle(sentences)
    separator = " <br /><br />" if rng.random() < 0.2 else " "
    return separator.join(sentences), int(score > 0)


def _opinion(rng: np.random.Generator) -> tuple[str, int]:
    positive = rng.random() < 0.5
    words = [str(rng.choice(SUBJECTS)), "is"]
    polarity = 1 if positive else -1
    if rng.random() < 0.3:
        words.append(str(rng.choice(NEGATIONS)))
        polarity = -polarity
    if rng.random() < 0.3:
        words.append(str(rng.choice(INTENSIFIERS)))
        polarity *= 2
    words.append(str(rng.choice(POSITIVE if positive else NEGATIVE)))
    return " ".join(words).capitalize() + ".", polarity


def _neutral(rng: np.random.Generator) -> str:
    return str(rng.choice(NEUTRAL)).format(
        role=rng.choice(ROLES), place=rng.choice(PLACES), name=rng.choice(NAMES),
        minutes=rng.integers(80, 180), year=rng.integers(1950, 2024),
    )
