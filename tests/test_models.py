import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from pipeline.models import (
    RNN,
    ModelConfig,
    build_model,
    count_parameters,
    hop_overlap,
    hop_penalty,
    load_checkpoint,
    parameters_by_part,
    reverse_within_lengths,
    save_checkpoint,
)
from pipeline.text import PAD_ID


def config(kind: str, **changes) -> ModelConfig:
    base = dict(kind=kind, vocab_size=50, embed_dim=8, hidden_dim=12, rnn="lstm", hops=2, heads=3, dropout=0.0,
                hop_penalty=0.0, mha_bidirectional=False)
    return ModelConfig(**base | changes)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[5, 6, 7, 8, 9], [3, 4, PAD_ID, PAD_ID, PAD_ID]])
    return ids, torch.tensor([5, 2])


@pytest.mark.parametrize("kind", ["self", "mha"])
def test_forward_returns_one_logit_per_review(kind):
    torch.manual_seed(0)
    model = build_model(config(kind)).eval()
    ids, lengths = batch()
    assert model(ids, lengths).shape == (2,)
    assert torch.allclose(model(ids, lengths), model(ids), atol=1e-6)  # lengths derived from padding


@pytest.mark.parametrize("kind", ["self", "mha"])
def test_padding_does_not_change_the_prediction(kind):
    torch.manual_seed(0)
    model = build_model(config(kind)).eval()
    ids, lengths = batch()
    padded = torch.cat([ids, torch.full((2, 7), PAD_ID)], dim=1)
    assert torch.allclose(model(ids, lengths), model(padded, lengths), atol=1e-6)


def test_self_attention_weights_ignore_padding_and_sum_to_one_in_each_hop():
    torch.manual_seed(0)
    model = build_model(config("self", hops=3)).eval()
    ids, lengths = batch()
    _, layers = model.forward_with_attention(ids, lengths)
    weights = layers["pooling"]
    assert weights.shape == (2, 3, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 2:] == 0)
    assert not torch.allclose(weights[0, 0], weights[0, 1])  # each hop scores the tokens its own way


def test_each_hop_pools_its_own_slice_of_the_review_vector():
    torch.manual_seed(0)
    model = build_model(config("self", hops=3)).eval()
    ids, lengths = batch()
    states = model.rnn(model.embedding(ids), lengths)
    pooled, weights = model.pooling(states, ids == PAD_ID)
    width = states.size(-1)
    assert pooled.shape == (2, 3 * width) and model.classifier.in_features == 3 * width
    assert torch.allclose(pooled[:, width:2 * width], (weights[:, 1].unsqueeze(-1) * states).sum(dim=1), atol=1e-6)


def test_multi_head_attention_has_one_weight_map_per_head_masked_at_padding():
    torch.manual_seed(0)
    model = build_model(config("mha", heads=4)).eval()
    ids, lengths = batch()
    _, layers = model.forward_with_attention(ids, lengths)
    weights = layers["attention"]
    assert weights.shape == (2, 4, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 5))
    assert torch.all(weights[1, :, :, 2:] == 0)


def test_architectures_are_what_the_comparison_claims():
    self_model = build_model(config("self", rnn="gru"))
    assert isinstance(self_model.rnn.rnn, torch.nn.GRU) and self_model.rnn.rnn.bidirectional
    bilstm = build_model(config("self"))  # 2 hops over 2 x 12 wide states
    assert count_parameters(bilstm) == (
        50 * 8 + 2 * 4 * (8 * 12 + 12 * 12 + 2 * 12) + (24 * 24 + 24 + 24 * 2) + (2 * 24 + 1)
    )
    mha = build_model(config("mha"))
    assert isinstance(mha.rnn.rnn, torch.nn.LSTM) and not mha.rnn.rnn.bidirectional
    assert mha.attention.heads == 3
    assert isinstance(mha.pooling, type(bilstm.pooling))  # both pool the same way: 2 hops, here over 12 wide states
    embedding, lstm, attention = 50 * 8, 4 * (8 * 12 + 12 * 12 + 2 * 12), (3 * 12 * 12 + 3 * 12) + (12 * 12 + 12)
    assert count_parameters(mha) == embedding + lstm + attention + (12 * 12 + 12 + 12 * 2) + (2 * 12 + 1)


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    model = build_model(config("mha")).eval()
    save_checkpoint(model, tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path / "model.pt")
    ids, lengths = batch()
    assert loaded.config == model.config
    assert torch.equal(loaded(ids, lengths), model(ids, lengths))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_reversal_within_lengths_keeps_padding_in_place_and_undoes_itself():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]).unsqueeze(-1)
    lengths = torch.tensor([3, 2])
    reversed_x = reverse_within_lengths(x, lengths)
    assert reversed_x.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    assert torch.equal(reverse_within_lengths(reversed_x, lengths), x)


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU])
def test_cpu_path_matches_pytorchs_packed_bidirectional_rnn(cell):
    """Same weights, same states at every real token as the RNN module itself on packed sequences (the GPU path)."""
    torch.manual_seed(0)
    ours = RNN(cell, 3, 4, bidirectional=True)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 3, 1])
    expected, _ = pad_packed_sequence(ours.rnn(pack_padded_sequence(x, lengths, batch_first=True))[0], batch_first=True)
    actual = ours(x, lengths)
    for row, length in enumerate(lengths):
        assert torch.allclose(actual[row, :length], expected[row, :length], atol=1e-6)


