"""Markdown tables from the benchmark JSON files (used to write benchmarks/README.md).

Usage: .venv/bin/python benchmarks/report.py [RESULTS_DIR]   (default benchmarks/results)
Any missing file is skipped. CPU files at the top of RESULTS_DIR (``*_oldmodel.json`` and
``step_cost_cpu_run1.json``: measured before the model's attention-layout change, commit 0102882),
GPU files under RESULTS_DIR/gpu (``step_cost_*.json``, ``vs_pytorch_jax_*.json``).
"""

from __future__ import annotations

import json
import pathlib
import sys


def _load(folder: pathlib.Path, name: str):
    path = folder / name
    return json.loads(path.read_text()) if path.is_file() else None


def _f(x, fmt="{:.3f}"):
    return "-" if x is None else fmt.format(x)


def _ms(x) -> str:
    return "-" if x is None else ("{:.1f}" if x < 100 else "{:.0f}").format(x)


def _machine(name: str, d) -> str:
    m = d["machine_start"]
    dev = m.get("device", {})
    host = f"{m['cpu']} x{m['cpu_count']}"
    device = host if dev.get("platform") in (None, "cpu") else f"{dev.get('kind')} (host {host})"
    return (
        f"{name}: {m['date_utc']}, {device}, "
        f"threads {d.get('threads')}, jax {m['versions'].get('jax')}, "
        f"load at start {m['loadavg_1_5_15']}"
    )


