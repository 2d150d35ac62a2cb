"""The JAX-vs-PyTorch forward gap on CPU: model formulations, XLA flags and threads.

Part 1 (one JAX process, ``--lengths``): the jitted loss of ``sls_glue.model`` ("model") against
local functional variants of the same network on the same parameters (``variant_loss`` below; the
model itself is not modified): ``functional`` (attention einsums in (batch, seq, heads, dim)
layout: the model's formulation until commit 0102882), ``attn_bnsd`` (heads moved in front of the
sequence axis before the attention matmuls: the model's formulation since then), ``fused_qkv``
(one 384x1152 matmul instead of three), ``dpa`` (``jax.nn.dot_product_attention``, XLA
implementation), ``ln_one_pass`` (LayerNorm variance as E[x^2] - E[x]^2), ``gelu_tanh`` (tanh
GELU; changes the numbers slightly), ``bf16`` (bfloat16 matmuls, float32 LayerNorm/softmax) and
``best`` (fused QKV + bnsd, float32). Each one's loss is compared with the model's. With
``--torch-python`` the PyTorch forward (transformers ``BertModel``, same weights and batches) is
timed in the same rounds, so every variant gets a JAX/PyTorch ratio measured side by side.
``--grad-variants`` also times ``value_and_grad`` of the listed variants; ``--variant-processes N``
repeats part 1 (without PyTorch) in N fresh processes and reports the median ratios.

Part 2 (``--flags``): one fresh JAX process per ``XLA_FLAGS`` setting (and one with 1 thread on
both sides), each timing the model's forward and value_and_grad; the torch forward is timed
before and after each child as a fixed yardstick, so the settings compare through their ratio to
PyTorch even when the machine load drifts.

Usage::

    .venv/bin/python benchmarks/forward_gap.py --torch-python .venv-torch/bin/python --flags
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VARIANTS = {
    "functional": {},
    "fused_qkv": {"fused_qkv": True},
    "attn_bnsd": {"attn": "bnsd"},
    "dpa": {"attn": "dpa"},
    "ln_one_pass": {"ln_one_pass": True},
    "gelu_tanh": {"gelu_tanh": True},
    "bf16": {"bf16": True},
    "best": {"fused_qkv": True, "attn": "bnsd"},
}

#: XLA_FLAGS settings of part 2 (name -> flags); "threads1" runs both sides on one CPU.
FLAG_SETS = {
    "default": "",
    "no_multi_thread_eigen": "--xla_cpu_multi_thread_eigen=false",
    "thunk_runtime_false": "--xla_cpu_use_thunk_runtime=false",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "xnn_graph_greedy": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "vector_width_512": "--xla_cpu_prefer_vector_width=512",
    "concurrency_scheduler": "--xla_cpu_enable_concurrency_optimized_scheduler=true",
    "threads1": "",
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(common.RESULTS / "forward_gap_cpu.json"))
    p.add_argument("--torch-python", default=os.environ.get("SLS_TORCH_PYTHON"))
    p.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--block", type=int, default=2)
    p.add_argument(
        "--grad-variants",
        nargs="*",
        default=[],
        help="also time value_and_grad of these (e.g. model attn_bnsd dpa best)",
    )
    p.add_argument("--flags", action="store_true", help="run part 2 (XLA flags, threads)")
    p.add_argument("--flag-sets", nargs="+", default=list(FLAG_SETS))
    p.add_argument("--flags-length", type=int, default=64)
    p.add_argument(
        "--flag-processes",
        type=int,
        default=1,
        help="fresh processes per XLA_FLAGS setting (the same program's speed varies by up to "
        "~15%% between processes; settings are interleaved and the medians reported)",
    )
    p.add_argument(
        "--variant-processes",
        type=int,
        default=1,
        help="run part 1 (without PyTorch) in this many fresh processes and report the median "
        "of each variant's ratio to the model over them",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data", choices=["auto", "sst2", "synthetic"], default="auto")
    p.add_argument("--skip-variants", action="store_true")
    p.add_argument("--no-torch", action="store_true", help="no PyTorch reference")
    p.add_argument("--pause-pid", type=int, nargs="*", default=[])
    p.add_argument("--max-pause", type=float, default=480.0)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------------------- the variants


def to_plain(params) -> dict:
    return params.to_pure_dict()


def prepare(plain: dict, fused_qkv: bool = False, bf16: bool = False, **_: Any) -> dict:
    """Parameters for :func:`variant_loss` (fused QKV kernels / bf16 matrices made once)."""
    import jax
    import jax.numpy as jnp

    p = jax.tree.map(lambda x: x, plain)
    if fused_qkv:
        for layer in p["encoder"]["layers"].values():
            a = layer["attention"]
            a["qkv"] = {
                "kernel": jnp.concatenate([a[n]["kernel"] for n in ("query", "key", "value")], 1),
                "bias": jnp.concatenate([a[n]["bias"] for n in ("query", "key", "value")], 0),
            }
            for n in ("query", "key", "value"):
                del a[n]
    if bf16:
        p = jax.tree.map(lambda x: x.astype(jnp.bfloat16) if x.ndim == 2 else x, p)
    return p


def variant_loss(
    p,
    batch,
    *,
    num_heads: int,
    eps: float,
    fused_qkv=False,
    attn="bqnd",
    ln_one_pass=False,
    gelu_tanh=False,
    bf16=False,
):
    """The classifier's weighted cross-entropy, written out functionally (float32 unless bf16)."""
    import jax
    import jax.numpy as jnp
    import optax

    cdt = jnp.bfloat16 if bf16 else jnp.float32

    def dense(x, d):
        return (x @ d["kernel"].astype(cdt) + d["bias"].astype(cdt)).astype(cdt)

    def layer_norm(x, d):
        x32 = x.astype(jnp.float32)
        mean = jnp.mean(x32, -1, keepdims=True)
        if ln_one_pass:
            var = jnp.maximum(jnp.mean(x32 * x32, -1, keepdims=True) - mean * mean, 0.0)
        else:
            var = jnp.mean(jnp.square(x32 - mean), -1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + eps) * d["scale"] + d["bias"]
        return y.astype(cdt)

    ids, mask, tt = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    b, s = ids.shape
    e = p["embeddings"]
    x = (
        jnp.take(e["word_embeddings"]["embedding"], ids, axis=0)
        + e["position_embeddings"]["embedding"][:s][None]
        + jnp.take(e["token_type_embeddings"]["embedding"], tt, axis=0)
    )
    x = layer_norm(x, e["layer_norm"])
    bias = jnp.where(mask.astype(bool), 0.0, -1e9).astype(jnp.float32)[:, None, None, :]
    for i in sorted(p["encoder"]["layers"]):
        layer = p["encoder"]["layers"][i]
        a = layer["attention"]
        h = x.shape[-1]
        d = h // num_heads
        if fused_qkv:
            q, k, v = jnp.split(dense(x, a["qkv"]), 3, axis=-1)
        else:
            q, k, v = dense(x, a["query"]), dense(x, a["key"]), dense(x, a["value"])
        q, k, v = (t.reshape(b, s, num_heads, d) for t in (q, k, v))
        if attn == "dpa":
            ctx = jax.nn.dot_product_attention(
                q, k, v, bias=bias.astype(q.dtype), implementation="xla"
            ).reshape(b, s, h)
        else:
            q = q * jnp.asarray(1.0 / math.sqrt(d), q.dtype)
            if attn == "bnsd":
                q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
                scores = jnp.matmul(q, k.transpose(0, 1, 3, 2), preferred_element_type=jnp.float32)
                probs = jax.nn.softmax(scores + bias, axis=-1).astype(v.dtype)
                ctx = jnp.matmul(probs, v).transpose(0, 2, 1, 3).reshape(b, s, h)
            else:
                scores = jnp.einsum("bqnd,bknd->bnqk", q, k, preferred_element_type=jnp.float32)
                probs = jax.nn.softmax(scores + bias, axis=-1).astype(v.dtype)
                ctx = jnp.einsum("bnqk,bknd->bqnd", probs, v).reshape(b, s, h)
        x = layer_norm(x + dense(ctx, a["output"]), a["layer_norm"])
        y = jax.nn.gelu(dense(x, layer["intermediate"]), approximate=gelu_tanh)
        x = layer_norm(x + dense(y, layer["output"]), layer["output_layer_norm"])
    logits = dense(x[:, 0], p["classifier"]).astype(jnp.float32)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
    w = batch["weights"].astype(jnp.float32)
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)


