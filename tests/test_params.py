import re

import pytest
import yaml

from pipeline.errors import PipelineError
from pipeline.params import load_params, parse_params
from tests.conftest import ROOT, repo_params, small_params, typed_small_params


def problems_of(raw) -> str:
    with pytest.raises(PipelineError) as error:
        parse_params(raw)
    return str(error.value)


def test_repo_params_are_valid_and_typed():
    params = load_params(ROOT / "params.yaml")
    assert params.data.md5 == "7c2ac02c03563afcf9b574c7e56c153a"
    assert params.data.url == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert isinstance(params.train.lr, float) and params.train.lr > 0
    assert params.model.hidden_dim % params.model.heads == 0


def test_heads_must_divide_attention_width_and_the_message_lists_valid_choices():
    raw = repo_params()
    raw["model"]["heads"] = 3
    message = problems_of(raw)
    assert "model.heads=3 must divide the attention width, model.hidden_dim = 64" in message
    assert "[1, 2, 4, 8, 16, 32, 64]" in message
    raw["model"]["mha_bidirectional"] = True
    raw["model"]["heads"] = 3
    message = problems_of(raw)
    assert "model.heads=3 must divide the attention width, 2 x model.hidden_dim = 128" in message
    raw["model"]["heads"] = 128
    raw["model"]["hop_penalty"] = -1
    assert problems_of(raw).endswith("1 problem(s): model.hop_penalty=-1.0 must be >= 0 (0 turns the penalty off)")


def test_every_problem_is_reported_at_once_on_one_line():
    raw = repo_params()
    raw["train"]["lr"] = -0.1
    raw["data"]["source"] = "kaggle"
    raw["data"]["val_fraction"] = 1.5
    raw["train"]["device"] = "tpu"
    raw["tokenize"]["keep"] = "middle"
    raw["model"]["hops"] = 0
    raw["train"]["precision"] = "fp16"
    message = problems_of(raw)
    assert "7 problem(s)" in message and "\n" not in message
    for expected in ("train.lr=-0.1 must be > 0", "data.source='kaggle' must be one of imdb, csv, synthetic",
                     "data.val_fraction=1.5", "train.device='tpu'",
                     "train.precision='fp16' must be one of auto, fp32, bf16",
                     "tokenize.keep='middle' must be one of head, tail, head_tail", "model.hops=0 must be >= 1"):
        assert expected in message


def test_evaluation_may_not_read_less_than_training():
    raw = repo_params()
    raw["tokenize"]["max_len"], raw["tokenize"]["eval_max_len"] = 400, 300
    assert "tokenize.eval_max_len=300 must be >= tokenize.max_len=400" in problems_of(raw)
    raw["tokenize"]["eval_max_len"] = 400
    assert parse_params(raw).tokenize.eval_max_len == 400


def test_types_are_checked_and_bools_are_not_numbers():
    raw = repo_params()
    raw["train"]["epochs"] = "five"
    raw["model"]["embed_dim"] = True
    raw["tokenize"]["lowercase"] = "yes"
    message = problems_of(raw)
    assert "train.epochs='five' must be int" in message
    assert "model.embed_dim=True must be int" in message
    assert "tokenize.lowercase='yes' must be bool" in message


def test_integers_are_accepted_for_floats():
    raw = repo_params()
    raw["train"]["lr"] = 1
    assert parse_params(raw).train.lr == 1.0


def test_missing_and_unknown_keys_are_named():
    raw = repo_params()
    del raw["train"]["patience"]
    raw["model"]["layers"] = 2
    raw["extra"] = {}
    message = problems_of(raw)
    assert "train.patience is missing" in message
    assert "unknown parameter model.layers" in message
    assert "unknown section 'extra'" in message


def test_unreadable_params_file_names_the_file(tmp_path):
    broken = tmp_path / "params.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(PipelineError, match="params.yaml is not valid YAML"):
        load_params(broken)
    with pytest.raises(PipelineError, match="not found"):
        load_params(tmp_path / "absent.yaml")


@pytest.mark.parametrize("kind, stage, excluded", [("self", "train_self", "model.heads"),
                                                   ("mha", "train_mha", "model.rnn")])
