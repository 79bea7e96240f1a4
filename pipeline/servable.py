"""The model each train stage logs to MLflow: a list of raw review texts in, one Prediction per review out.

MLflow runs this file itself when it loads the model ("models from code": nothing is pickled). The weights
and vocabulary travel as the model's artifacts, the truncation settings and train.precision as its model_config,
and this package as its code, so `mlflow.pyfunc.load_model(uri)` and `mlflow models serve` need no checkout.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.pyfunc import PythonModel, PythonModelContext

from pipeline.classifier import DEFAULT_TOP_WORDS, Prediction, ReviewClassifier


class ReviewClassifierModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.classifier = ReviewClassifier.load(
            Path(context.artifacts["weights"]), Path(context.artifacts["vocab"]),
            context.model_config["max_len"], context.model_config["keep"],
            context.model_config["precision"],
        )

    def predict(self, model_input: list[str], params: dict[str, int] | None = None) -> list[Prediction]:
        """`params={"top": n}` sets how many attended words each prediction lists."""
        return self.classifier.predict(model_input, (params or {}).get("top", DEFAULT_TOP_WORDS))


mlflow.models.set_model(ReviewClassifierModel())
