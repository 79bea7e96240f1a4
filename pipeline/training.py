"""Mini-batch training: length-bucketed batches, early stopping on validation loss, best weights kept."""

from __future__ import annotations

import copy
import hashlib
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from sklearn.metrics import accuracy_score, log_loss
from torch import nn
from tqdm import tqdm

from pipeline.compute import autocast
from pipeline.decision import predicted_labels
from pipeline.errors import PipelineError
from pipeline.files import UNREADABLE, atomic_path, brief
from pipeline.models import hop_overlap, hop_penalty
from pipeline.params import TrainParams
from pipeline.text import EncodedSplit
from pipeline.trained import Predictions

MAX_GRAD_NORM = 5.0  # clips the rare exploding RNN gradient; well above typical norms
BUCKET_BATCHES = 50  # batches per sorted bucket: similar lengths, yet still shuffled
# cuDNN builds a kernel plan for every new input shape (attention and RNN alike), which on an H200 cost more
# than the work itself: train_mha trained 4x faster with batch widths rounded up to a multiple of 32 than with
# exact ones (docs/performance.md). The CPU has no such cost: there every batch stays trimmed to its longest review.
CUDA_WIDTH_MULTIPLE = 32
# Scoring a split: on the CPU, batches of 64 reviews ran 1.6x faster than 512 (the LSTM's working set stays in
# cache; docs/performance.md), while a GPU wants wide batches.
CPU_INFERENCE_BATCH = 64
CUDA_INFERENCE_BATCH = 512


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float  # cross-entropy alone, comparable with val_loss (the hop penalty is reported beside it)
    train_accuracy: float
    train_hop_penalty: float  # Lin et al.'s ||A A^T - I||^2, mean per review, before model.hop_penalty weighs it
    val_loss: float
    val_accuracy: float
    val_hop_overlap: float | None  # mean overlap between the hops' weights (see models.hop_overlap); None: one hop
    seconds: float


