"""The trained models a pipeline run compares: each seed of each architecture, as its train stage left it in
models/<self|mha>/seed-<seed>/, and the seed that stands for its architecture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.files import read_json, read_output
from pipeline.params import model_dir, stage_of


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
