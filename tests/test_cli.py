"""The stage scripts as a user runs them: `python -m pipeline.<step>`."""

import sys

import pytest

from tests.conftest import ROOT, run, small_params, write_params

STEPS = ["download", "tokenize", "train", "baseline", "evaluate", "report"]


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_help(step):
    result = run([sys.executable, "-m", f"pipeline.{step}", "--help"], ROOT)
    assert "--params" in result.stdout


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


def test_training_without_tokenized_data_says_which_stage_to_run(tmp_path):
    write_params(tmp_path / "params.yaml", small_params())
    result = run([sys.executable, "-m", "pipeline.train", "--model", "self"], tmp_path, check=False,
                 PYTHONPATH=str(ROOT))
    assert result.returncode == 1
    assert "run the tokenize stage first" in result.stderr and "Traceback" not in result.stderr


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
def test_later_steps_without_their_inputs_say_which_stage_to_run(tmp_path, step, stage):
    write_params(tmp_path / "params.yaml", small_params())
    result = run([sys.executable, "-m", f"pipeline.{step}"], tmp_path, check=False, PYTHONPATH=str(ROOT))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"run the {stage} stage first (dvc repro {stage})" in result.stderr
