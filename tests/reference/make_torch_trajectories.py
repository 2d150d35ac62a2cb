"""Record step-by-step trajectories of the authors' ``salsa-optimizer`` (PyTorch).

Run with the separate torch environment (never from the project venv)::

    /work/torchenv/bin/python tests/reference/make_torch_trajectories.py \
        [--out PATH] [--steps N]

It trains the small MLP of ``problem.py`` (float64, one thread) from the same
initial weights and on the same minibatch sequence with several AdamSLS / SaLSA
configurations and writes, for every step, the minibatch loss before the step,
the step size the optimizer stores after the step, the number of forward
evaluations spent in the step and the flattened parameters after the step.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import problem  # noqa: E402
import torch  # noqa: E402
from salsa.adam_sls import AdamSLS  # noqa: E402
from salsa.SaLSA import SaLSA  # noqa: E402

SEED = 0

# name -> (optimizer class name, kwargs passed on top of the package defaults)
RUNS = {
    "adam_sls_c0.1": ("AdamSLS", {"smooth": False, "c": 0.1}),
    "adam_sls_c0.5": ("AdamSLS", {"smooth": False, "c": 0.5}),
    "salsa_default": ("SaLSA", {}),
    "salsa_no_speedup": ("SaLSA", {"speed_up": False}),
    "salsa_c0.9": ("SaLSA", {"c": 0.9}),
}


def make_params(prob):
    return [
        torch.tensor(prob[name], dtype=torch.float64, requires_grad=True)
        for name in problem.PARAM_NAMES
    ]


def model_loss(params, X, y):
    w1, b1, w2, b2 = params
    logits = torch.tanh(X @ w1 + b1) @ w2 + b2
    lse = torch.logsumexp(logits, dim=1)
    return torch.mean(lse - logits[torch.arange(len(y)), y])


def flat(params):
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in params]).tolist()


def run_one(opt_name, kwargs, prob, steps):
    params = make_params(prob)
    X = torch.tensor(prob["X"], dtype=torch.float64)
    y = torch.tensor(prob["y"], dtype=torch.long)
    if opt_name == "AdamSLS":
        opt = AdamSLS([params], **kwargs)  # nested list: one parameter group
    else:
        opt = SaLSA(params, **kwargs)

    records = []
    for k in range(steps):
        idx = torch.as_tensor(problem.batch_indices(k, seed=SEED))
        Xb, yb = X[idx], y[idx]
        opt.zero_grad()
        n_before = opt.state["n_forwards"]
        if opt_name == "AdamSLS":

            def closure(Xb=Xb, yb=yb):
                return model_loss(params, Xb, yb)

            loss = opt.step(closure)  # AdamSLS calls .backward() itself
            step_size = float(opt.state["step_sizes"][0])
        else:

            def closure(backwards=False, Xb=Xb, yb=yb):
                loss = model_loss(params, Xb, yb)
                if backwards:
                    loss.backward()
                return loss

            loss = opt.step(closure)
            step_size = float(opt.step_size)
        records.append(
            {
                "loss": loss.item(),
                "step_size": step_size,
                "n_forwards": int(opt.state["n_forwards"] - n_before),
                "params": flat(params),
            }
        )
    return records


def check_sane(name, records):
    vals = [r["loss"] for r in records] + [r["step_size"] for r in records]
    vals += [v for r in records for v in r["params"]]
    if not all(math.isfinite(v) for v in vals):
        raise RuntimeError(f"{name}: non-finite values in trajectory")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "torch_trajectories.json"))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args(argv)

    torch.set_default_dtype(torch.float64)  # also makes the optimizers' internal state float64
    torch.set_num_threads(1)
    prob = problem.make_problem(SEED)

    runs = {}
    for name, (opt_name, kwargs) in RUNS.items():
        records = run_one(opt_name, kwargs, prob, args.steps)
        check_sane(name, records)
        runs[name] = {"optimizer": opt_name, "kwargs": kwargs, "steps": records}
        losses = np.array([r["loss"] for r in records])
        nf = [r["n_forwards"] for r in records]
        print(
            f"{name:18s} loss first5={losses[:5].mean():.4f} last5={losses[-5:].mean():.4f} "
            f"step_sizes={[round(r['step_size'], 5) for r in records[:5]]} "
            f"last={records[-1]['step_size']:.5g} n_forwards={nf}"
        )

    out = {
        "versions": {
            "torch": torch.__version__,
            "salsa-optimizer": importlib.metadata.version("salsa-optimizer"),
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "problem": {
            "seed": SEED,
            "batch_size": problem.BATCH_SIZE,
            "n_samples": problem.N_SAMPLES,
            "steps": args.steps,
            "param_names": list(problem.PARAM_NAMES),
            "param_shapes": [
                list(problem.make_problem(SEED)[n].shape) for n in problem.PARAM_NAMES
            ],
        },
        "runs": runs,
    }
    with open(args.out, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
