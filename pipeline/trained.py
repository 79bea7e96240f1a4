"""The trained models a pipeline run compares: each seed of each architecture, as its train and faithfulness stages
left it in models/<self|mha>/seed-<seed>/, and the seed that stands for its architecture."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.files import read_json, read_output
from pipeline.params import model_dir, stage_of

RANKINGS = ("attention", "gradient", "random")  # of a seed's faithfulness measures
FLIP_TOKENS = (1, 5)  # erased for the decision-flip rates


@dataclass(frozen=True)
class Predictions:
    probabilities: np.ndarray  # of positive, per review
    hop_overlap: np.ndarray | None  # per review, how alike the pooling's hops weigh its tokens; None with one hop

    @property
    def mean_hop_overlap(self) -> float | None:
        return None if self.hop_overlap is None else float(self.hop_overlap.mean())

    def save(self, path: Path) -> None:
        overlap = {} if self.hop_overlap is None else {"hop_overlap": self.hop_overlap}
        with path.open("wb") as out:
            np.savez(out, probabilities=self.probabilities, **overlap)

    @classmethod
    def load(cls, path: Path) -> Predictions:
        with np.load(path) as saved:
            return cls(saved["probabilities"], saved["hop_overlap"] if "hop_overlap" in saved else None)


@dataclass(frozen=True)
class RankingMeasures:
    """One ranking's erasure measures (pipeline/erasure.py) on every review of the faithfulness sample."""

    comprehensiveness: np.ndarray  # (reviews, fractions)
    sufficiency: np.ndarray  # (reviews, fractions)
    flips: np.ndarray  # (reviews, len(FLIP_TOKENS)): 1 where erasing the top tokens flips the decision


MEASURES = tuple(field.name for field in dataclasses.fields(RankingMeasures))


@dataclass(frozen=True)
class Faithfulness:
    """One trained model's erasure measures on the sample, per ranking; random's averaged over its draws."""

    rows: np.ndarray  # the sample's rows of the test split
    fractions: np.ndarray
    measures: dict[str, RankingMeasures]  # ranking -> measures
    kendall_tau: np.ndarray  # per review, attention against gradient

    def aopc(self, ranking: str, measure: str) -> np.ndarray:
        """Per review, a measure ('comprehensiveness' or 'sufficiency') averaged over the fractions."""
        return getattr(self.measures[ranking], measure).mean(axis=1)

    def summary(self) -> dict[str, float]:
        """Means over the sample: per ranking the two AOPCs and the flip rates, and the mean Kendall tau."""
        found = {}
        for ranking, measures in self.measures.items():
            found[f"{ranking}_comprehensiveness"] = float(self.aopc(ranking, "comprehensiveness").mean())
            found[f"{ranking}_sufficiency"] = float(self.aopc(ranking, "sufficiency").mean())
            for column, tokens in enumerate(FLIP_TOKENS):
                found[f"{ranking}_flip_top{tokens}"] = float(measures.flips[:, column].mean())
        return found | {"kendall_tau": float(np.nanmean(self.kendall_tau))}

    def save(self, path: Path) -> None:
        arrays = {f"{ranking}.{field}": getattr(measures, field) for ranking, measures in self.measures.items()
                  for field in MEASURES}
        with path.open("wb") as out:
            np.savez(out, rows=self.rows, fractions=self.fractions, kendall_tau=self.kendall_tau, **arrays)

    @classmethod
    def load(cls, path: Path) -> Faithfulness:
        with np.load(path) as saved:
            measures = {ranking: RankingMeasures(*(saved[f"{ranking}.{field}"] for field in MEASURES))
                        for ranking in RANKINGS}
            return cls(saved["rows"], saved["fractions"], measures, saved["kendall_tau"])


@dataclass(frozen=True)
class TrainedSeed:
    kind: str
    seed: int
    folder: Path
    metrics: dict  # train_metrics.json
    run: dict  # mlflow_run.json: the seed's MLflow run and logged model

    @property
    def weights(self) -> Path:
        return self.folder / "model.pt"

    @property
    def stage(self) -> str:
        return stage_of(self.kind, self.seed)

    def history(self) -> pd.DataFrame:
        return read_output(self.folder / "history.csv", self.stage, pd.read_csv)

    def test_scores(self, reviews: int) -> Predictions:
        """Every test review's probability (and hop overlap) as its train stage scored them; `reviews` is the test
        split's size, which the scores must match."""
        scores = read_output(self.folder / "test_scores.npz", self.stage, Predictions.load)
        if len(scores.probabilities) != reviews:
            raise PipelineError(f"{self.folder / 'test_scores.npz'} scores {len(scores.probabilities)} reviews, the "
                                f"test split has {reviews}: run `dvc repro {self.stage}`")
        return scores


def trained_seeds(models: Path, kind: str, seeds: list[int]) -> dict[int, TrainedSeed]:
    """The seeds of `train.seeds` of one architecture, in that order; a seed not trained yet is named with the stage
    that trains it."""
    found = {}
    for seed in seeds:
        folder, stage = model_dir(models, kind, seed), stage_of(kind, seed)
        found[seed] = TrainedSeed(kind, seed, folder, read_output(folder / "train_metrics.json", stage, read_json),
                                  read_output(folder / "mlflow_run.json", stage, read_json))
    return found


def mean_history(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per epoch, the mean of the seeds' curves over the seeds that trained that long (early stopping ends seeds at
    different epochs)."""
    return pd.concat(histories).drop(columns="seconds").groupby("epoch").mean().reset_index()


def representative(trained: dict[int, TrainedSeed]) -> TrainedSeed:
    """The seed whose model stands for its architecture in the registry, `predict` and the attention pictures: the
    one with the lowest validation loss (chosen without looking at the test set); the lower seed on a tie."""
    return trained[min(trained, key=lambda seed: (trained[seed].metrics["val_loss"], seed))]
