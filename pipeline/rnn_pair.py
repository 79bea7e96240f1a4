"""Two independent RNNs run at once, one per CPU core, gradients included.

An RNN is a chain of small matrix products that cores share poorly: PyTorch's LSTM runs only ~1.4x
faster on two threads than on one. The two directions of a bidirectional RNN are independent chains,
so on a multi-core CPU each gets its own core, for the forward and the backward pass alike.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rnn")


def runs_concurrently(x: torch.Tensor) -> bool:
    """Worth it on a CPU with at least two threads; a GPU runs each RNN as one fast kernel anyway."""
    return x.device.type == "cpu" and torch.get_num_threads() >= 2


def run_pair(
    first: nn.RNNBase, first_input: torch.Tensor, second: nn.RNNBase, second_input: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The output states of `first(first_input)` and `second(second_input)`, computed concurrently."""
    if torch.is_grad_enabled():
        parameters = [*first.parameters(), *second.parameters()]
        return _ConcurrentRNNs.apply(first, second, first_input, second_input, *parameters)

    def states(rnn: nn.RNNBase, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # grad mode is per thread
            return rnn(x)[0]

    with _one_thread_per_op():
        first_states, second_states = _POOL.map(states, (first, second), (first_input, second_input))
    return first_states, second_states


@contextmanager
def _one_thread_per_op() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _ConcurrentRNNs(torch.autograd.Function):
    """Each RNN records its own graph in its own thread; backward replays both graphs concurrently."""

    @staticmethod
    def forward(ctx, first, second, first_input, second_input, *parameters):
        def record(rnn: nn.RNNBase, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                leaf = x.detach().requires_grad_()
                return leaf, rnn(leaf)[0]

        with _one_thread_per_op():
            ctx.graphs = list(_POOL.map(record, (first, second), (first_input, second_input)))
        ctx.rnns = (first, second)
        return tuple(states.detach() for _, states in ctx.graphs)

    @staticmethod
    def backward(ctx, first_grad, second_grad):
        def gradients(graph, rnn: nn.RNNBase, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
            leaf, states = graph
            return torch.autograd.grad(states, [leaf, *rnn.parameters()], grad)

        with _one_thread_per_op():
            (first_input, *first_params), (second_input, *second_params) = _POOL.map(
                gradients, ctx.graphs, ctx.rnns, (first_grad, second_grad)
            )
        del ctx.graphs
        return None, None, first_input, second_input, *first_params, *second_params
