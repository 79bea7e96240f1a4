from pathlib import Path

import pytest
import torch

from pipeline import compute
from pipeline.compute import autocast, compute_used, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "bf16"),  # a Xeon with AMX
    ({"avx2", "avx512f", "avx512_bf16"}, "fp32"),  # bf16 instructions but no AMX: slower than float32 (measured)
    ({"avx2"}, "fp32"),  # an AVX2-only EPYC: emulated
    (set(), "fp32"),  # no /proc/cpuinfo
])
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_fast(monkeypatch, flags, expected):
    monkeypatch.setattr(compute, "cpu_flags", lambda: frozenset(flags))
    assert resolve_precision("auto", CPU) == expected
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"  # as asked


def test_this_machines_flags_are_read_from_proc_cpuinfo():
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo: not Linux")
    assert "fpu" in compute.cpu_flags()


def test_autocast_runs_matrix_products_in_the_precision_asked_for():
    weights = torch.nn.Linear(4, 2)
    with autocast("bf16", CPU):
        assert weights(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast("fp32", CPU):
        assert weights(torch.ones(1, 4)).dtype == torch.float32


def test_the_compute_record_names_the_precision():
    assert compute_used(CPU, "bf16")["precision"] == "bf16"
    assert set(compute_used(CPU, "fp32")) == {"device", "processor", "kernels", "threads", "precision"}
