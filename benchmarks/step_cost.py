"""Per-step cost of the sls_jax line searches against Adam on the MiniLM-L6 classifier.

One process, batch 32, each sequence length (default 64 and 128):

* ``forward`` (the jitted loss, one value_fn evaluation) and ``value_and_grad``, so that the
  "1 + forward / step" limit of a line search that accepts at once is measured, not assumed;
* ``adam`` (the harness's Adam), ``sgd_sls``, ``adam_sls``, ``pla_sls``, ``salsa`` and
  ``optax_bt`` (``optax.adam`` then ``optax.scale_by_backtracking_linesearch``, settings of
  ``adam_sls``), each with the GLUE harness's jitted train step (``sls_glue.train``).

For each: trace / lower / XLA-compile seconds of the first call (jax's own compile events), the
warm-up steps (the first ones make many trials), then ``--repeats`` rounds in which every entry
runs ``--block`` steps in turn (order rotated each round, A B C .. B C .. A). Reported: median
ms per step, value_fn evaluations per timed step, the ratio to Adam (median over rounds of the
round's median / Adam's median in the same round; with ``--block`` > 1 also of the block
means, the cost per step of search skipping, whose steps differ), traces and XLA compilations
after warm-up
(0 expected), the optimizer state in bytes (exact, from the pytrees) and the RSS of a fresh
process per optimizer (``--memory``). Then the mean evaluations per step over the 80-step SST-2
small protocol (read from ``results/glue_small`` when the background protocol wrote them,
otherwise run without dev evaluation) and the first steps' trial counts of
``adam_sls(first_backtrack_factor=0.5)``.

Usage::

    .venv/bin/python benchmarks/step_cost.py                    # full CPU run (~30 min here)
    .venv/bin/python benchmarks/step_cost.py --quick --out /tmp/x.json   # smoke run (CI)
    .venv/bin/python benchmarks/step_cost.py --pause-pid PID    # SIGSTOP PID while timing

Writes JSON to ``--out`` (default ``benchmarks/results/step_cost_cpu.json``).
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

#: SaLSA (salsa-optimizer 0.1.0) searches at steps 0..8 whatever its speed-up says.
SALSA_FORCED_SEARCH_STEPS = 9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(common.RESULTS / "step_cost_cpu.json"))
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (CI): the tiny random BERT (BertConfig.tiny()), batch 16, length 32, "
        "2 rounds of 1 step, no memory subprocesses, protocol counts only read from "
        "--results-dir; figures are not meaningful",
    )
    p.add_argument("--lengths", type=int, nargs="+", default=None, help="default 64 128")
    p.add_argument("--batch-size", type=int, default=None, help="default 32; quick 16")
    p.add_argument("--layers", type=int, default=None, help="keep the first N encoder layers")
    p.add_argument("--optimizers", nargs="+", default=list(common.OPTIMIZER_NAMES))
    p.add_argument("--repeats", type=int, default=None, help="rounds (default 8; quick 3)")
    p.add_argument("--block", type=int, default=None, help="steps per entry per round (default 1)")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="minimum warm-up steps at the first length (3; quick 1); line searches "
        "continue until two consecutive steps make one trial, at most --warmup-max",
    )
    p.add_argument("--warmup-max", type=int, default=None, help="default 8; quick 3")
    p.add_argument(
        "--compile-workers",
        type=int,
        default=None,
        help="threads for the first (compiling) calls; >1 overlaps them and reports "
        "only their wall times (default 1; quick 2)",
    )
    p.add_argument("--num-batches", type=int, default=8, help="distinct batches cycled through")
    p.add_argument("--data", choices=["auto", "sst2", "synthetic"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPUs to use (default: all)")
    p.add_argument(
        "--memory",
        dest="memory",
        action="store_true",
        default=None,
        help="RSS of one fresh process per optimizer (default on; off with --quick)",
    )
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument(
        "--memory-only",
        action="store_true",
        help="no timing: warm the states at the first length, then --memory",
    )
    p.add_argument("--memory-length", type=int, default=None, help="default: the largest length")
    p.add_argument(
        "--results-dir",
        default=str(common.REPO / "results" / "glue_small"),
        help="GLUE small protocol output whose SST-2 steps.jsonl give trial counts",
    )
    p.add_argument(
        "--protocol-from",
        default=None,
        help="an earlier step_cost JSON whose protocol counts are reused when no steps.jsonl",
    )
    p.add_argument(
        "--protocol-steps",
        type=int,
        default=None,
        help="steps of the SST-2 protocol to run for optimizers without steps.jsonl "
        "(default 80; quick 0 = only read)",
    )
    p.add_argument(
        "--first-steps",
        type=int,
        default=None,
        help="protocol steps of adam_sls(first_backtrack_factor=0.5) (default 10; quick 0)",
    )
    p.add_argument(
        "--pause-pid",
        type=int,
        nargs="*",
        default=[],
        help="processes to SIGSTOP while compiling/timing (always SIGCONT after)",
    )
    p.add_argument(
        "--max-pause",
        type=float,
        default=480.0,
        help="longest paused period in seconds before a 45 s resume",
    )
    # internal: one optimizer's memory measurement in a fresh process
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--state-file", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "lengths": [32] if quick else [64, 128],
        "layers": None,
        "batch_size": 16 if quick else 32,
        "repeats": 2 if quick else 8,
        "block": 1,
        "warmup": 1 if quick else 3,
        "warmup_max": 2 if quick else 8,
        "compile_workers": 2 if quick else 1,
        "memory": not quick,
        "protocol_steps": 0 if quick else 80,
        "first_steps": 0 if quick else 10,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.memory_length is None:
        args.memory_length = max(args.lengths)
    return args


# --------------------------------------------------------------------------- timing


def run_length(
    length: int,
    args: argparse.Namespace,
    setup: dict[str, Any],
    runners: dict[str, Any],
    pauser: common.Pauser,
    first_length: bool,
) -> dict[str, Any]:
    import jax

    batches_np, source = common.make_batches(
        setup["folder"], length, args.batch_size, args.num_batches, source=args.data
    )
    batches = [common.device_batch(b) for b in batches_np]
    fwd, vg = setup["forward"], setup["value_and_grad"]
    params0 = setup["params"]
    entries: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"length": length, "batch_size": args.batch_size, "data": source}

    # 1. compile (first call), paused.
    pauser.pause()
    load = common.ForeignLoad()
    for name, fn in (("forward", fwd), ("value_and_grad", vg)):
        before = common.COMPILE_MONITOR.snapshot()
        t0 = time.perf_counter()
        jax.block_until_ready(fn(params0, batches[0]))
        entries[name] = {
            "compile": {
                "first_call_s": round(time.perf_counter() - t0, 3),
                **common.COMPILE_MONITOR.since(before),
            }
        }
    if args.compile_workers > 1:
        # Smoke runs: first calls in parallel threads (compile times then overlap; only the
        # wall time of each first call is reported).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(args.compile_workers) as pool:
            futures = {n: pool.submit(r.run, batches[0]) for n, r in runners.items()}
            for name, fut in futures.items():
                dt, ev, loss = fut.result()
                entries[name] = {
                    "compile": {
                        "first_call_s": round(dt, 3),
                        "evaluations": ev,
                        "loss": loss,
                        "parallel_first_calls": True,
                    }
                }
    else:
        for name, runner in runners.items():
            entries[name] = {"compile": runner.first_call(batches[0])}
            common.log(f"L={length} {name} first call", entries[name]["compile"])
            pauser.checkpoint()
    out["foreign_load_compile"] = load.stop()
    pauser.resume()

    # 2. warm-up (not paused: only the trial counts matter here).
    for name, runner in runners.items():
        min_steps = args.warmup if first_length else 1
        if name == "salsa" and first_length:
            # SaLSA searches at every one of its first 9 steps (the package's rule); its
            # speed-up (searches only every few steps) is its steady state.
            min_steps = max(min_steps, SALSA_FORCED_SEARCH_STEPS + 1)
        log = []
        for i in range(max(args.warmup_max, min_steps)):
            dt, evals, loss = runner.run(batches[(i + 1) % len(batches)])
            log.append({"s": round(dt, 3), "evaluations": evals, "loss": round(loss, 5)})
            tail = [x["evaluations"] for x in log[-2:]]
            settled = name == "adam" or (len(tail) == 2 and max(tail) <= 1)
            if i + 1 >= min_steps and settled:
                break
        entries[name]["warmup"] = log
        entries[name]["traces_after_warmup"] = runner.traces["train"]
        common.log(f"L={length} {name} warm-up", [x["evaluations"] for x in log])

    # 3. interleaved rounds, paused.
    pauser.pause()
    load.start()
    order = ["forward", "value_and_grad", *runners]
    times: dict[str, list[list[float]]] = {n: [] for n in order}
    evals: dict[str, list[int]] = {n: [] for n in order}
    before = common.COMPILE_MONITOR.snapshot()
    t_start = time.perf_counter()
    for r in range(args.repeats):
        rotated = order[r % len(order) :] + order[: r % len(order)]
        for name in rotated:
            block = []
            for k in range(args.block):
                batch = batches[(r * args.block + k) % len(batches)]
                if name in ("forward", "value_and_grad"):
                    fn = fwd if name == "forward" else vg
                    t0 = time.perf_counter()
                    jax.block_until_ready(fn(params0, batch))
                    dt, ev = time.perf_counter() - t0, 1 if name == "forward" else 0
                else:
                    dt, ev, _ = runners[name].run(batch)
                block.append(dt)
                evals[name].append(ev)
            times[name].append(block)
        pauser.checkpoint()
        common.log(f"L={length} round {r + 1}/{args.repeats} done")
    out["timed_wall_s"] = round(time.perf_counter() - t_start, 1)
    out["compiles_during_timed_steps"] = common.COMPILE_MONITOR.since(before)["backend_compiles"]
    out["foreign_load_timed"] = load.stop()
    pauser.resume()
    out["loadavg_after"] = common.loadavg()
    stats = jax.devices()[0].memory_stats()  # accelerators only (None on CPU)
    if stats:
        out["device_memory_stats"] = {
            k: stats[k] for k in ("peak_bytes_in_use", "bytes_in_use", "bytes_limit") if k in stats
        }

    round_median = {n: [common.median(b) for b in times[n]] for n in order}
    # Block means: with search skipping the steps of a block differ (a search, then steps with
    # no trial), so the cost per step is the mean over a block, not its median (--block >= the
    # skipping cycle, e.g. 4 for skip_searches=3).
    round_mean = {n: [sum(b) / len(b) for b in times[n]] for n in order}

    def ratio(a: str, b: str, per_block: dict[str, list[float]] = round_median) -> dict[str, Any]:
        per_round = [x / y for x, y in zip(per_block[a], per_block[b])]
        s = common.summary(per_round)
        return {
            "median": round(s["median"], 4),
            "p25": round(s["p25"], 4),
            "p75": round(s["p75"], 4),
            "per_round": [round(x, 4) for x in per_round],
        }

    for name in order:
        flat = [x for b in times[name] for x in b]
        e = entries[name]
        e["ms_per_step"] = {
            k: (round(v * 1e3, 1) if isinstance(v, float) else v)
            for k, v in common.summary(flat).items()
        }
        e["times_s"] = [round(x, 4) for x in flat]
        e["evaluations_per_step"] = evals[name]
        e["mean_evaluations"] = round(sum(evals[name]) / max(len(evals[name]), 1), 3)
        e["ratio_to_adam"] = ratio(name, "adam") if "adam" in round_median else None
        if args.block > 1 and "adam" in round_median:
            e["mean_ratio_to_adam"] = ratio(name, "adam", round_mean)
        if name in runners:
            e["traces"] = runners[name].traces["train"]
            e["recompiled_after_warmup"] = e["traces"] != e["traces_after_warmup"]
    out["entries"] = entries
    pairs = [
        ("adam_sls", "optax_bt"),
        ("pla_sls", "adam_sls"),
        ("salsa", "adam_sls"),
        ("sgd_sls", "adam_sls"),
    ]
    out["pair_ratios"] = {
        f"{a}/{b}": ratio(a, b) for a, b in pairs if a in round_median and b in round_median
    }
    if "adam" in round_median:
        limit = [1 + f / a for f, a in zip(round_median["forward"], round_median["adam"])]
        out["limit_1_plus_forward_over_adam"] = round(common.median(limit), 4)
        fwd_r, vg_r = round_median["forward"], round_median["value_and_grad"]
        adam_ms = common.median(round_median["adam"]) * 1e3
        fwd_ms, vg_ms = common.median(fwd_r) * 1e3, common.median(vg_r) * 1e3
        # Cost model per timed step: step = value_and_grad + overhead + evaluations * forward,
        # with value_and_grad and forward from the same round. ``overhead`` is the update and
        # search bookkeeping; it separates the cost of the code from the number of trials.
        model: dict[str, Any] = {}
        for n in runners:
            over = [
                (t - vg_r[r] - ev * fwd_r[r]) * 1e3
                for r, block in enumerate(times[n])
                for t, ev in zip(block, evals[n][r * args.block : (r + 1) * args.block])
            ]
            o = common.median(over)
            model[n] = {
                "overhead_ms": round(o, 1),
                "overhead_ms_iqr": [
                    round(common.summary(over)["p25"], 1),
                    round(common.summary(over)["p75"], 1),
                ],
                "ms_at_1_evaluation": round(vg_ms + o + fwd_ms, 1),
                "ratio_to_adam_at_1_evaluation": round((vg_ms + o + fwd_ms) / adam_ms, 4),
            }
        out["cost_model"] = {
            "forward_ms": round(fwd_ms, 1),
            "value_and_grad_ms": round(vg_ms, 1),
            "adam_ms": round(adam_ms, 1),
            "per_optimizer": model,
        }
    return out


# --------------------------------------------------------------------------- memory


def state_bytes(runners: dict[str, Any], params: Any) -> dict[str, Any]:
    import optax

    p_bytes = common.tree_bytes(params)
    adam_bytes = common.tree_bytes(runners["adam"].state) if "adam" in runners else None
    out: dict[str, Any] = {"params_bytes": p_bytes}
    for name, r in runners.items():
        b = common.tree_bytes(r.state)
        moments = 0
        for key in ("mu", "nu"):
            value = optax.tree.get(r.state, key)
            if value is not None:
                moments += common.tree_bytes(value)
        groups = common.num_groups(r.state)
        out[name] = {
            "state_bytes": b,
            "moment_bytes": moments,
            "non_moment_bytes": b - moments,
            "num_groups": groups,
            "state_over_params": round(b / p_bytes, 6),
            "extra_over_adam_bytes": None if adam_bytes is None else b - adam_bytes,
        }
    return out


def memory_child(args: argparse.Namespace) -> int:
    """Fresh process for one optimizer: RSS of the model, with the optimizer's initial state,
    with the (warmed-up) params and state of the parent, peak over compile + first step, and
    peak over 3 steady steps."""
    common.set_threads(args.threads)
    import gc

    import jax
    import jax.numpy as jnp
    import numpy as np

    from sls_glue.train import make_loss_fn

    name = args.memory_child
    out: dict[str, Any] = {"optimizer": name, "length": args.memory_length}
    graphdef, params, rest, folder, _ = common.load_model(args.layers)
    loss_fn = make_loss_fn(graphdef, rest, False)
    batches_np, _ = common.make_batches(
        folder, args.memory_length, args.batch_size, 2, source=args.data
    )
    batches = [common.device_batch(b) for b in batches_np]
    gc.collect()
    out["rss_model_mib"] = common.rss_mib()
    runner = common.StepRunner(name, params, loss_fn)
    jax.block_until_ready(runner.state)
    out["rss_with_initial_state_mib"] = common.rss_mib()
    data = np.load(args.state_file)
    p_def = jax.tree.structure(params)
    s_def = jax.tree.structure(runner.state)
    n_p = p_def.num_leaves
    leaves = [jnp.array(data[f"a{i}"], copy=True) for i in range(len(data.files))]
    runner.params = jax.tree.unflatten(p_def, leaves[:n_p])
    runner.state = jax.tree.unflatten(s_def, leaves[n_p:])
    del params, data, leaves
    gc.collect()
    out["rss_warm_params_state_mib"] = common.rss_mib()
    common.reset_peak_rss()
    runner.first_call(batches[0])
    out["peak_compile_and_first_step_mib"] = common.peak_rss_mib()
    runner.run(batches[1])
    gc.collect()
    common.reset_peak_rss()
    out["rss_before_steps_mib"] = common.rss_mib()
    evals = []
    for i in range(3):
        evals.append(runner.run(batches[i % 2])[1])
    out["peak_steady_steps_mib"] = common.peak_rss_mib()
    out["peak_steady_over_model_mib"] = round(
        out["peak_steady_steps_mib"] - out["rss_model_mib"], 1
    )
    out["evaluations"] = evals
    stats = jax.devices()[0].memory_stats()
    if stats:
        out["device_peak_bytes_in_use"] = stats.get("peak_bytes_in_use")
    print("MEMORY_JSON " + json.dumps(out), flush=True)
    return 0


def run_memory(args: argparse.Namespace, runners: dict[str, Any], pauser: common.Pauser):
    import jax
    import numpy as np

    results: dict[str, Any] = {
        "length": args.memory_length,
        "method": (
            "one fresh process per optimizer: RSS (VmRSS) of the loaded model, after the "
            "optimizer's init (the state), after swapping in the warmed-up params and state of "
            "the parent, peak (VmHWM) over compile + first step, and peak over 3 steady steps "
            "(VmHWM reset before them, after one more step)"
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, runner in runners.items():
            path = pathlib.Path(tmp) / f"{name}.npz"
            leaves = jax.tree.leaves(jax.device_get((runner.params, runner.state)))
            np.savez(path, **{f"a{i}": np.asarray(x) for i, x in enumerate(leaves)})
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--memory-child",
                name,
                "--state-file",
                str(path),
                "--memory-length",
                str(args.memory_length),
                "--batch-size",
                str(args.batch_size),
                "--data",
                args.data,
            ]
            if args.layers:
                cmd += ["--layers", str(args.layers)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            pauser.pause()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            pauser.checkpoint()
            line = [x for x in proc.stdout.splitlines() if x.startswith("MEMORY_JSON ")]
            if proc.returncode or not line:
                results[name] = {"error": proc.stderr[-2000:]}
            else:
                results[name] = json.loads(line[-1][len("MEMORY_JSON ") :])
            common.log("memory", name, results[name])
            path.unlink()
    pauser.resume()
    return results


# --------------------------------------------------------------------------- protocol counts


def read_protocol_counts(results_dir: pathlib.Path, name: str) -> dict[str, Any] | None:
    path = results_dir / "SST-2" / name / "seed0" / "steps.jsonl"
    if not path.is_file():
        return None
    records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    counts = [r.get("num_evaluations", 0) for r in records]
    summary_path = path.with_name("summary.json")
    final = None
    if summary_path.is_file():
        final = json.loads(summary_path.read_text()).get("final")
    shown = path.relative_to(common.REPO) if path.is_relative_to(common.REPO) else path
    return {
        "source": f"read from {shown} (the background GLUE small protocol)",
        "steps": len(records),
        "mean_evaluations": round(sum(counts) / max(len(counts), 1), 4),
        "first_steps": counts[:10],
        "max": max(counts) if counts else None,
        "median_step_s": common.median([r["time_s"] for r in records[1:]]),
        "final": final,
    }


def run_protocol_counts(name: str, steps: int, setup: dict[str, Any]) -> dict[str, Any]:
    """The first ``steps`` training steps of the SST-2 small protocol (seed 0), no dev eval."""
    from sls_glue.train import make_loss_fn

    train_batches, _ = common.protocol_batches(seed=0)
    graphdef, params, rest, _, _ = common.load_model(None, seed=0)
    loss_fn = make_loss_fn(graphdef, rest, False)
    runner = common.StepRunner(name, params, loss_fn, total_steps=len(train_batches))
    counts, losses = [], []
    for batch in train_batches[:steps]:
        _, ev, loss = runner.run(common.device_batch(batch))
        counts.append(ev)
        losses.append(round(loss, 5))
    return {
        "source": "run here (same sample, order and buckets as the protocol; no dev evaluation)",
        "steps": len(counts),
        "mean_evaluations": round(sum(counts) / max(len(counts), 1), 4),
        "first_steps": counts[:10],
        "evaluations_per_step": counts,
        "max": max(counts) if counts else None,
        "train_loss_mean_last_16": round(sum(losses[-16:]) / len(losses[-16:]), 5),
    }


# --------------------------------------------------------------------------- targets


def evaluate_targets(result: dict[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    for run in result["lengths"]:
        L = run["length"]
        e = run["entries"]

        def r(name, run=run, e=e):
            # Block means where measured (search skipping), else block medians.
            x = e.get(name, {}).get("mean_ratio_to_adam") or e.get(name, {}).get("ratio_to_adam")
            return None if x is None else x["median"]

        pr = run.get("pair_ratios", {})
        checks = {}
        if r("adam_sls") is not None:
            checks["adam_sls <= 1.4x adam"] = {"value": r("adam_sls"), "met": r("adam_sls") <= 1.4}
            checks["adam_sls <= 1.30x adam"] = {
                "value": r("adam_sls"),
                "met": r("adam_sls") <= 1.30,
            }
        if r("adam_sls_skip") is not None:
            checks["adam_sls_skip <= 1.15x adam"] = {
                "value": r("adam_sls_skip"),
                "mean_evaluations": e["adam_sls_skip"]["mean_evaluations"],
                "met": r("adam_sls_skip") <= 1.15,
            }
        if "adam_sls/optax_bt" in pr:
            v = pr["adam_sls/optax_bt"]
            checks["adam_sls no slower than optax_bt"] = {
                "value": v["median"],
                "iqr": [v["p25"], v["p75"]],
                "met": v["median"] <= 1.0,
                "within_noise": v["p25"] <= 1.0 <= v["p75"],
            }
        if r("salsa") is not None:
            checks["salsa <= 1.15x adam"] = {"value": r("salsa"), "met": r("salsa") <= 1.15}
        if "pla_sls/adam_sls" in pr:
            v = pr["pla_sls/adam_sls"]
            checks["pla_sls within 5% of adam_sls"] = {
                "value": v["median"],
                "iqr": [v["p25"], v["p75"]],
                "met": abs(v["median"] - 1.0) <= 0.05,
            }
        recompiled = {
            n: x.get("recompiled_after_warmup")
            for n, x in e.items()
            if "recompiled_after_warmup" in x
        }
        checks["no recompilation after warm-up"] = {
            "traces": {n: x.get("traces") for n, x in e.items() if "traces" in x},
            "xla_compiles_during_timed_steps": run["compiles_during_timed_steps"],
            "met": not any(recompiled.values()) and run["compiles_during_timed_steps"] == 0,
        }
        checks["limit 1 + forward/adam"] = run.get("limit_1_plus_forward_over_adam")
        cm = run.get("cost_model")
        protocol = result.get("protocol_sst2_small", {})
        if cm:
            projected = {}
            for n, m in cm["per_optimizer"].items():
                mean = protocol.get(n, {}).get("mean_evaluations")
                if mean is None or n == "adam":
                    continue
                ms = cm["value_and_grad_ms"] + m["overhead_ms"] + mean * cm["forward_ms"]
                projected[n] = {
                    "protocol_mean_evaluations": mean,
                    "ratio_to_adam": round(ms / cm["adam_ms"], 4),
                }
            checks["projected ratio at the protocol's mean evaluations"] = projected
        t[f"L={L}"] = checks
    sb = result.get("state_bytes", {})
    if "adam" in sb:
        mem = {}
        for name, x in sb.items():
            if not isinstance(x, dict) or name == "adam":
                continue
            extra = x["extra_over_adam_bytes"]
            mem[name] = {
                "extra_over_adam_bytes": extra,
                "num_groups": x["num_groups"],
                "met": extra <= 64 * max(x["num_groups"], 1) + 256,
            }
        t["state <= adam + O(num_groups)"] = mem
    return t


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    threads = common.set_threads(args.threads)
    pauser = common.Pauser(args.pause_pid, max_pause_s=args.max_pause)
    t_begin = time.perf_counter()
    import jax

    from sls_glue.train import make_loss_fn

    common.COMPILE_MONITOR.register()
    graphdef, params, rest, folder, config = common.load_model(args.layers, tiny=args.quick)
    loss_fn = make_loss_fn(graphdef, rest, False)
    key = jax.random.key(0)
    if folder is None:  # the tiny random model: the checkpoint only tokenizes SST-2
        from sls_glue.checkpoint import resolve_checkpoint

        tokenizer_folder = resolve_checkpoint(None)
    else:
        tokenizer_folder = folder
    setup = {
        "folder": tokenizer_folder,
        "params": params,
        "forward": jax.jit(lambda p, b: loss_fn(p, batch=b, dropout_key=key)),
        "value_and_grad": jax.jit(
            lambda p, b: jax.value_and_grad(loss_fn)(p, batch=b, dropout_key=key)
        ),
    }
    runners = {name: common.StepRunner(name, params, loss_fn) for name in args.optimizers}
    result: dict[str, Any] = {
        "benchmark": "step_cost",
        "args": {k: v for k, v in vars(args).items() if k not in ("memory_child", "state_file")},
        "threads": threads,
        "machine_start": common.machine_info(),
        "model": {
            "checkpoint": str(folder),
            "encoder_layers": len(params["encoder"]["layers"]),
            "hidden_size": config.hidden_size,
            "num_params": sum(x.size for x in jax.tree.leaves(params)),
        },
        "lengths": [],
    }
    try:
        if args.memory_only:
            # Only warm the states (at the first length) for the memory subprocesses.
            batches_np, _ = common.make_batches(
                folder, args.lengths[0], args.batch_size, 4, source=args.data
            )
            for name, runner in runners.items():
                counts = [
                    runner.run(common.device_batch(batches_np[i % 4]))[1]
                    for i in range(args.warmup_max)
                ]
                common.log(f"memory-only warm-up {name}", counts)
        else:
            for i, length in enumerate(args.lengths):
                result["lengths"].append(run_length(length, args, setup, runners, pauser, i == 0))
                common.write_json(args.out, result)
        result["state_bytes"] = state_bytes(runners, params)
        if args.memory:
            result["memory_rss"] = run_memory(args, runners, pauser)
            common.write_json(args.out, result)
        del runners
        results_dir = pathlib.Path(args.results_dir)
        protocol: dict[str, Any] = {}
        previous = {}
        if args.protocol_from:
            previous = json.loads(pathlib.Path(args.protocol_from).read_text())
            previous = previous.get("protocol_sst2_small", {})
        for name in (*common.PROTOCOL_OPTIMIZERS, "optax_bt", "adam_sls_fb05"):
            got = read_protocol_counts(results_dir, name)
            if got is None and previous.get(name, {}).get("steps"):
                got = {
                    **previous[name],
                    "source": f"{previous[name]['source']}; copied from {args.protocol_from}",
                }
            steps = args.first_steps if name == "adam_sls_fb05" else args.protocol_steps
            if got is None and steps > 0:
                common.log(f"protocol counts: running {name} for {steps} steps")
                try:
                    got = run_protocol_counts(name, steps, setup)
                except FileNotFoundError as error:  # no GLUE data (e.g. a GPU box)
                    got = {"source": f"not run: {error}"}
            protocol[name] = got or {"source": "not available (not run)"}
            common.write_json(args.out, {**result, "protocol_sst2_small": protocol})
        result["protocol_sst2_small"] = protocol
        fb = protocol.get("adam_sls_fb05", {})
        base = protocol.get("adam_sls", {})
        result["first_backtrack_factor_0.5"] = {
            "adam_sls_first_steps": base.get("first_steps"),
            "adam_sls_fb05_first_steps": fb.get("first_steps"),
            "trials_first_10": [
                sum(base.get("first_steps") or []),
                sum(fb.get("first_steps") or []),
            ],
        }
    finally:
        pauser.resume()
    result["targets"] = evaluate_targets(result)
    result["pauses_s"] = pauser.periods
    result["machine_end"] = {"loadavg_1_5_15": common.loadavg()}
    result["wall_s"] = round(time.perf_counter() - t_begin, 1)
    path = common.write_json(args.out, result)
    common.log("wrote", path)
    print(json.dumps(result["targets"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