# --------------------------------------------------------------------------- timing helpers


def _time_jax(fn, *a) -> float:
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*a))
    return time.perf_counter() - t0


def part1(args, setup, torch_side, pauser) -> list[dict[str, Any]]:
    import functools

    import jax
    from vs_pytorch import export_batches

    config, params, loss_fn = setup["config"], setup["params"], setup["loss_fn"]
    key = jax.random.key(0)
    plain = to_plain(params)
    raw = {"model": lambda p, b: loss_fn(p, batch=b, dropout_key=key)}
    fns = {"model": (jax.jit(raw["model"]), params)}
    for name in args.variants:
        opts = VARIANTS[name]
        fn = functools.partial(
            variant_loss, num_heads=config.num_attention_heads, eps=config.layer_norm_eps, **opts
        )
        raw[name] = fn
        fns[name] = (jax.jit(fn), prepare(plain, **opts))
    out = []
    for length in args.lengths:
        batches_np, source = common.make_batches(
            setup["folder"], length, args.batch_size, 4, source=args.data
        )
        batches = [common.device_batch(b) for b in batches_np]
        group = f"F{length}"
        if torch_side:
            path = setup["tmp"] / f"{group}.npz"
            export_batches(path, {group: batches_np}, setup["head"])
            torch_side("load", path=str(path))
        run: dict[str, Any] = {"length": length, "batch_size": args.batch_size, "data": source}
        pauser.pause()
        ref = float(fns["model"][0](params, batches[0]))
        checks, compile_s = {}, {}
        for name, (fn, p) in fns.items():
            compile_s[name] = round(_time_jax(fn, p, batches[0]), 2)
            checks[name] = abs(float(fn(p, batches[0])) - ref)
        run["first_call_s"] = compile_s
        run["abs_loss_diff_vs_model"] = checks
        if torch_side:
            run["torch_loss"] = torch_side("forward", group=group, indices=[0])["losses"][0]
            run["jax_loss"] = ref
        grads = {
            f"{n}+grad": (jax.jit(jax.value_and_grad(raw[n])), fns[n][1])
            for n in args.grad_variants
            if n in fns
        }
        for n, (fn, p) in grads.items():
            compile_s[n] = round(_time_jax(fn, p, batches[0]), 2)
        names = list(fns) + list(grads) + (["torch"] if torch_side else [])
        times: dict[str, list[list[float]]] = {n: [] for n in names}
        load = common.ForeignLoad([torch_side.proc.pid] if torch_side else [])
        for r in range(args.repeats):
            idx = [(r * args.block + k) % len(batches) for k in range(args.block)]
            rotated = names[r % len(names) :] + names[: r % len(names)]
            for n in rotated:
                if n == "torch":
                    times[n].append(torch_side("forward", group=group, indices=idx)["times"])
                elif n.endswith("+grad"):
                    fn, p = grads[n]
                    times[n].append([_time_jax(fn, p, batches[i]) for i in idx])
                else:
                    fn, p = fns[n]
                    times[n].append([_time_jax(fn, p, batches[i]) for i in idx])
            pauser.checkpoint()
            common.log(f"forward L={length} round {r + 1}/{args.repeats}")
        run["foreign_load"] = load.stop()
        pauser.resume()
        medians = {n: [common.median(b) for b in times[n]] for n in names}
        res = {}
        for n in names:
            flat = [x for b in times[n] for x in b]
            e = {"ms": round(common.median(flat) * 1e3, 1), "times_s": [round(x, 4) for x in flat]}
            base = "model+grad" if n.endswith("+grad") else "model"
            e["ratio_to_model"] = round(
                common.median([a / b for a, b in zip(medians[n], medians[base])]), 4
            )
            if torch_side:
                e["ratio_to_torch"] = round(
                    common.median([a / b for a, b in zip(medians[n], medians["torch"])]), 4
                )
            res[n] = e
        run["entries"] = res
        out.append(run)
        common.log(
            f"forward L={length}", {n: (e["ms"], e.get("ratio_to_torch")) for n, e in res.items()}
        )
    return out


