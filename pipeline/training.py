"""Mini-batch training: length-bucketed batches, early stopping on validation loss, best weights kept."""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from sklearn.metrics import accuracy_score, log_loss
from torch import nn
from tqdm import tqdm

from pipeline import parallel
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.parallel import Replicas
from pipeline.params import TrainParams
from pipeline.text import EncodedSplit

MAX_GRAD_NORM = 5.0  # clips the rare exploding RNN gradient; well above typical norms
BUCKET_BATCHES = 50  # batches per sorted bucket: similar lengths, yet still shuffled
# cuDNN builds a kernel plan for every new input shape (attention and RNN alike), which on an H200 cost more
# than the work itself: train_mha trained 4x faster with batch widths rounded up to a multiple of 32 than with
# exact ones (README, Performance). The CPU has no such cost: there every batch stays trimmed to its longest review.
CUDA_WIDTH_MULTIPLE = 32
# Scoring a split: on the CPU, batches of 64 reviews ran 1.6x faster than 512 (the LSTM's working set stays in
# cache; README, Performance), while a GPU wants wide batches.
CPU_INFERENCE_BATCH = 64
CUDA_INFERENCE_BATCH = 512


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
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


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise PipelineError("train.device=cuda but no CUDA GPU is visible; set train.device to auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Batches:
    """A split's tensors, prepared once; each batch is trimmed to its longest review (on a GPU, rounded up)."""

    def __init__(self, split: EncodedSplit, device: torch.device):
        self.ids = torch.from_numpy(split.ids).long()
        self.lengths = torch.from_numpy(split.lengths).long()
        self.labels = torch.from_numpy(split.labels).float()
        self.device = device
        self.width_multiple = CUDA_WIDTH_MULTIPLE if device.type == "cuda" else 1
        # on the device once (no copy on the CPU), so that a GPU batch is an index, not a host-to-device copy
        self._on_device = tuple(tensor.to(device) for tensor in (self.ids, self.lengths, self.labels))

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
        ids, lengths, labels = self._on_device
        index = index.to(self.device)
        return ids[index, :width], lengths[index], labels[index]


def fit(
    model: nn.Module,
    train: Batches,
    val: Batches,
    params: TrainParams,
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
    checkpoint: Path | None = None,
) -> TrainingResult:
    """Train with Adam until `params.epochs` or `params.patience` epochs without a better validation loss.

    On the CPU, `params.processes` processes train side by side, each on its share of every batch (see
    `pipeline.parallel`). The model ends holding the weights of its best validation epoch. After every epoch the
    whole training state is saved to `checkpoint` (when given); with `params.resume` a run continues from there,
    exactly as if it had never stopped.
    """
    optimizer = adam(model, params)
    world = params.processes if train.device.type == "cpu" else 1
    state = TrainingState(np.random.default_rng(params.seed), replica_rng_states(params.seed, world))
    fingerprint = training_fingerprint(model, train, params, world)
    if checkpoint is not None and params.resume and checkpoint.is_file():
        state = TrainingState.load(checkpoint, model, optimizer, fingerprint)
    save = None if checkpoint is None else functools.partial(state.save, checkpoint, model, optimizer, fingerprint)
    started = time.perf_counter() - state.seconds
    # the other processes get copies: what this one passes is shared memory, and it goes on training
    replica_args = (copy.deepcopy(model), copy.deepcopy(optimizer.state_dict()), train, val, params,
                    replace(state, best_weights=None))
    with parallel.replicas(world, train_replica, *replica_args) as replicas:
        train_epochs(model, optimizer, train, val, params, state, replicas, started, on_epoch, save)
    model.load_state_dict(state.best_weights)
    return TrainingResult(state.history, state.best_epoch, time.perf_counter() - started)


def train_replica(replicas: Replicas, model: nn.Module, optimizer_state: dict, train: Batches, val: Batches,
                  params: TrainParams, state: TrainingState) -> None:
    """Another process's part of `fit`: the same epochs on its share of every batch, without reports or saving."""
    optimizer = adam(model, params)
    optimizer.load_state_dict(optimizer_state)
    train_epochs(model, optimizer, train, val, params, state, replicas, time.perf_counter() - state.seconds)


def train_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Batches,
    val: Batches,
    params: TrainParams,
    state: TrainingState,
    replicas: Replicas,
    started: float,
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
    save: Callable[[], None] | None = None,
) -> None:
    """The epochs still to run from `state`, which they update. Every replica reaches the same validation loss,
    so all of them stop after the same epoch."""
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    torch.set_rng_state(state.torch_rng_states[replicas.rank])
    for epoch in range(len(state.history) + 1, params.epochs + 1):
        if state.history and epoch - state.best_epoch > params.patience:
            break
        epoch_started = time.perf_counter()
        model.train()
        # summed on the device: a GPU need not wait for the host after every batch
        total_loss = torch.zeros((), dtype=torch.float64, device=train.device)
        correct = torch.zeros((), dtype=torch.long, device=train.device)
        batches = train.shuffled(params.batch_size, state.rng)
        if replicas.rank == 0:  # no tqdm at all elsewhere: its lock would outlive a stopped replica process
            batches = tqdm(batches, total=train.count(params.batch_size), desc=f"epoch {epoch}/{params.epochs}",
                           leave=False, mininterval=1.0)
        for batch in batches:
            batch_ids, _, batch_labels = batch
            ids, lengths, labels = replicas.share(batch)
            optimizer.zero_grad(set_to_none=True)
            if len(labels):
                logits = model(ids, lengths)
                loss = loss_fn(logits, labels)
                (loss / len(batch_labels)).backward()  # the mean over the whole batch, once the replicas are summed
                total_loss += loss.detach()
                correct += ((logits > 0).float() == labels).sum()
            replicas.sum_gradients(model, batch_ids)
            nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
        replicas.sum(total_loss, correct)
        val_loss, val_accuracy = evaluate_loss(model, val, replicas)
        result = EpochResult(
            epoch, total_loss.item() / len(train), correct.item() / len(train), val_loss, val_accuracy,
            time.perf_counter() - epoch_started,
        )
        state.history.append(result)
        if val_loss < state.best_loss:
            state.best_loss, state.best_epoch, state.best_weights = val_loss, epoch, copy.deepcopy(model.state_dict())
        state.torch_rng_states = replicas.rng_states()
        state.seconds = time.perf_counter() - started
        if save is not None:
            save()
        on_epoch(result)


