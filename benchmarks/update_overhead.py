"""The optimizer update alone (no model): what a line search costs besides its forward passes.

On the MiniLM-L6 parameter tree (22.7 M float32), jitted ``update`` + ``apply_updates`` of each
optimizer from a warmed-up state, with a fixed gradient and a ``value_fn`` that reads every
trial parameter once (a sum, times 0) and returns a loss low enough that the first trial is
accepted: so each line search makes exactly one trial and the time is the per-parameter work
of the transformation (moments, preconditioner, direction, trial point, step, the NaN guard).
Entries are interleaved (rotated order) over ``--repeats`` rounds; ratios are to Adam.

Usage: .venv/bin/python benchmarks/update_overhead.py [--out PATH] [--pause-pid PID]
       .venv/bin/python benchmarks/update_overhead.py --quick --out /tmp/x.json   # smoke run (CI)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(common.RESULTS / "update_overhead_cpu.json"))
    p.add_argument("--optimizers", nargs="+", default=list(common.OPTIMIZER_NAMES))
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--block", type=int, default=3)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--pause-pid", type=int, nargs="*", default=[])
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (CI): the tiny random BERT, 2 rounds of 1 step; figures are not meaningful",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.block = 2, 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = common.set_threads(args.threads)
    pauser = common.Pauser(args.pause_pid)
    import jax
    import jax.numpy as jnp
    import optax

    _, params, _, _, _ = common.load_model(args.layers, tiny=args.quick)
    grads = jax.tree.map(
        lambda x, k: 1e-3 * jax.random.normal(k, x.shape, x.dtype),
        params,
        jax.tree.unflatten(
            jax.tree.structure(params),
            list(jax.random.split(jax.random.key(0), len(jax.tree.leaves(params)))),
        ),
    )
    value = jnp.float32(1.0)

    def value_fn(p):
        total = sum(jnp.sum(x) for x in jax.tree.leaves(p))
        return jnp.float32(-1e6) + 0.0 * total  # reads every trial leaf; always accepted

    fns: dict[str, Any] = {}
    states: dict[str, Any] = {}
    names = list(args.optimizers)
    for name in names:
        opt = common.build_optimizer(name, params)

        def step(p, s, g, opt=opt):
            u, s = opt.update(g, s, p, value=value, grad=g, value_fn=value_fn)
            return optax.apply_updates(p, u), s

        fns[name] = jax.jit(step)
        states[name] = opt.init(params)

    result: dict[str, Any] = {
        "benchmark": "update_overhead",
        "args": vars(args),
        "threads": threads,
        "machine_start": common.machine_info(),
        "num_params": sum(x.size for x in jax.tree.leaves(params)),
    }
    pauser.pause()
    try:
        first = {}
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(8):  # warm the state (pla_sls: past its 6 whole-network steps)
                _, states[name] = jax.block_until_ready(fn(params, states[name], grads))
            first[name] = round(time.perf_counter() - t0, 2)
        result["first_8_calls_s"] = first
        times: dict[str, list[list[float]]] = {n: [] for n in fns}
        evals: dict[str, int] = {}
        load = common.ForeignLoad()
        names = list(fns)
        for r in range(args.repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                block = []
                for _ in range(args.block):
                    t0 = time.perf_counter()
                    out = jax.block_until_ready(fns[name](params, states[name], grads))
                    block.append(time.perf_counter() - t0)
                evals[name] = common.num_evaluations(out[1])
                times[name].append(block)
            pauser.checkpoint()
        result["foreign_load"] = load.stop()
    finally:
        pauser.resume()
    med = {n: [common.median(b) for b in times[n]] for n in fns}
    entries = {}
    for n in fns:
        flat = [x for b in times[n] for x in b]
        e = {"ms": round(common.median(flat) * 1e3, 2), "evaluations": evals[n]}
        if "adam" in med:
            e["ratio_to_adam"] = round(
                common.median([a / b for a, b in zip(med[n], med["adam"])]), 3
            )
            e["extra_ms_over_adam"] = round(
                common.median([(a - b) * 1e3 for a, b in zip(med[n], med["adam"])]), 2
            )
        entries[n] = e
    result["entries"] = entries
    result["machine_end"] = {"loadavg_1_5_15": common.loadavg()}
    common.write_json(args.out, result)
    for n, e in entries.items():
        print(n, e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
