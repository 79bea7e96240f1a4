import pandas as pd
import pytest

from pipeline.datasets import (
    limit_per_split,
    load_reviews,
    read_imdb_archive,
    read_table,
    train_test_overlap,
    training_splits,
)
from pipeline.errors import PipelineError
from pipeline.synthetic import synthetic_reviews
from tests.conftest import imdb_layout_archive, typed_small_params


def csv_params(path, **overrides):
    return typed_small_params(**{"data.source": "csv", "data.path": str(path), "data.limit": 0} | overrides).data


def test_imdb_archive_reads_labelled_reviews_with_ratings_and_skips_unsup(tmp_path):
    archive = imdb_layout_archive(tmp_path / "a.tar.gz", {
        "aclImdb/README": "readme",
        "aclImdb/train/pos/0_9.txt": "Great film.<br />Loved it.",
        "aclImdb/train/neg/1_2.txt": "Dull.",
        "aclImdb/test/pos/3_10.txt": "Superb",
        "aclImdb/test/neg/4_1.txt": "Awful",
        "aclImdb/train/unsup/5_0.txt": "no label",
    })
    reviews = read_imdb_archive(archive)
    assert len(reviews) == 4
    row = reviews[reviews["text"].str.startswith("Great")].iloc[0]
    assert (row["label"], row["split"], row["rating"]) == (1, "train", 9)
    assert set(reviews[reviews["label"] == 0]["rating"]) == {1, 2}


def test_real_imdb_reviews_from_shared_data(imdb_sample):
    reviews = read_imdb_archive(imdb_sample)
    assert reviews.groupby(["split", "label"]).size().tolist() == [40, 40, 40, 40]
    assert reviews["rating"].between(1, 10).all()
    assert ((reviews["rating"] >= 7) == (reviews["label"] == 1)).all()


def test_archive_without_the_imdb_layout_is_rejected(tmp_path):
    archive = imdb_layout_archive(tmp_path / "a.tar.gz", {"reviews/1.txt": "hello"})
    with pytest.raises(PipelineError, match="not the IMDB archive layout"):
        read_imdb_archive(archive)
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(PipelineError, match="not a readable .tar.gz"):
        read_imdb_archive(tmp_path / "broken.tar.gz")


def test_csv_labels_are_mapped_and_split_stratified(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({
        "review": [f"review {i}" for i in range(40)],
        "sentiment": ["Positive", "negative", "pos", "neg", "TRUE", "false", "1", "0"] * 5,
    }).to_csv(path, index=False)
    reviews = read_table(csv_params(path, **{"data.text_column": "review", "data.label_column": "sentiment",
                                             "data.test_fraction": 0.25}))
    assert reviews["label"].tolist()[:8] == [1, 0, 1, 0, 1, 0, 1, 0]
    assert (reviews["split"] == "test").sum() == 10
    assert reviews[reviews["split"] == "test"]["label"].sum() == 5


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_tsv_and_parquet_with_a_split_column(tmp_path, suffix):
    table = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1], "split": ["train"] * 2 + ["test"] * 2})
    path = tmp_path / f"reviews{suffix}"
    table.to_parquet(path) if suffix == ".parquet" else table.to_csv(path, sep="\t", index=False)
    reviews = read_table(csv_params(path))
    assert reviews["split"].tolist() == ["train", "train", "test", "test"]


def test_missing_columns_are_named_with_the_columns_present(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"body": ["x"], "stars": [1]}).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"no column 'text', 'label' \(columns: body, stars\)"):
        read_table(csv_params(path))


def test_unknown_labels_are_listed(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "meh", "5"]}).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"labels \['5', 'meh'\]"):
        read_table(csv_params(path))


def test_single_class_and_missing_file_are_rejected(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["a", "b"], "label": [1, 1]}).to_csv(path, index=False)
    with pytest.raises(PipelineError, match="needs both classes"):
        read_table(csv_params(path))
    with pytest.raises(PipelineError, match="data.path .* not found"):
        read_table(csv_params(tmp_path / "absent.csv"))


def test_limit_is_stratified_seeded_and_per_split():
    reviews = synthetic_reviews(seed=1, train_size=200, test_size=100)
    limited = limit_per_split(reviews, 50, seed=3)
    assert limited.groupby("split").size().to_dict() == {"test": 50, "train": 50}
    for split, part in limited.groupby("split"):
        source_share = reviews[reviews["split"] == split]["label"].mean()
        assert abs(part["label"].sum() - 50 * source_share) <= 1
    assert limited.equals(limit_per_split(reviews, 50, seed=3))
    assert len(limit_per_split(reviews, 0, seed=3)) == 300


def test_synthetic_corpus_is_deterministic_balanced_and_needs_context():
    first = synthetic_reviews(seed=5, train_size=400, test_size=200)
    assert first.equals(synthetic_reviews(seed=5, train_size=400, test_size=200))
    assert not first.equals(synthetic_reviews(seed=6, train_size=400, test_size=200))
    assert first.groupby("split").size().to_dict() == {"test": 200, "train": 400}
    assert abs(first["label"].mean() - 0.5) < 0.05
    assert first["text"].str.contains(r"\bnot\b|\bnever\b|\bhardly\b").mean() > 0.3
    assert first["text"].str.split().str.len().std() > 10


def test_load_reviews_dispatches_on_source_with_the_same_columns(tmp_path):
    params = typed_small_params(**{"data.limit": 20}).data
    reviews = load_reviews(params, tmp_path)
    assert list(reviews.columns) == ["text", "label", "split", "rating"]
    assert reviews.groupby("split").size().to_dict() == {"test": 20, "train": 20}