def part1_processes(args, tmp, pauser) -> dict[str, Any]:
    """Part 1 in ``--variant-processes`` fresh processes (no PyTorch); per length and variant,
    the median over processes of the in-process ratio to the model, and each process's."""
    per_process = []
    for k in range(args.variant_processes):
        out = tmp / f"variants_{k}.json"
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--no-torch",
            "--out",
            str(out),
            "--repeats",
            str(args.repeats),
            "--block",
            str(args.block),
            "--batch-size",
            str(args.batch_size),
            "--data",
            args.data,
            "--lengths",
            *map(str, args.lengths),
            "--variants",
            *args.variants,
            "--grad-variants",
            *args.grad_variants,
        ]
        if args.layers:
            cmd += ["--layers", str(args.layers)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        pauser.pause()
        subprocess.run(cmd, check=True, capture_output=True)
        pauser.checkpoint()
        per_process.append(json.loads(out.read_text())["variants"])
        common.log(f"variants process {k + 1}/{args.variant_processes} done")
    pauser.resume()
    result: dict[str, Any] = {"processes": args.variant_processes, "lengths": []}
    for i, length in enumerate(args.lengths):
        entries = {}
        for name in per_process[0][i]["entries"]:
            ratios = [p[i]["entries"][name]["ratio_to_model"] for p in per_process]
            ms = [p[i]["entries"][name]["ms"] for p in per_process]
            entries[name] = {
                "ratio_to_model_median": round(common.median(ratios), 4),
                "ratio_to_model_per_process": ratios,
                "ms_per_process": ms,
            }
        result["lengths"].append(
            {
                "length": length,
                "foreign_load": [p[i]["foreign_load"] for p in per_process],
                "abs_loss_diff_vs_model": per_process[0][i]["abs_loss_diff_vs_model"],
                "entries": entries,
            }
        )
    return result


# --------------------------------------------------------------------------- part 2


def child(args) -> int:
    """Times the model's forward and value_and_grad under the current XLA_FLAGS."""
    common.set_threads(args.threads)
    import jax

    from sls_glue.train import make_loss_fn

    graphdef, params, rest, folder, _ = common.load_model(args.layers)
    loss_fn = make_loss_fn(graphdef, rest, False)
    key = jax.random.key(0)
    fwd = jax.jit(lambda p, b: loss_fn(p, batch=b, dropout_key=key))
    vg = jax.jit(lambda p, b: jax.value_and_grad(loss_fn)(p, batch=b, dropout_key=key))
    batches_np, _ = common.make_batches(
        folder, args.flags_length, args.batch_size, 4, source=args.data
    )
    batches = [common.device_batch(b) for b in batches_np]
    out = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "loss": float(fwd(params, batches[0]))}
    out["first_call_s"] = {
        "forward": round(_time_jax(fwd, params, batches[1]), 2),
        "value_and_grad": round(_time_jax(vg, params, batches[1]), 2),
    }
    f_t, g_t = [], []
    for r in range(args.repeats):
        for k in range(args.block):
            b = batches[(r * args.block + k) % len(batches)]
            f_t.append(_time_jax(fwd, params, b))
        for k in range(args.block):
            b = batches[(r * args.block + k) % len(batches)]
            g_t.append(_time_jax(vg, params, b))
    out["forward_ms"] = round(common.median(f_t) * 1e3, 1)
    out["value_and_grad_ms"] = round(common.median(g_t) * 1e3, 1)
    out["forward_times_s"] = [round(x, 4) for x in f_t]
    out["value_and_grad_times_s"] = [round(x, 4) for x in g_t]
    print("CHILD_JSON " + json.dumps(out), flush=True)
    return 0


