"""The stage scripts as a user runs them: `python -m pipeline.<step>`.

Checks that need no real process (help, a missing input) run the step's Typer app in this process,
which spares the ~10 s of importing torch and MLflow per check; the rest start the real command.
"""

import sys

import pytest
from typer.testing import Result

from tests.conftest import ROOT, invoke, run, small_params, write_params

STEPS = ["download", "tokenize", "train", "baseline", "evaluate", "report", "predict", "decide", "repro"]


def assert_one_line_error(result: Result, message: str) -> None:
    """Exit 1 through the step's error handler: one line on stderr, no exception escaped."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_help(step, monkeypatch):
    result = invoke(step, ["--help"], ROOT, monkeypatch)
    assert result.exit_code == 0 and "--params" in result.stdout


def test_bad_params_fail_before_any_work_with_one_line_and_no_traceback(tmp_path):
    params = small_params(**{"model.heads": 5, "train.lr": 0})
    write_params(tmp_path / "params.yaml", params)
    result = run([sys.executable, "-m", "pipeline.download", "--params", "params.yaml"], tmp_path, check=False,
                 PYTHONPATH=str(ROOT))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: 2 problem(s)")
    assert not (tmp_path / "data").exists()


def test_training_without_tokenized_data_says_which_stage_to_run(tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", small_params())
    train = ["--model", "self", "--seed", "42"]
    assert_one_line_error(invoke("train", train, tmp_path, monkeypatch), "run the tokenize stage first")
    (tmp_path / "data" / "processed").mkdir(parents=True)
    vocab = '{"tokens": ["<pad>", "<unk>", "good"], "lowercase": true}'
    (tmp_path / "data" / "processed" / "vocab.json").write_text(vocab)  # an interrupted tokenize: no splits
    result = invoke("train", train, tmp_path, monkeypatch)
    assert_one_line_error(result, "train.npz not found: run the tokenize stage first")


def test_download_with_a_wrong_checksum_names_it_and_writes_nothing(tmp_path, http_dir):
    served, url = http_dir
    (served / "aclImdb_v1.tar.gz").write_bytes(b"not the archive")
    params = small_params(**{"data.source": "imdb", "data.url": f"{url}/aclImdb_v1.tar.gz"})
    write_params(tmp_path / "params.yaml", params)
    result = run([sys.executable, "-m", "pipeline.download"], tmp_path, check=False, PYTHONPATH=str(ROOT))
    assert result.returncode == 1
    assert "MD5 checksum mismatch" in result.stderr and "7c2ac02c03563afcf9b574c7e56c153a" in result.stderr
    assert not (tmp_path / "data" / "raw").exists()
    assert not list((tmp_path / "data" / "cache").glob("*.tar.gz"))


@pytest.mark.parametrize("step, stage", [("baseline", "download"), ("evaluate", "tokenize"), ("report", "evaluate")])
def test_later_steps_without_their_inputs_say_which_stage_to_run(tmp_path, monkeypatch, step, stage):
    write_params(tmp_path / "params.yaml", small_params())
    assert_one_line_error(invoke(step, [], tmp_path, monkeypatch), f"run the {stage} stage first (dvc repro {stage})")


def prepare_training_data(tmp_path, monkeypatch, params: dict) -> None:
    """params.yaml plus what download and tokenize write: a folder ready for the train step."""
    write_params(tmp_path / "params.yaml", params)
    for step in ["download", "tokenize"]:
        assert invoke(step, [], tmp_path, monkeypatch).exit_code == 0


def test_an_unreachable_mlflow_server_stops_training_before_any_work(tmp_path, monkeypatch):
    prepare_training_data(tmp_path, monkeypatch, small_params())
    uri = "http://127.0.0.1:9"  # the discard port: nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = invoke("train", ["--model", "mha", "--seed", "42"], tmp_path, monkeypatch)
    assert_one_line_error(result, f"error: MLflow tracking server {uri} is unreachable")
    assert not (tmp_path / "models").exists()


def test_download_warns_about_reviews_in_both_train_and_test(tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("text,label,split\ngreat,1,train\nawful,0,train\ngreat,1,test\nmeh,0,test\n")
    write_params(tmp_path / "params.yaml", small_params(**{"data.source": "csv", "data.path": str(table)}))
    result = run([sys.executable, "-m", "pipeline.download"], tmp_path, PYTHONPATH=str(ROOT))
    assert "warning: 1 test review(s) also appear word for word in the train split" in result.stderr
    assert (tmp_path / "data/raw/reviews.parquet").is_file()


def test_predict_without_a_trained_model_says_which_stage_to_run(tmp_path, monkeypatch):
    write_params(tmp_path / "params.yaml", small_params())
    result = invoke("predict", ["great film", "--model", "mha"], tmp_path, monkeypatch)
    assert_one_line_error(result, "run the train_mha@42 stage first")


def test_damaged_inputs_are_named_with_how_to_get_them_back(tmp_path, monkeypatch):
    """A truncated or foreign vocab.json, .npz, checkpoint, model.pt or metrics.json: one line naming the file and
    the fix, in train (resuming), evaluate, report and predict."""
    params = small_params(**{"train.epochs": 1})
    prepare_training_data(tmp_path, monkeypatch, params)
    processed = tmp_path / "data/processed"

    def damaged(path, step: list[str], expected: str, data: bytes | None = None) -> None:
        good = path.read_bytes()
        path.write_bytes(good[: len(good) // 2] if data is None else data)
        assert_one_line_error(invoke(step[0], step[1:], tmp_path, monkeypatch), expected)
        path.write_bytes(good)

    restore = "is damaged or not what the {} stage writes ("
    train_self = ["train", "--model", "self", "--seed", "42"]
    damaged(processed / "vocab.json", train_self, "error: data/processed/vocab.json " + restore.format("tokenize"))
    damaged(processed / "train.npz", train_self, "`dvc checkout data/processed/train.npz`, or "
            "write it again with `dvc repro --force tokenize`")

    checkpoint = tmp_path / "models/self/seed-42/checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"not a checkpoint")
    write_params(tmp_path / "params.yaml", params | {"train": params["train"] | {"resume": True}})
    first = invoke("train", train_self[1:], tmp_path, monkeypatch)  # MLflow also says it creates its store
    assert first.exit_code == 1 and "models/self/seed-42/checkpoint.pt is damaged (" in first.stderr.splitlines()[-1]
    assert_one_line_error(invoke("train", train_self[1:], tmp_path, monkeypatch),
                          "): delete it, or set train.resume=false to start over")
    write_params(tmp_path / "params.yaml", params)
    for step in (train_self, ["train", "--model", "mha", "--seed", "42"], ["baseline"],
                 ["faithfulness", "--model", "self", "--seed", "42"],
                 ["faithfulness", "--model", "mha", "--seed", "42"]):
        assert invoke(step[0], step[1:], tmp_path, monkeypatch).exit_code == 0, step

    model = tmp_path / "models/mha/seed-42/model.pt"
    damaged(model, ["evaluate"], "error: models/mha/seed-42/model.pt " + restore.format("train_mha@42"))
    damaged(model, ["predict", "Fine.", "--model", "mha"], "`dvc repro --force train_mha@42`")
    damaged(tmp_path / "models/mha/seed-42/test_scores.npz", ["evaluate"],
            "error: models/mha/seed-42/test_scores.npz " + restore.format("train_mha@42"))
    damaged(processed / "test.npz", ["evaluate"], "data/processed/test.npz " + restore.format("tokenize"),
            data=b"PK\x03\x04 not a zip")
    damaged(tmp_path / "models/self/seed-42/faithfulness.npz", ["evaluate"],
            "error: models/self/seed-42/faithfulness.npz " + restore.format("faithfulness_self@42"))
    assert invoke("evaluate", [], tmp_path, monkeypatch).exit_code == 0
    damaged(tmp_path / "reports/metrics.json", ["report"], "reports/metrics.json " + restore.format("evaluate"))
