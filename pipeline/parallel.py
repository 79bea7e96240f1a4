"""Data-parallel training on the CPU: processes that each train a replica of the model on a share of every batch.

PyTorch's LSTM gains little from a second thread, while a second single-threaded process does twice the work
(README, Performance). Every replica draws the same batches in the same order, computes gradients on its share
(every `world`-th review of the length-sorted batch, so the shares are equally long), and the gradients are summed
across replicas before each optimizer step: the replicas' weights stay identical, as in `DistributedDataParallel`.
"""

from __future__ import annotations

import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.distributed as dist
import torch.multiprocessing
from torch import nn


@dataclass(frozen=True)
class Replicas:
    """This process's place among the training processes; rank 0 is the stage's own process."""

    rank: int = 0
    world: int = 1

    def share(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """This replica's reviews of a batch, trimmed to the longest of them (none when the batch is smaller
        than the number of replicas)."""
        if self.world == 1:
            return batch
        ids, lengths, labels = (tensor[self.rank :: self.world] for tensor in batch)
        return ids[:, : int(lengths.max()) if len(lengths) else 0], lengths, labels

    def owns(self, batch_number: int) -> bool:
        """Whether this replica scores the `batch_number`-th batch of a split."""
        return batch_number % self.world == self.rank

    def sum_gradients(self, model: nn.Module, batch_ids: torch.Tensor) -> None:
        """Every replica's gradients summed into each replica's `.grad`.

        Only the embedding rows of the batch's words can have a gradient: summing those alone sends about a
        tenth of the numbers that the whole embedding matrix would."""
        if self.world == 1:
            return
        embedding = model.embedding.weight
        for parameter in model.parameters():
            if parameter.grad is None:  # a replica whose share of the batch was empty
                parameter.grad = torch.zeros_like(parameter)
        rows = torch.unique(batch_ids)
        others = [parameter.grad for parameter in model.parameters() if parameter is not embedding]
        flat = torch.cat([embedding.grad[rows].flatten()] + [grad.flatten() for grad in others])
        dist.all_reduce(flat)
        rows_size = rows.numel() * embedding.size(1)
        embedding.grad[rows] = flat[:rows_size].view(-1, embedding.size(1))
        for grad, summed in zip(others, flat[rows_size:].split([grad.numel() for grad in others])):
            grad.copy_(summed.view_as(grad))

    def sum(self, *tensors: torch.Tensor) -> None:
        """Each tensor summed in place across the replicas."""
        if self.world > 1:
            for tensor in tensors:
                dist.all_reduce(tensor)

    def rng_states(self) -> list[torch.Tensor]:
        """Every replica's torch RNG state (its dropout masks), by rank."""
        if self.world == 1:
            return [torch.get_rng_state()]
        states: list[torch.Tensor | None] = [None] * self.world
        dist.all_gather_object(states, torch.get_rng_state())
        return states  # type: ignore[return-value]


@contextmanager
def replicas(world: int, replica_main: Callable[..., None], *args: object) -> Iterator[Replicas]:
    """This process as rank 0 of `world` training processes; ranks 1.. run `replica_main(Replicas, *args)`.

    The cores are split evenly between the processes. `args` reach the others as shared memory: pass copies of
    anything this process goes on changing (model weights, optimizer state)."""
    if world == 1:
        yield Replicas()
        return
    threads = torch.get_num_threads()
    threads_each = max(1, threads // world)
    context = torch.multiprocessing.get_context("spawn")
    started, announce = context.Pipe(duplex=False)  # each worker says when it has started
    with tempfile.TemporaryDirectory(prefix="replicas-") as folder:
        rendezvous = f"file://{Path(folder) / 'rendezvous'}"
        workers = [
            context.Process(target=_run_replica, daemon=True,
                            args=(rank, world, rendezvous, announce, threads_each, replica_main, args))
            for rank in range(1, world)
        ]
        for worker in workers:
            worker.start()
        torch.set_num_threads(threads_each)
        try:
            _wait_until_started(workers, started)
            dist.init_process_group("gloo", init_method=rendezvous, rank=0, world_size=world)
            yield Replicas(0, world)
            for worker in workers:
                worker.join()
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
            if dist.is_initialized():
                dist.destroy_process_group()
            torch.set_num_threads(threads)
        _check_exit_codes(workers)


def _wait_until_started(workers: list, started: Connection) -> None:
    """Block until every worker is ready to join the process group, or fail at once when one of them died
    starting: joining would otherwise wait for it for half an hour."""
    for _ in workers:
        while not started.poll(0.5):
            _check_exit_codes(workers)
        started.recv()


def _check_exit_codes(workers: list) -> None:
    for worker in workers:
        if worker.exitcode:
            raise RuntimeError(f"training process {worker.name} exited with code {worker.exitcode} (see above)")


def _run_replica(rank: int, world: int, rendezvous: str, announce: Connection, threads: int,
                 replica_main: Callable[..., None], args: tuple) -> None:
    # Ctrl-C in a terminal reaches every process of the job: rank 0 handles it and stops this one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    announce.send(rank)
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    try:
        replica_main(Replicas(rank, world), *args)
    finally:
        dist.destroy_process_group()
