import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from pipeline.models import (
    BidirectionalRNN,
    ModelConfig,
    build_model,
    count_parameters,
    load_checkpoint,
    parameters_by_part,
    reverse_within_lengths,
    save_checkpoint,
)
from pipeline.text import PAD_ID


def config(kind: str, **changes) -> ModelConfig:
    base = dict(kind=kind, vocab_size=50, embed_dim=8, hidden_dim=12, rnn="lstm", hops=2, heads=3, dropout=0.0)
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
    assert isinstance(self_model.rnn.forward_rnn, torch.nn.GRU)
    assert isinstance(self_model.rnn.backward_rnn, torch.nn.GRU)
    bilstm = build_model(config("self"))  # 2 hops over 2 x 12 wide states
    assert count_parameters(bilstm) == (
        50 * 8 + 2 * 4 * (8 * 12 + 12 * 12 + 2 * 12) + (24 * 24 + 24 + 24 * 2) + (2 * 24 + 1)
    )
    mha = build_model(config("mha"))
    assert isinstance(mha.rnn, torch.nn.LSTM) and not mha.rnn.bidirectional
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


def test_bidirectional_rnn_matches_pytorchs_packed_bidirectional_lstm():
    """Same weights, same states at every real token as nn.LSTM(bidirectional=True) on packed sequences."""
    torch.manual_seed(0)
    ours = BidirectionalRNN(torch.nn.LSTM, 3, 4)
    reference = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(reference, name).copy_(getattr(ours.forward_rnn, name))
            getattr(reference, name + "_reverse").copy_(getattr(ours.backward_rnn, name))
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 3])
    packed = pack_padded_sequence(x, lengths, batch_first=True)
    expected, _ = pad_packed_sequence(reference(packed)[0], batch_first=True)
    actual = ours(x, lengths)
    assert torch.allclose(actual[0], expected[0], atol=1e-6)
    assert torch.allclose(actual[1, :3], expected[1, :3], atol=1e-6)


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