def part2(args, setup, torch_side, pauser) -> dict[str, Any]:
    from vs_pytorch import export_batches

    length = args.flags_length
    group = f"X{length}"
    if torch_side:
        batches_np, _ = common.make_batches(
            setup["folder"], length, args.batch_size, 4, source=args.data
        )
        path = setup["tmp"] / f"{group}.npz"
        export_batches(path, {group: batches_np}, setup["head"])
        torch_side("load", path=str(path))
    results: dict[str, Any] = {"length": length, "processes_per_setting": args.flag_processes}

    def one(name: str) -> dict[str, Any]:
        flags = FLAG_SETS[name]
        threads = 1 if name == "threads1" else args.threads
        env = dict(os.environ)
        if flags:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            "--flags-length",
            str(length),
            "--batch-size",
            str(args.batch_size),
            "--repeats",
            str(args.repeats),
            "--block",
            str(args.block),
            "--data",
            args.data,
        ]
        if args.layers:
            cmd += ["--layers", str(args.layers)]
        if threads:
            cmd += ["--threads", str(threads)]
        pauser.pause()
        torch_before = torch_after = None
        if torch_side:
            torch_side("init", checkpoint=str(setup["folder"]), layers=args.layers, threads=threads)
            idx = [i % 4 for i in range(args.repeats * args.block)]
            torch_before = torch_side("forward", group=group, indices=idx)["times"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if torch_side:
            torch_after = torch_side("forward", group=group, indices=idx)["times"]
        pauser.checkpoint()
        line = [x for x in proc.stdout.splitlines() if x.startswith("CHILD_JSON ")]
        if proc.returncode or not line:
            r = {"flags": flags, "error": proc.stderr[-3000:]}
        else:
            r = json.loads(line[-1][len("CHILD_JSON ") :])
            r["flags"], r["threads"] = flags, threads
            warnings = [
                x
                for x in proc.stderr.splitlines()
                if "no longer supported" in x or "Unknown flag" in x
            ]
            if warnings:
                r["warnings"] = warnings[:3]
            if torch_side:
                t_ms = common.median(torch_before + torch_after) * 1e3
                r["torch_forward_ms"] = round(t_ms, 1)
                r["forward_jax_over_torch"] = round(r["forward_ms"] / t_ms, 4)
        common.log(
            "flags",
            name,
            {
                k: r.get(k)
                for k in (
                    "forward_ms",
                    "value_and_grad_ms",
                    "torch_forward_ms",
                    "forward_jax_over_torch",
                    "error",
                )
            },
        )
        return r

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.flag_sets}
    for _ in range(args.flag_processes):  # settings interleaved: A B C .. A B C ..
        for name in args.flag_sets:
            runs[name].append(one(name))
    keys = ("forward_ms", "value_and_grad_ms", "torch_forward_ms", "forward_jax_over_torch")
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            results[name] = rs[0]
            continue
        agg: dict[str, Any] = {
            k: round(common.median([r[k] for r in ok]), 4) for k in keys if k in ok[0]
        }
        agg.update(flags=ok[0]["flags"], threads=ok[0]["threads"], processes=len(ok))
        agg["per_process"] = [{k: r.get(k) for k in keys} for r in ok]
        if "warnings" in ok[0]:
            agg["warnings"] = ok[0]["warnings"]
        results[name] = agg
    pauser.resume()
    if torch_side:  # back to the default thread count
        torch_side(
            "init", checkpoint=str(setup["folder"]), layers=args.layers, threads=args.threads
        )
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    threads = common.set_threads(args.threads)
    args.threads = args.threads or threads
    pauser = common.Pauser(args.pause_pid, max_pause_s=args.max_pause)
    import pathlib

    import jax
    import numpy as np
    from vs_pytorch import TorchSide

    from sls_glue.train import make_loss_fn

    graphdef, params, rest, folder, config = common.load_model(args.layers)
    loss_fn = make_loss_fn(graphdef, rest, False)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="forward_gap_"))
    head = (
        np.asarray(params["classifier"]["kernel"][...]),
        np.asarray(params["classifier"]["bias"][...]),
    )
    setup = {
        "config": config,
        "params": params,
        "loss_fn": loss_fn,
        "folder": folder,
        "tmp": tmp,
        "head": head,
    }
    result: dict[str, Any] = {
        "benchmark": "forward_gap",
        "args": vars(args),
        "machine_start": common.machine_info(),
    }
    torch_side = None
    ok = False
    try:
        if args.torch_python and not args.no_torch:
            torch_side = TorchSide(args.torch_python, tmp / "torch_worker.log")
            torch_side("init", checkpoint=str(folder), layers=args.layers, threads=threads)
            torch_side("load", path=str(_head_only(tmp, head)))
            result["torch_info"] = torch_side("info")
        if not args.skip_variants and args.variant_processes > 1:
            result["variants_processes"] = part1_processes(args, tmp, pauser)
            common.write_json(args.out, result)
        elif not args.skip_variants:
            result["variants"] = part1(args, setup, torch_side, pauser)
            common.write_json(args.out, result)
        if args.flags:
            result["flags"] = part2(args, setup, torch_side, pauser)
        ok = True
    finally:
        common.end_torch_run(pauser, torch_side, tmp, ok)
    result["pauses_s"] = pauser.periods
    result["machine_end"] = {"loadavg_1_5_15": common.loadavg()}
    result["jax_backend"] = jax.default_backend()
    common.write_json(args.out, result)
    common.log("wrote", args.out)
    return 0


def _head_only(tmp, head):
    import numpy as np

    path = tmp / "head.npz"
    np.savez(path, head_kernel=head[0], head_bias=head[1])
    return path


if __name__ == "__main__":
    sys.exit(main())
