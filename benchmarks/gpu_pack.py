"""Packs what the GPU suite needs into one folder small enough to copy to an offline machine.

A GPU machine without network needs the checkpoint and the GLUE data next to the project. The
MiniLM-L6 safetensors file is 90.9 MB in float32; this script writes a copy whose tensors are
stored in float16 (45.4 MB; `load_pretrained` casts them back to float32), the tokenizer and
config files unchanged, and the GLUE files of the tasks asked for. It then measures what the
float16 storage changes, on this machine: the classifier's logits and loss (same head seed) on
SST-2 dev batches with the original and the packed weights, written to `PACKED.json`.

Usage:
    .venv/bin/python benchmarks/gpu_pack.py [--out .gpu] [--tasks SST-2 MRPC QNLI MNLI]
On the GPU machine:
    SLS_GLUE_CHECKPOINT=.gpu/checkpoint GLUE_DIR=.gpu/glue bash benchmarks/gpu_suite.sh
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHECKPOINT_FILES = (
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
# Files read by the small protocol: the training file and the dev split of each task.
TASK_FILES = {
    "SST-2": ("train.tsv", "dev.tsv"),
    "MRPC": ("train.tsv", "dev.tsv"),
    "QNLI": ("train.tsv", "dev.tsv"),
    "MNLI": ("train.tsv", "dev_matched.tsv"),
    "RTE": ("train.tsv", "dev.tsv"),
    "CoLA": ("train.tsv", "dev.tsv"),
    "STS-B": ("train.tsv", "dev.tsv"),
    "WNLI": ("train.tsv", "dev.tsv"),
    "QQP": ("train.tsv", "dev.tsv"),
}


def pack_checkpoint(source: pathlib.Path, dest: pathlib.Path, dtype: str) -> dict:
    from safetensors.numpy import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    tensors = load_file(str(source / "model.safetensors"))
    packed = {}
    for key, value in tensors.items():
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(dtype)
            if not np.isfinite(value).all():
                raise ValueError(f"{key} overflows {dtype}")
        packed[key] = value
    save_file(packed, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return {
        "source": str(source),
        "dtype": dtype,
        "bytes_source": (source / "model.safetensors").stat().st_size,
        "bytes_packed": (dest / "model.safetensors").stat().st_size,
        "max_abs_weight_change": float(
            max(
                np.max(np.abs(tensors[k].astype(np.float64) - packed[k].astype(np.float64)))
                for k in tensors
            )
        ),
    }


def pack_glue(source: pathlib.Path, dest: pathlib.Path, tasks: list[str]) -> dict:
    dest.mkdir(parents=True, exist_ok=True)
    if (source / "PROVENANCE.md").is_file():
        shutil.copy2(source / "PROVENANCE.md", dest / "PROVENANCE.md")
    sizes = {}
    for task in tasks:
        if task not in TASK_FILES:
            raise ValueError(f"unknown GLUE task folder {task!r}; known: {sorted(TASK_FILES)}")
        (dest / task).mkdir(exist_ok=True)
        for name in TASK_FILES[task]:
            shutil.copy2(source / task / name, dest / task / name)
            sizes[f"{task}/{name}"] = (dest / task / name).stat().st_size
    return sizes


def measure(source: pathlib.Path, packed: pathlib.Path, batches: int) -> dict:
    """Logits and loss of the classifier (head seed 0) with both weight files, SST-2 dev."""
    import jax
    from flax import nnx

    from sls_glue import input_pipeline as glue_data
    from sls_glue.checkpoint import load_pretrained
    from sls_glue.tasks import read_split
    from sls_glue.train import make_loss_fn

    dev = glue_data.encode(read_split("sst2", "dev"), glue_data.load_tokenizer(source), 256)
    dev_batches = list(
        glue_data.iterate_batches(dev, 32, buckets=(32, 64, 128, 256), shuffle=False)
    )[:batches]
    outputs = {}
    for tag, folder in (("float32", source), ("packed", packed)):
        model, _, _ = load_pretrained(str(folder), 2, seed=0)
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        loss_fn = jax.jit(make_loss_fn(graphdef, rest, regression=False))
        logits_fn = jax.jit(
            lambda p, b, g=graphdef, r=rest: nnx.merge(g, p, r)(
                b["input_ids"], b["attention_mask"], b["token_type_ids"]
            )
        )
        key = jax.random.key(0)
        outputs[tag] = (
            [np.asarray(logits_fn(params, b)) for b in dev_batches],
            [float(loss_fn(params, batch=b, dropout_key=key)) for b in dev_batches],
        )
    diffs = [
        float(np.max(np.abs(a - b)))
        for a, b in zip(outputs["float32"][0], outputs["packed"][0], strict=True)
    ]
    loss_diffs = [
        abs(a - b) for a, b in zip(outputs["float32"][1], outputs["packed"][1], strict=True)
    ]
    return {
        "dev_batches": len(dev_batches),
        "max_abs_logit_diff": max(diffs),
        "max_abs_loss_diff": max(loss_diffs),
        "loss_float32": outputs["float32"][1],
        "loss_packed": outputs["packed"][1],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO / ".gpu"))
    p.add_argument("--tasks", nargs="+", default=["SST-2", "MRPC", "QNLI", "MNLI"])
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--measure-batches", type=int, default=8, help="0: skip the measurement")
    args = p.parse_args(argv)

    from sls_glue.checkpoint import resolve_checkpoint
    from sls_glue.tasks import default_data_dir

    out = pathlib.Path(args.out)
    source = resolve_checkpoint(None)
    report = {
        "checkpoint": pack_checkpoint(source, out / "checkpoint", args.dtype),
        "glue": pack_glue(default_data_dir(), out / "glue", args.tasks),
    }
    if args.measure_batches:
        report["effect"] = measure(source, out / "checkpoint", args.measure_batches)
    (out / "PACKED.json").write_text(json.dumps(report, indent=1) + "\n")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(json.dumps({k: v for k, v in report.items() if k != "glue"}, indent=1))
    print(f"{out}: {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