def test_validation_split_is_carved_from_train_only():
    reviews = synthetic_reviews(seed=1, train_size=200, test_size=100)
    splits = training_splits(reviews, 0.1, seed=0)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [180, 20, 100]
    assert set(splits["val"].index).isdisjoint(splits["train"].index)
    assert (splits["test"]["split"] == "test").all()


def test_a_truncated_archive_is_reported_not_half_read(tmp_path):
    files = {f"aclImdb/{split}/{label}/{i}_7.txt": "word " * 2000 + str(i)
             for split in ("train", "test") for label in ("pos", "neg") for i in range(20)}
    archive = imdb_layout_archive(tmp_path / "a.tar.gz", files)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match="not a readable .tar.gz archive .*download again"):
        read_imdb_archive(archive)


def test_an_empty_file_and_a_non_utf8_file_say_what_is_wrong(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(PipelineError, match="empty.csv is empty"):
        read_table(csv_params(empty))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\u00e9 cr\u00e8me,1\nbad,0\n".encode("latin-1"))
    with pytest.raises(PipelineError, match=r"latin.csv is not utf-8 text \(byte 0xe9 on line 2\): set data.encoding"):
        read_table(csv_params(latin))


def test_a_spreadsheet_csv_in_cp1252_is_read_with_data_encoding(tmp_path):
    path = tmp_path / "excel.csv"
    rows = "text;label;split\n\u201cCaf\u00e9\u201d was superb;1;train\nna\u00efve and dull;0;test\n"
    path.write_bytes(rows.encode("cp1252"))
    reviews = read_table(csv_params(path, **{"data.encoding": "cp1252"}))
    assert reviews["text"].tolist() == ["\u201cCaf\u00e9\u201d was superb", "na\u00efve and dull"]


def test_a_headerless_tab_separated_txt_names_columns_by_position(tmp_path):
    path = tmp_path / "sentences.txt"
    lines = [f"a film, {'not ' * (i % 2)}good, as said{chr(9)}{1 - i % 2}" for i in range(20)]
    path.write_text("\n".join(lines) + "\n")
    params = csv_params(path, **{"data.header": False, "data.text_column": 0, "data.label_column": 1})
    reviews = read_table(params)
    assert len(reviews) == 20 and reviews["text"].iloc[0] == "a film, good, as said"
    assert reviews.sort_index()["label"].tolist() == [1, 0] * 10
    with pytest.raises(PipelineError, match=r"has no column 'text', 'label' .*data.header=false if the first line"):
        read_table(csv_params(path))
    with pytest.raises(PipelineError, match=r"2 column\(s\), positions 0-1, so there is no column 2: set data.label"):
        read_table(csv_params(path, **{"data.header": False, "data.text_column": "0", "data.label_column": 2}))


def test_a_semicolon_csv_and_a_quoted_csv_with_newlines_and_commas_in_texts(tmp_path):
    semicolon = tmp_path / "semicolon.csv"
    semicolon.write_text("text;label\nGood, really good;pos\nBad, really bad;neg\nFine, fine;pos\nMeh;neg\n")
    assert read_table(csv_params(semicolon))["label"].sort_index().tolist() == [1, 0, 1, 0]
    quoted = tmp_path / "quoted.csv"
    texts = ["First line,\nsecond line, with \"quotes\"", "One, two, three", "Plain", "Tab\there, too"]
    pd.DataFrame({"label": [1, 0, 1, 0], "text": texts}).to_csv(quoted, index=False)
    assert read_table(csv_params(quoted))["text"].sort_index().tolist() == texts


def test_a_table_that_does_not_parse_says_what_was_expected(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\n" + "".join(f"review {i},1\n" for i in range(5)) + "a, b, c,0\nfine,1\n")
    with pytest.raises(PipelineError) as error:
        read_table(csv_params(path))
    message = str(error.value)
    assert message.startswith(f"cannot read {path} as a comma-separated table with a header row: line 7 has 4 "
                              f"comma-separated fields where the lines before it have 2; put texts")
    assert "data.header" in message and "data.encoding" in message and "\n" not in message
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("a; b\nd, e, f\ng|h|i|j\nk\tl\tm\tn\tn\n")
    with pytest.raises(PipelineError, match="cannot tell how the columns of .* are separated"):
        read_table(csv_params(mixed))


def test_empty_texts_are_named_by_row(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["fine", "", "  ", "good", None], "label": [1, 0, 1, 0, 1]}).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"3 review\(s\) with an empty text in column 'text' \(data rows 2, 3, 5\); drop"):
        read_table(csv_params(path))


def test_reviews_in_both_train_and_test_are_counted():
    reviews = pd.DataFrame({"text": ["a", "b", "c", "a", "b", "d"], "label": [1, 0, 1, 1, 0, 0],
                            "split": ["train"] * 3 + ["test"] * 3})
    assert train_test_overlap(reviews) == 2
    assert train_test_overlap(reviews[reviews["text"] != "a"]) == 1


def test_splits_too_small_for_both_labels_say_which_param_to_change(tmp_path):
    reviews = pd.DataFrame({"text": list("abcdefgh"), "label": [0, 1] * 4, "split": ["train"] * 4 + ["test"] * 4})
    with pytest.raises(PipelineError, match=r"data.val_fraction=0.1 from 4 train reviews .*data.limit"):
        training_splits(reviews, 0.1, seed=0)
    with pytest.raises(PipelineError, match="data.limit=1 is too small to keep both labels"):
        limit_per_split(reviews, 1, seed=0)
    path = tmp_path / "reviews.csv"
    reviews.drop(columns="split").head(3).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"cannot split the 3 reviews of .*data.test_fraction=0.5"):
        read_table(csv_params(path))
