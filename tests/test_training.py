import numpy as np
import pytest
import torch

from pipeline.compute import resolve_device
from pipeline.datasets import training_splits
from pipeline.errors import PipelineError
from pipeline.models import ModelConfig, build_model
from pipeline.synthetic import synthetic_reviews
from pipeline.text import EncodedSplit, Vocabulary, tokenize
from pipeline.training import Batches, evaluate_loss, fit, seed_everything
from tests.conftest import typed_small_params

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def encoded():
    splits = training_splits(synthetic_reviews(seed=0, train_size=1000, test_size=100), 0.2, seed=0)
    reviews = {name: [tokenize(text) for text in part["text"]] for name, part in splits.items()}
    vocab = Vocabulary.build(reviews["train"], 300, 1, True)
    encoded = {name: EncodedSplit.encode(reviews[name], part["label"], vocab, 64, "head")
               for name, part in splits.items()}
    return encoded, vocab


def train_once(encoded, kind="self", checkpoint=None, seed=42, precision="fp32", **train_overrides):
    splits, vocab = encoded
    params = typed_small_params(**{"train.epochs": 4, "train.lr": 0.01} | train_overrides)
    seed_everything(seed)
    model = build_model(ModelConfig(kind=kind, vocab_size=len(vocab), **vars(params.model)))
    result = fit(model, Batches(splits["train"], CPU), Batches(splits["val"], CPU), params.train, seed,
                 checkpoint=checkpoint, precision=precision)
    return model, result


@pytest.mark.parametrize("kind", ["self", "mha"])
def test_both_models_learn_the_synthetic_task(encoded, kind):
    model, result = train_once(encoded, kind, **{"train.epochs": 6, "model.embed_dim": 32, "model.hidden_dim": 32})
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert max(epoch.val_accuracy for epoch in result.history) > 0.75


@pytest.mark.parametrize("kind", ["self", "mha"])
def test_bf16_training_learns_the_synthetic_task_and_repeats_itself(encoded, kind):
    """Under bf16 autocast (emulated, slowly, on CPUs without AVX512-BF16 or AMX) the models learn as in float32,
    and the same seed gives the same run again."""
    sizes = {"train.epochs": 6, "model.embed_dim": 32, "model.hidden_dim": 32}
    model, result = train_once(encoded, kind, precision="bf16", **sizes)
    assert max(epoch.val_accuracy for epoch in result.history) > 0.75
    assert all(weight.dtype == torch.float32 for weight in model.state_dict().values())  # autocast: weights stay fp32
    _, repeated = train_once(encoded, kind, precision="bf16", **sizes)
    _, float32 = train_once(encoded, kind, **sizes)
    assert losses(repeated) == losses(result) != losses(float32)


def losses(result):
    return [(epoch.train_loss, epoch.val_loss) for epoch in result.history]


def test_model_ends_with_its_best_validation_weights(encoded):
    splits, _ = encoded
    model, result = train_once(encoded)
    val_loss, _, _ = evaluate_loss(model, Batches(splits["val"], CPU))
    assert val_loss == pytest.approx(result.history[result.best_epoch - 1].val_loss, abs=1e-6)
    assert result.history[result.best_epoch - 1].val_loss == min(e.val_loss for e in result.history)


def test_early_stopping_waits_patience_epochs_without_improvement(encoded):
    splits, vocab = encoded
    flipped_val = EncodedSplit(splits["val"].ids, splits["val"].lengths, 1 - splits["val"].labels)
    params = typed_small_params(**{"train.epochs": 10, "train.patience": 2, "train.lr": 0.01}).train
    seed_everything(0)
    model = build_model(ModelConfig(kind="self", vocab_size=len(vocab), embed_dim=16, hidden_dim=16, rnn="lstm", hops=1,
                                    heads=2, dropout=0.0, hop_penalty=0.0, mha_bidirectional=False))
    result = fit(model, Batches(splits["train"], CPU), Batches(flipped_val, CPU), params, seed=0)
    assert len(result.history) == result.best_epoch + 2 < 10


@pytest.mark.parametrize("kind", ["self", "mha"])
def test_the_hop_penalty_pushes_the_hops_apart(encoded, kind):
    """Lin et al.'s penalty in the loss: the same training with it ends with hops that overlap far less, and every
    epoch reports the penalty (measured whether or not it is weighed in) and the validation overlap."""
    _, without = train_once(encoded, kind, **{"train.epochs": 2, "model.hop_penalty": 0.0})
    _, with_penalty = train_once(encoded, kind, **{"train.epochs": 2, "model.hop_penalty": 1.0})
    assert all(0 <= epoch.val_hop_overlap <= 1 and epoch.train_hop_penalty >= 0 for epoch in without.history)
    assert with_penalty.history[-1].val_hop_overlap < without.history[-1].val_hop_overlap - 0.1
    assert with_penalty.history[-1].train_hop_penalty < without.history[-1].train_hop_penalty
    _, one_hop = train_once(encoded, kind, **{"train.epochs": 1, "model.hops": 1})
    assert one_hop.history[0].val_hop_overlap is None