@dataclass(frozen=True)
class TrainingResult:
    history: list[EpochResult]
    best_epoch: int
    seconds: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Batches:
    """A split's tensors, prepared once; each batch is trimmed to its longest review (on a GPU, rounded up).

    A batch's ids and labels are on the device; its lengths stay on the host, where packing a GPU batch needs them
    (read from the device, they would make the host wait for the GPU every batch)."""

    def __init__(self, split: EncodedSplit, device: torch.device):
        self.ids = torch.from_numpy(split.ids).long()
        self.lengths = torch.from_numpy(split.lengths).long()
        self.labels = torch.from_numpy(split.labels).float()
        self.device = device
        self.width_multiple = CUDA_WIDTH_MULTIPLE if device.type == "cuda" else 1
        # on the device once (no copy on the CPU), so that a GPU batch is an index, not a host-to-device copy
        self._on_device = tuple(tensor.to(device) for tensor in (self.ids, self.labels))

    def __len__(self) -> int:
        return len(self.labels)

    def count(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def shuffled(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        """Random buckets sorted by length, cut into batches, served in random order."""
        order = rng.permutation(len(self))
        bucket = batch_size * BUCKET_BATCHES
        batches = []
        for start in range(0, len(order), bucket):
            chunk = order[start : start + bucket]
            chunk = chunk[np.argsort(self.lengths[chunk].numpy(), kind="stable")]
            batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        for index in rng.permutation(len(batches)):
            yield self._batch(batches[index])

    def in_length_order(self, batch_size: int) -> Iterator[tuple[np.ndarray, tuple[torch.Tensor, ...]]]:
        """Every review once, sorted by length for little padding, with the indices of each batch."""
        order = np.argsort(self.lengths.numpy(), kind="stable")
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            yield indices, self._batch(indices)

    def _batch(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        index = torch.from_numpy(indices)
        longest = int(self.lengths[index].max())  # read on the host: no wait for the device
        width = min(math.ceil(longest / self.width_multiple) * self.width_multiple, self.ids.size(1))
        ids, labels = self._on_device
        lengths = self.lengths[index]
        index = index.to(self.device)
        return ids[index, :width], lengths, labels[index]


def fit(
    model: nn.Module,
    train: Batches,
    val: Batches,
    params: TrainParams,
    seed: int,
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
    checkpoint: Path | None = None,
    precision: str = "fp32",
) -> TrainingResult:
    """Train with Adam until `params.epochs` or `params.patience` epochs without a better validation loss,
    batches drawn in the order `seed` gives, forward passes in `precision` ('fp32' or 'bf16', see pipeline.compute).

    The model ends holding the weights of its best validation epoch. After every epoch the whole training
    state is saved to `checkpoint` (when given); with `params.resume` a run continues from there, exactly
    as if it had never stopped. The loss is the cross-entropy plus `model.config.hop_penalty` times Lin et al.'s
    penalty on hops that weigh the same tokens (models.hop_penalty).
    """
    penalty_weight = model.config.hop_penalty
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, fused=True)  # one kernel for all tensors
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    state = TrainingState(np.random.default_rng(seed))
    fingerprint = training_fingerprint(model, train, params, seed, precision)
    if checkpoint is not None and params.resume and checkpoint.is_file():
        try:
            state = TrainingState.load(checkpoint, model, optimizer, fingerprint)
        except UNREADABLE as error:
            raise PipelineError(
                f"{checkpoint} is damaged ({brief(error)}): delete it, or set train.resume=false to start over"
            ) from None
    started = time.perf_counter() - state.seconds
    for epoch in range(len(state.history) + 1, params.epochs + 1):
        if state.history and epoch - state.best_epoch > params.patience:
            break
        epoch_started = time.perf_counter()
        model.train()
        # summed on the device: a GPU need not wait for the host after every batch
        total_loss = torch.zeros((), dtype=torch.float64, device=train.device)
        correct = torch.zeros((), dtype=torch.long, device=train.device)
        total_penalty = torch.zeros((), dtype=torch.float64, device=train.device)
        batches = tqdm(
            train.shuffled(params.batch_size, state.rng), total=train.count(params.batch_size),
            desc=f"epoch {epoch}/{params.epochs}", leave=False, mininterval=1.0,
        )
        for ids, lengths, labels in batches:
            optimizer.zero_grad(set_to_none=True)
            with autocast(precision, train.device):
                logits, weights = model.forward_with_attention(ids, lengths, need_weights=False)
            logits, pooling = logits.float(), weights["pooling"].float()  # the loss in float32 in either precision
            loss = loss_fn(logits, labels)
            # measured either way; it reaches the gradients only when weighed in
            penalty = hop_penalty(pooling if penalty_weight else pooling.detach()).sum()
            (loss / len(labels) + penalty_weight * penalty / len(labels)).backward()
            nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            total_loss += loss.detach()
            total_penalty += penalty.detach()
            correct += ((logits > 0).float() == labels).sum()
        val_loss, val_accuracy, val_overlap = evaluate_loss(model, val, precision)
        result = EpochResult(
            epoch, total_loss.item() / len(train), correct.item() / len(train), total_penalty.item() / len(train),
            val_loss, val_accuracy, val_overlap, time.perf_counter() - epoch_started,
        )
        state.history.append(result)
        if val_loss < state.best_loss:
            state.best_loss, state.best_epoch, state.best_weights = val_loss, epoch, copy.deepcopy(model.state_dict())
        state.seconds = time.perf_counter() - started
        if checkpoint is not None:
            state.save(checkpoint, model, optimizer, fingerprint)
        on_epoch(result)
    model.load_state_dict(state.best_weights)
    return TrainingResult(state.history, state.best_epoch, time.perf_counter() - started)


@dataclass
class TrainingState:
    """Everything an interrupted run needs to go on exactly where it stopped."""

    rng: np.random.Generator  # batch order
    history: list[EpochResult] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_weights: dict | None = None
    seconds: float = 0.0

    def save(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str) -> None:
        with atomic_path(path) as partial:
            torch.save({
                "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "history": [asdict(epoch) for epoch in self.history], "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights, "seconds": self.seconds,
            }, partial)

    @classmethod
    def load(cls, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str) -> TrainingState:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["fingerprint"] != fingerprint:
            raise PipelineError(
                f"{path} was saved for other data, model, training params or precision: set train.resume to false "
                f"to start over, or delete it"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        history = [EpochResult(**epoch) for epoch in saved["history"]]
        tqdm.write(f"resuming from {path} after epoch {len(history)}")
        return cls(rng, history, saved["best_loss"], saved["best_epoch"], saved["best_weights"], saved["seconds"])


def training_fingerprint(model: nn.Module, train: Batches, params: TrainParams, seed: int, precision: str) -> str:
    """What a checkpoint must match to be resumed: the model's config and the layout of its weights (a checkpoint
    from code that built the same config into other layers is refused, not half-loaded), the training data and the
    params and precision that shape the optimisation (not `epochs` or `patience`, so a finished run can be given more
    epochs)."""
    digest = hashlib.sha256(train.ids.numpy().tobytes())
    digest.update(train.labels.numpy().tobytes())
    layout = [(name, tuple(weight.shape)) for name, weight in model.state_dict().items()]
    digest.update(repr((model.config, layout, params.lr, params.batch_size, seed, precision)).encode())
    return digest.hexdigest()


def evaluate_loss(model: nn.Module, batches: Batches, precision: str = "fp32") -> tuple[float, float, float | None]:
    """Mean binary cross-entropy, accuracy and hop overlap on a split."""
    predictions = predict(model, batches, precision)
    labels = batches.labels.numpy()
    loss = log_loss(labels, predictions.probabilities, labels=[0, 1])
    accuracy = accuracy_score(labels, predicted_labels(predictions.probabilities))
    return float(loss), float(accuracy), predictions.mean_hop_overlap


@torch.inference_mode()
def predict(model: nn.Module, batches: Batches, precision: str = "fp32") -> Predictions:
    """Positive-class probability of every review, in the split's order, and how alike its hops weighed it."""
    model.eval()
    batch_size = CUDA_INFERENCE_BATCH if batches.device.type == "cuda" else CPU_INFERENCE_BATCH
    probabilities = np.empty(len(batches), dtype=np.float64)
    overlap = np.empty(len(batches), dtype=np.float64) if model.config.hops > 1 else None
    for indices, (ids, lengths, _) in batches.in_length_order(batch_size):
        with autocast(precision, batches.device):
            logits, weights = model.forward_with_attention(ids, lengths, need_weights=False)
        probabilities[indices] = torch.sigmoid(logits.float()).cpu().numpy()
        if overlap is not None:
            overlap[indices] = hop_overlap(weights["pooling"].float()).cpu().numpy()
    return Predictions(probabilities, overlap)


def timed_predictions(model: nn.Module, batches: Batches, precision: str) -> tuple[Predictions, float]:
    """The model's predictions for every review and its inference throughput in reviews per second."""
    started = time.perf_counter()
    predictions = predict(model, batches, precision)
    return predictions, len(batches) / (time.perf_counter() - started)