def adam(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=params.lr, fused=True)  # one kernel for all tensors


def replica_rng_states(seed: int, world: int) -> list[torch.Tensor]:
    """Each training process's torch RNG state at the start: this process's own (the model was just initialised
    from it; one process trains exactly as before data parallelism), the others seeded from `seed` and rank."""
    return [torch.get_rng_state()] + [torch.Generator().manual_seed(seed + rank).get_state()
                                      for rank in range(1, world)]


@dataclass
class TrainingState:
    """Everything an interrupted run needs to go on exactly where it stopped."""

    rng: np.random.Generator  # batch order
    torch_rng_states: list[torch.Tensor]  # each training process's dropout masks, by rank
    history: list[EpochResult] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_weights: dict | None = None
    seconds: float = 0.0

    def save(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str) -> None:
        with atomic_path(path) as partial:
            torch.save({
                "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": self.rng.bit_generator.state, "torch_rng_states": self.torch_rng_states,
                "history": [asdict(epoch) for epoch in self.history], "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights, "seconds": self.seconds,
            }, partial)

    @classmethod
    def load(cls, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: str) -> TrainingState:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["fingerprint"] != fingerprint:
            raise PipelineError(
                f"{path} was saved for other data, model or training params: set train.resume to false to start "
                f"over, or delete it"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = saved["rng"]
        history = [EpochResult(**epoch) for epoch in saved["history"]]
        tqdm.write(f"resuming from {path} after epoch {len(history)}")
        return cls(rng, saved["torch_rng_states"], history, saved["best_loss"], saved["best_epoch"],
                   saved["best_weights"], saved["seconds"])


def training_fingerprint(model: nn.Module, train: Batches, params: TrainParams, world: int) -> str:
    """What a checkpoint must match to be resumed: the model's config, the training data, the params that shape
    the optimisation (not `epochs` or `patience`, so a finished run can be given more epochs) and the number of
    training processes."""
    digest = hashlib.sha256(train.ids.numpy().tobytes())
    digest.update(train.labels.numpy().tobytes())
    digest.update(repr((model.config, params.lr, params.batch_size, params.seed, world)).encode())
    return digest.hexdigest()


def evaluate_loss(model: nn.Module, batches: Batches, replicas: Replicas = Replicas()) -> tuple[float, float]:
    """Mean binary cross-entropy and accuracy on a split."""
    probabilities = predict_proba(model, batches, replicas)
    labels = batches.labels.numpy()
    loss = log_loss(labels, probabilities, labels=[0, 1])
    return float(loss), float(accuracy_score(labels, probabilities >= 0.5))


@torch.inference_mode()
def predict_proba(model: nn.Module, batches: Batches, replicas: Replicas = Replicas()) -> np.ndarray:
    """Positive-class probability of every review, in the split's order; training replicas score a share each."""
    model.eval()
    batch_size = CUDA_INFERENCE_BATCH if batches.device.type == "cuda" else CPU_INFERENCE_BATCH
    probabilities = torch.zeros(len(batches), dtype=torch.float64)
    for number, (indices, (ids, lengths, _)) in enumerate(batches.in_length_order(batch_size)):
        if replicas.owns(number):
            probabilities[torch.from_numpy(indices)] = torch.sigmoid(model(ids, lengths)).double().cpu()
    replicas.sum(probabilities)
    return probabilities.numpy()


def timed_predictions(models: dict[str, nn.Module], batches: Batches) -> dict[str, tuple[np.ndarray, float]]:
    """Each model's probabilities for every review and its inference throughput in reviews per second.

    On the CPU the models score side by side, each in its own thread on an equal share of the cores: two models
    on one core each finished 1.2x sooner than one after the other on two cores (README, Performance), with the
    same probabilities. A GPU scores them one after the other."""

    def timed(model: nn.Module) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        probabilities = predict_proba(model, batches)
        return probabilities, len(batches) / (time.perf_counter() - started)

    threads = torch.get_num_threads()
    if batches.device.type != "cpu" or threads < len(models):
        return {name: timed(model) for name, model in models.items()}
    torch.set_num_threads(threads // len(models))
    try:
        with ThreadPoolExecutor(len(models)) as pool:
            running = {name: pool.submit(timed, model) for name, model in models.items()}
        return {name: future.result() for name, future in running.items()}
    finally:
        torch.set_num_threads(threads)