def test_same_seed_gives_identical_training_and_another_seed_another_model(encoded):
    _, first = train_once(encoded, **{"train.epochs": 2})
    _, second = train_once(encoded, **{"train.epochs": 2})
    _, other = train_once(encoded, seed=43, **{"train.epochs": 2})
    strip = lambda result: [(e.train_loss, e.val_loss, e.val_accuracy) for e in result.history]  # noqa: E731
    assert strip(first) == strip(second) != strip(other)


def test_batches_cover_every_review_once_trimmed_to_their_longest(encoded):
    splits, _ = encoded
    batches = Batches(splits["train"], CPU)
    seen = []
    for ids, lengths, labels in batches.shuffled(32, np.random.default_rng(0)):
        assert ids.shape[1] == int(lengths.max()) and len(ids) == len(labels) <= 32
        seen += ids[:, 0].tolist()
    assert len(seen) == len(batches)
    indices = np.concatenate([idx for idx, _ in batches.in_length_order(100)])
    assert sorted(indices.tolist()) == list(range(len(batches)))


def test_device_choice(monkeypatch):
    assert resolve_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(PipelineError, match="train.device=cuda but no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(encoded, tmp_path):
    strip = lambda result: [(e.train_loss, e.val_loss, e.val_accuracy) for e in result.history]  # noqa: E731
    straight, straight_result = train_once(encoded, **{"train.epochs": 3}, checkpoint=tmp_path / "straight.pt")
    train_once(encoded, **{"train.epochs": 1}, checkpoint=tmp_path / "cut.pt")  # "interrupted" after epoch 1
    resumed, resumed_result = train_once(encoded, **{"train.epochs": 3, "train.resume": True},
                                         checkpoint=tmp_path / "cut.pt")
    assert strip(resumed_result) == strip(straight_result) and len(resumed_result.history) == 3
    assert resumed_result.best_epoch == straight_result.best_epoch
    for name, weight in straight.state_dict().items():
        assert torch.equal(weight, resumed.state_dict()[name]), name


def test_a_checkpoint_from_other_params_is_refused(encoded, tmp_path):
    train_once(encoded, **{"train.epochs": 1}, checkpoint=tmp_path / "run.pt")
    with pytest.raises(PipelineError, match="saved for other data, model, training params or precision: set"):
        train_once(encoded, **{"train.epochs": 2, "train.resume": True, "train.lr": 0.02},
                   checkpoint=tmp_path / "run.pt")
    with pytest.raises(PipelineError, match="saved for other data, model, training params or precision: set"):
        train_once(encoded, seed=43, **{"train.epochs": 2, "train.resume": True}, checkpoint=tmp_path / "run.pt")
    with pytest.raises(PipelineError, match="saved for other data, model, training params or precision: set"):
        train_once(encoded, precision="bf16", **{"train.epochs": 2, "train.resume": True},
                   checkpoint=tmp_path / "run.pt")
    _, fresh = train_once(encoded, **{"train.epochs": 1, "train.lr": 0.02}, checkpoint=tmp_path / "run.pt")
    assert len(fresh.history) == 1  # resume off: the old checkpoint is simply overwritten


def test_a_checkpoint_from_a_model_built_otherwise_is_refused(encoded, tmp_path):
    """Code that changes a model's layers but not its config (as when the multi-head model got its pooling) must
    not resume an old checkpoint: the error says what to do, instead of a state_dict traceback."""
    train_once(encoded, **{"train.epochs": 1}, checkpoint=tmp_path / "run.pt")
    splits, vocab = encoded
    params = typed_small_params(**{"train.epochs": 2, "train.lr": 0.01, "train.resume": True})
    model = build_model(ModelConfig(kind="self", vocab_size=len(vocab), **vars(params.model)))
    model.add_module("extra", torch.nn.Linear(2, 2))
    with pytest.raises(PipelineError, match="saved for other data, model, training params or precision: set"):
        fit(model, Batches(splits["train"], CPU), Batches(splits["val"], CPU), params.train, 42,
            checkpoint=tmp_path / "run.pt")


def test_gpu_batches_round_their_width_up_so_that_cudnn_sees_few_shapes():
    vocab = Vocabulary.build([["word"]], size=10, min_freq=1, lowercase=True)
    split = EncodedSplit.encode([["word"] * n for n in (3, 40, 41, 70)], [0, 1, 0, 1], vocab, 80, "head")
    batches = Batches(split, torch.device("cpu"))
    assert [ids.size(1) for _, (ids, _, _) in batches.in_length_order(2)] == [40, 70]
    batches.width_multiple = 32  # what a CUDA device gets
    assert [ids.size(1) for _, (ids, _, _) in batches.in_length_order(2)] == [64, 70]  # capped at the split's width