def test_params_logged_for_a_model_match_what_its_dvc_stage_depends_on(kind, stage, excluded):
    """Changing a param re-runs exactly the training stages whose MLflow runs record it; changing `train.seeds`
    re-runs none of the seeds already trained."""
    params = load_params(ROOT / "params.yaml")
    stage_definition = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    declared = stage_definition["do"]["params"]
    assert stage_definition["foreach"] == "${train.seeds}" and "--seed ${item}" in stage_definition["do"]["cmd"]
    logged = params.for_model(kind, 43)
    for section in ("model.", "train."):
        assert {key for key in logged if key.startswith(section)} - {"train.seed"} == {
            key for key in declared if key.startswith(section)}
    assert logged["train.seed"] == 43 and "train.seeds" not in declared and "train" not in declared
    assert excluded not in declared and excluded not in logged


def test_seeds_are_a_list_of_distinct_non_negative_integers():
    assert typed_small_params(**{"train.seeds": [7]}).train.seeds == [7]
    for seeds, problem in [(42, "train.seeds=42 must be a list of int, e.g. [42, 43, 44]"),
                           (["42"], "must be a list of int"),
                           ([], "train.seeds is empty: give at least one seed"),
                           ([1, 2, 1], "train.seeds lists 1 more than once"),
                           ([-3], "train.seeds has -3: a seed must be >= 0")]:
        with pytest.raises(PipelineError, match=re.escape(problem)):
            parse_params(small_params(**{"train.seeds": seeds}))


def test_the_registered_model_name_is_checked_and_names_one_model_per_kind():
    raw = repo_params()
    raw["mlflow"]["registered_model"] = "my models/v1"
    assert "mlflow.registered_model='my models/v1' must be a model registry name" in problems_of(raw)
    raw["mlflow"]["registered_model"] = "reviews.v2"
    assert parse_params(raw).mlflow.registered_name("mha") == "reviews.v2-mha"


def test_a_headerless_table_needs_column_positions_and_a_known_encoding():
    params = typed_small_params(**{"data.header": False, "data.text_column": 0, "data.label_column": "1"})
    assert (params.data.text_key, params.data.label_key) == (0, 1)
    assert typed_small_params(**{"data.text_column": "review"}).data.text_key == "review"
    with pytest.raises(PipelineError) as error:
        parse_params(small_params(**{"data.header": False, "data.encoding": "klingon"}))
    message = str(error.value)
    assert "data.text_column='text' must be a column position (0 for the first column" in message
    assert "data.label_column='label' must be a column position" in message
    assert "data.encoding='klingon' is not a text encoding Python knows; use e.g. utf-8, cp1252" in message
    with pytest.raises(PipelineError, match="data.text_column and data.label_column are both column 1"):
        parse_params(small_params(**{"data.header": False, "data.text_column": 1, "data.label_column": 1}))
    with pytest.raises(PipelineError, match=r"data.text_column=1.5 must be str or int"):
        parse_params(small_params(**{"data.text_column": 1.5}))


def test_the_verdicts_margin_and_plan_are_checked_and_the_seeds_must_fit_the_plan():
    assert typed_small_params().compare.margin_share == pytest.approx(0.005)
    message = problems_of(small_params(**{"compare.margin": 0, "compare.max_seeds": 1}))
    assert "compare.margin=0.0 must be between 0 and 100 (accuracy points)" in message
    assert "compare.max_seeds=1 must be >= 2" in message
    message = problems_of(small_params(**{"compare.max_seeds": 3, "train.seeds": [1, 2, 3, 4]}))
    assert message.endswith("1 problem(s): train.seeds has 4 seeds, more than compare.max_seeds=3, the plan the "
                            "verdict's error is spread over: raise compare.max_seeds (the verdict then needs a little "
                            "more evidence at every look) or train fewer seeds")


def test_the_faithfulness_sample_fractions_draws_and_margin_are_checked():
    raw = small_params(**{"faithfulness.reviews": 1, "faithfulness.fractions": [0.1, 0, 1.5, 0.1],
                          "faithfulness.random_draws": 0, "faithfulness.margin": 1})
    message = problems_of(raw)
    for problem in ["faithfulness.reviews=1 must be >= 2", "faithfulness.fractions has 0: a share of tokens must be in "
                    "(0, 1]", "faithfulness.fractions has 1.5", "faithfulness.fractions lists a share more than once",
                    "faithfulness.random_draws=0 must be >= 1",
                    "faithfulness.margin=1.0 must be between 0 and 1 (a share of probability)"]:
        assert problem in message, (problem, message)
    assert "faithfulness.fractions is empty" in problems_of(small_params(**{"faithfulness.fractions": []}))