def step_cost(d) -> list[str]:
    out = []
    out.append(_machine("step_cost", d))
    for run in d["lengths"]:
        cm = run.get("cost_model", {}).get("per_optimizer", {})
        out.append("")
        out.append(
            f"L={run['length']}, batch {run['batch_size']} ({run['data']}); other processes' CPU "
            f"share while timing: {run['foreign_load_timed']}; 1 + forward/adam = "
            f"{run.get('limit_1_plus_forward_over_adam')}"
        )
        out.append("")
        out.append(
            "| entry | ms/step (median) | evals/step (timed) | ratio to adam (IQR) | "
            "ratio at 1 eval | XLA compile s | first call s | traces |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for n, e in run["entries"].items():
            r = e["ratio_to_adam"]
            c = e["compile"]
            out.append(
                f"| {n} | {_ms(e['ms_per_step']['median'])} | {e['mean_evaluations']:.2f} | "
                f"{r['median']:.3f} ({r['p25']:.2f}-{r['p75']:.2f}) | "
                f"{_f(cm.get(n, {}).get('ratio_to_adam_at_1_evaluation'))} | "
                f"{_f(c.get('compile_s'), '{:.1f}')} | {_f(c.get('first_call_s'), '{:.1f}')} | "
                f"{e.get('traces', '-')} |"
            )
        pr = run.get("pair_ratios", {})
        if pr:
            out.append("")
            out.append(
                "Pairs (median over rounds, IQR): "
                + "; ".join(
                    f"{k} {v['median']:.3f} ({v['p25']:.2f}-{v['p75']:.2f})" for k, v in pr.items()
                )
            )
    return out


def protocol(d) -> list[str]:
    out = [
        "| optimizer | mean evals/step | steps | first 10 steps | dev accuracy | source |",
        "|---|---|---|---|---|---|",
    ]
    for n, v in d.get("protocol_sst2_small", {}).items():
        out.append(
            f"| {n} | {_f(v.get('mean_evaluations'))} | {v.get('steps', '-')} | "
            f"{v.get('first_steps')} | {_f(v.get('final', {}).get('dev_accuracy'), '{:.4f}')} | "
            f"{v.get('source', '')[:70]} |"
        )
    return out


def memory(d, mem) -> list[str]:
    out = ["| optimizer | state bytes (exact) | extra over adam | groups | peak RSS steady, MiB |"]
    out.append("|---|---|---|---|---|")
    sb = d.get("state_bytes", {})
    rss = (mem or {}).get("memory_rss", {})
    for n, v in sb.items():
        if not isinstance(v, dict):
            continue
        r = rss.get(n, {})
        out.append(
            f"| {n} | {v['state_bytes']:,} | {v['extra_over_adam_bytes']:,} | {v['num_groups']} | "
            f"{r.get('peak_steady_steps_mib', '-')} |"
        )
    return out


def vs_pytorch(d) -> list[str]:
    out = [_machine("vs_pytorch", d), ""]
    if d["args"].get("jax_only"):
        return out + vs_pytorch_jax_only(d)
    for run in d.get("lengths", []):
        out.append(
            f"L={run['length']}, batch {run['batch_size']}, threads {d['threads']}, other "
            f"processes' CPU share {run['foreign_load_timed']}"
        )
        out.append("")
        out.append(
            "| pair | JAX ms/step | PyTorch ms/step | evals/step (both) | JAX / PyTorch (IQR) |"
        )
        out.append("|---|---|---|---|---|")
        for n, e in run["entries"].items():
            r = e.get("jax_over_torch", {})
            t = e.get("torch", {})
            out.append(
                f"| {n} | {_ms(e['jax']['ms_per_step'])} | {_ms(t.get('ms_per_step'))} | "
                f"{e['jax']['mean_evaluations']:.2f} / {_f(t.get('mean_evaluations'), '{:.2f}')} | "
                f"{_f(r.get('median'))} "
                f"({_f(r.get('p25'), '{:.2f}')}-{_f(r.get('p75'), '{:.2f}')}) |"
            )
    return out


def vs_pytorch_jax_only(d) -> list[str]:
    out = []
    for run in d.get("lengths", []):
        out.append(
            f"L={run['length']}, batch {run['batch_size']} ({run['data']}), JAX only; other "
            f"processes' CPU share {run['foreign_load_timed']}"
        )
        out.append("")
        out.append(
            "| entry | JAX ms/step (median) | evals/step | / JAX adam (of medians) | "
            "XLA compile s | first call s |"
        )
        out.append("|---|---|---|---|---|---|")
        adam = run["entries"].get("adam", {}).get("jax", {}).get("ms_per_step")
        for n, e in run["entries"].items():
            ms = e["jax"]["ms_per_step"]
            c = run.get("warmup", {}).get(n, {}).get("jax_compile", {})
            out.append(
                f"| {n} | {ms:.1f} | {e['jax']['mean_evaluations']:.2f} | "
                f"{_f(ms / adam if adam else None)} | {_f(c.get('compile_s'), '{:.1f}')} | "
                f"{_f(c.get('first_call_s'), '{:.1f}')} |"
            )
    return out


def update_overhead(d) -> list[str]:
    out = [
        _machine("update_overhead", d),
        "",
        f"{d['num_params']:,} parameters, {d['args']['repeats']} rounds of {d['args']['block']} "
        f"calls; other processes' CPU share {d.get('foreign_load')}",
        "",
        "| optimizer | update ms (median) | evals | ratio to adam | extra ms over adam | "
        "first 8 calls s |",
        "|---|---|---|---|---|---|",
    ]
    first = d.get("first_8_calls_s", {})
    for n, e in d["entries"].items():
        out.append(
            f"| {n} | {e['ms']:.1f} | {e['evaluations']} | {_f(e.get('ratio_to_adam'))} | "
            f"{_f(e.get('extra_ms_over_adam'), '{:.1f}')} | {_f(first.get(n), '{:.2f}')} |"
        )
    return out


def forward_gap(d) -> list[str]:
    out = []
    for run in d.get("variants", []):
        out.append(f"L={run['length']} (other processes' CPU share {run['foreign_load']})")
        out.append("")
        out.append("| variant | ms | vs model | vs PyTorch | abs loss diff |")
        out.append("|---|---|---|---|---|")
        for n, e in run["entries"].items():
            out.append(
                f"| {n} | {e['ms']:.0f} | {e['ratio_to_model']:.3f} | "
                f"{_f(e.get('ratio_to_torch'))} | "
                f"{_f(run['abs_loss_diff_vs_model'].get(n), '{:.1e}')} |"
            )
        out.append("")
    vp = d.get("variants_processes")
    if vp:
        for run in vp["lengths"]:
            out.append(
                f"L={run['length']}, {vp['processes']} processes (foreign {run['foreign_load']})"
            )
            out.append("")
            out.append("| variant | ratio to model (median) | per process | ms per process |")
            out.append("|---|---|---|---|")
            for n, e in run["entries"].items():
                out.append(
                    f"| {n} | {e['ratio_to_model_median']:.3f} | {e['ratio_to_model_per_process']} "
                    f"| {e['ms_per_process']} |"
                )
            out.append("")
    flags = d.get("flags")
    if flags:
        out.append(f"XLA flags, L={flags['length']}:")
        out.append("")
        out.append(
            "| setting | forward ms | value_and_grad ms | PyTorch forward ms | JAX/PyTorch |"
        )
        out.append("|---|---|---|---|---|")
        for n, v in flags.items():
            if not isinstance(v, dict):
                continue
            out.append(
                f"| {n} | {_f(v.get('forward_ms'), '{:.0f}')} | "
                f"{_f(v.get('value_and_grad_ms'), '{:.0f}')} | "
                f"{_f(v.get('torch_forward_ms'), '{:.0f}')} | "
                f"{_f(v.get('forward_jax_over_torch'))} |"
            )
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = pathlib.Path(argv[0] if argv else pathlib.Path(__file__).parent / "results")
    sc = _load(folder, "step_cost_cpu.json")
    if sc:
        print("step_cost_cpu.json\n\n" + "\n".join(step_cost(sc)), "\n")
        print("\n".join(protocol(sc)), "\n")
        print("\n".join(memory(sc, _load(folder, "step_cost_cpu_memory.json"))), "\n")
    for name in ("step_cost_cpu_oldmodel.json", "step_cost_cpu_run1.json"):
        old = _load(folder, name)
        if old:
            print(name + " (old model)\n\n" + "\n".join(step_cost(old)), "\n")
    uo = _load(folder, "update_overhead_cpu.json")
    if uo:
        print("update_overhead_cpu.json\n\n" + "\n".join(update_overhead(uo)), "\n")
    for name in (
        "vs_pytorch_cpu.json",
        "vs_pytorch_cpu_oldmodel.json",
        "vs_pytorch_cpu_1thread_oldmodel.json",
    ):
        vp = _load(folder, name)
        if vp:
            print(name + "\n\n" + "\n".join(vs_pytorch(vp)), "\n")
    acc = _load(folder, "vs_pytorch_accuracy_cpu.json")
    if acc is not None:
        a = acc.get("accuracy")
        print(
            "vs_pytorch_accuracy_cpu.json: "
            + (
                json.dumps(a)[:2000]
                if a
                else "no accuracy figures (the run wrote its start record only)"
            ),
            "\n",
        )
    for name in (
        "forward_gap_cpu.json",
        "forward_gap_grad_cpu.json",
        "forward_gap_cpu_oldmodel.json",
    ):
        fg = _load(folder, name)
        if fg:
            print(name + "\n\n" + "\n".join(forward_gap(fg)), "\n")
    gpu = folder / "gpu"
    for path in sorted(gpu.glob("step_cost_*.json")):
        print(f"gpu/{path.name}\n\n" + "\n".join(step_cost(json.loads(path.read_text()))), "\n")
    for path in sorted(gpu.glob("vs_pytorch_jax_*.json")):
        print(f"gpu/{path.name}\n\n" + "\n".join(vs_pytorch(json.loads(path.read_text()))), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