@pytest.mark.parametrize("kind,changes", [("self", {}), ("self", {"rnn": "gru"}), ("mha", {"mha_bidirectional": True})])
def test_gpu_and_cpu_paths_give_the_same_outputs_and_gradients_for_the_same_weights(kind, changes, monkeypatch):
    """A model trained on a GPU (packed, one cuDNN call for both directions) predicts the same on a CPU (each
    direction over the padded batch), and trains the same: run here on the CPU, the packed path forced."""
    torch.manual_seed(0)
    model = build_model(config(kind, **changes))
    ids = torch.tensor([[5, 6, 7, 8, 9, 4], [3, 4, PAD_ID, PAD_ID, PAD_ID, PAD_ID], [7, 8, 9, 2, PAD_ID, PAD_ID]])
    lengths = torch.tensor([6, 2, 4])
    results = []
    for path in ("direction_by_direction", "packed"):
        monkeypatch.setattr(model.rnn, "forward", getattr(model.rnn, path))
        model.zero_grad()
        logits, weights = model.forward_with_attention(ids, lengths)
        logits.sum().backward()
        results.append((logits.detach(), weights["pooling"].detach(), [p.grad.clone() for p in model.parameters()]))
    (cpu_logits, cpu_weights, cpu_grads), (gpu_logits, gpu_weights, gpu_grads) = results
    assert torch.allclose(cpu_logits, gpu_logits, atol=1e-6)
    assert torch.allclose(cpu_weights, gpu_weights, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(cpu_grads, gpu_grads))


def test_bidirectional_multi_head_model_reads_with_the_self_attention_models_encoder():
    torch.manual_seed(0)
    mha = build_model(config("mha", mha_bidirectional=True, heads=4))
    self_model = build_model(config("self"))
    assert mha.rnn.rnn.bidirectional and mha.rnn.width == 24
    assert parameters_by_part(mha)["rnn"] == parameters_by_part(self_model)["rnn"]
    assert mha.attention.in_proj.in_features == 24 and mha.classifier.in_features == 2 * 24
    ids, lengths = batch()
    padded = torch.cat([ids, torch.full((2, 4), PAD_ID)], dim=1)
    mha.eval()
    assert torch.allclose(mha(ids, lengths), mha(padded, lengths), atol=1e-6)  # the backward direction skips padding


def test_hop_penalty_is_zero_for_disjoint_one_token_hops_and_largest_for_identical_ones():
    disjoint = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    identical = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0]]])
    spread = torch.full((1, 2, 4), 0.25)
    assert hop_penalty(disjoint).item() == 0
    assert hop_penalty(identical).item() == 2  # hops^2 - hops
    assert hop_penalty(spread).item() == pytest.approx(2 * 0.75**2 + 2 * 0.25**2)  # diagonal 1/4, off-diagonal 1/4


def test_hop_overlap_is_the_shared_weight_of_every_pair_of_hops():
    weights = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]],
                            [[0.2, 0.8, 0.0], [0.2, 0.8, 0.0], [0.2, 0.8, 0.0]]])
    assert hop_overlap(weights).tolist() == pytest.approx([(0.5 + 0.0 + 0.5) / 3, 1.0])


def test_fused_attention_kernel_gives_the_explicit_softmax_result():
    torch.manual_seed(0)
    model = build_model(config("mha", heads=4)).eval()
    ids, lengths = batch()
    fused, without_heads = model.forward_with_attention(ids, lengths, need_weights=False)
    explicit, _ = model.forward_with_attention(ids, lengths, need_weights=True)
    assert list(without_heads) == ["pooling"]
    assert torch.allclose(fused, explicit, atol=1e-6)


def test_parameter_breakdown_adds_up_and_shows_where_the_models_differ():
    parts = {kind: parameters_by_part(build_model(config(kind))) for kind in ("self", "mha")}
    assert list(parts["self"]) == ["embedding", "rnn", "pooling", "classifier"]  # its attention is the pooling
    assert list(parts["mha"]) == ["embedding", "rnn", "attention", "pooling", "classifier"]
    for kind, counts in parts.items():
        assert sum(counts.values()) == count_parameters(build_model(config(kind)))
    assert parts["self"]["embedding"] == parts["mha"]["embedding"] == 50 * 8
    assert parts["self"]["rnn"] == 2 * parts["mha"]["rnn"]  # two directions of the same LSTM size
    lstm = 4 * 12 * (8 + 12 + 2)  # four gates, input and hidden weights, two bias vectors
    assert parts["mha"]["rnn"] == lstm
