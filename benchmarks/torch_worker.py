"""PyTorch side of ``vs_pytorch.py``: runs in the torch environment, driven over a pipe.

Needs torch, transformers (< 5), numpy and salsa-optimizer 0.1.0 -- never jax or the project.
Built by ``benchmarks/setup_torch.sh``. The JAX process starts it as
``TORCH_PYTHON benchmarks/torch_worker.py`` and sends one JSON command per line on stdin; each
reply is one JSON line on the original stdout (everything the libraries print goes to stderr).

The model: ``transformers.BertModel`` (no pooler, dropout 0) from the same MiniLM-L6 folder as
the JAX side, and a ``torch.nn.Linear`` head on [CLS] whose weights come from the JAX process;
the loss is the harness's weighted mean cross-entropy.

Commands: ``init`` (checkpoint, layers, threads, attn), ``load`` (an .npz of batches, named
``<set>__<index>__<field>``, and optionally ``head_kernel``/``head_bias``), ``make`` (a fresh copy
of the initial model with an optimizer: adam | adam_sls | salsa), ``steps``, ``forward``,
``predict``, ``info``, ``quit``.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (stdlib only at import time)


class Worker:
    def __init__(self) -> None:
        self.base = None
        self.batches: dict[str, dict[int, dict]] = {}
        self.runs: dict[str, dict] = {}
        self.head = None

    # ------------------------------------------------------------------ commands
    def init(
        self,
        checkpoint: str,
        layers: int | None = None,
        threads: int | None = None,
        attn: str = "sdpa",
    ) -> dict:
        n = common.set_threads(threads)
        import torch

        torch.set_num_threads(n)
        torch.manual_seed(0)
        self.torch = torch
        self.checkpoint, self.layers, self.attn = checkpoint, layers, attn
        self.threads = n
        return {"threads": n, "torch_threads": torch.get_num_threads()}

    def _build(self) -> None:
        import torch
        from transformers import BertConfig, BertModel

        cfg = BertConfig.from_pretrained(self.checkpoint)
        cfg.hidden_dropout_prob = 0.0
        cfg.attention_probs_dropout_prob = 0.0
        if self.layers:
            cfg.num_hidden_layers = self.layers
        bert = BertModel.from_pretrained(
            self.checkpoint, config=cfg, add_pooling_layer=False, attn_implementation=self.attn
        )
        kernel, bias = self.head
        head = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(kernel.T.copy()))
            head.bias.copy_(torch.from_numpy(bias.copy()))

        class Classifier(torch.nn.Module):
            def __init__(self, bert, head):
                super().__init__()
                self.bert, self.head = bert, head

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                return self.head(hidden[:, 0])

        self.base = Classifier(bert, head)
        self.base.train()  # dropout is 0 anyway; as during fine-tuning

    def load(self, path: str) -> dict:
        import numpy as np
        import torch

        data = np.load(path)
        if "head_kernel" in data.files:
            self.head = (
                np.asarray(data["head_kernel"], np.float32),
                np.asarray(data["head_bias"], np.float32),
            )
        count = 0
        for key in data.files:
            parts = key.split("__")
            if len(parts) != 3:
                continue
            name, index, field = parts[0], int(parts[1]), parts[2]
            arr = data[key]
            t = torch.from_numpy(arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.copy())
            self.batches.setdefault(name, {}).setdefault(index, {})[field] = t
            count += 1
        if self.base is None and self.head is not None:
            self._build()
        return {"sets": {k: len(v) for k, v in self.batches.items()}}

    def _loss(self, model, batch):
        torch = self.torch
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        ce = torch.nn.functional.cross_entropy(logits.float(), batch["labels"], reduction="none")
        w = batch["weights"]
        return (ce * w).sum() / torch.clamp(w.sum(), min=1.0)

    def make(self, run: str, optimizer: str, kwargs: dict | None = None) -> dict:
        torch = self.torch
        model = copy.deepcopy(self.base)
        params = [p for p in model.parameters() if p.requires_grad]
        kwargs = kwargs or {}
        if optimizer == "adam":
            opt = torch.optim.Adam(params, **{"lr": 2e-5, **kwargs})
        elif optimizer == "adam_sls":
            from salsa.adam_sls import AdamSLS

            opt = AdamSLS([params], **{"smooth": False, "c": 0.1, **kwargs})
        elif optimizer == "salsa":
            from salsa.SaLSA import SaLSA

            opt = SaLSA(params, **kwargs)
        else:
            raise ValueError(f"unknown optimizer {optimizer}")
        self.runs[run] = {"model": model, "opt": opt, "kind": optimizer}
        return {"num_params": sum(p.numel() for p in params)}

    def _step(self, run: dict, batch: dict) -> tuple[float, int, float]:
        model, opt, kind = run["model"], run["opt"], run["kind"]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if kind == "adam":
            loss = self._loss(model, batch)
            loss.backward()
            opt.step()
            evals = 0
        else:
            before = opt.state["n_forwards"]
            if kind == "adam_sls":
                loss = opt.step(lambda: self._loss(model, batch))
            else:

                def closure(backwards=False):
                    value = self._loss(model, batch)
                    if backwards:
                        value.backward()
                    return value

                loss = opt.step(closure)
            evals = opt.state["n_forwards"] - before - 1  # minus the gradient pass
        value = float(loss)
        return time.perf_counter() - t0, int(evals), value

    def steps(self, run: str, group: str, indices: list[int]) -> dict:
        r = self.runs[run]
        times, evals, losses = [], [], []
        for i in indices:
            dt, ev, loss = self._step(r, self.batches[group][i])
            times.append(dt)
            evals.append(ev)
            losses.append(loss)
        return {"times": times, "evaluations": evals, "losses": losses}

    def forward(self, group: str, indices: list[int], run: str | None = None) -> dict:
        torch = self.torch
        model = self.runs[run]["model"] if run else self.base
        times, losses = [], []
        with torch.no_grad():
            for i in indices:
                t0 = time.perf_counter()
                loss = self._loss(model, self.batches[group][i])
                value = float(loss)
                times.append(time.perf_counter() - t0)
                losses.append(value)
        return {"times": times, "losses": losses}

    def predict(self, run: str, group: str, indices: list[int]) -> dict:
        torch = self.torch
        model = self.runs[run]["model"]
        preds = []
        with torch.no_grad():
            for i in indices:
                b = self.batches[group][i]
                logits = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
                preds.append(torch.argmax(logits, dim=-1).tolist())
        return {"predictions": preds}

    def info(self) -> dict:
        import importlib.metadata

        import torch
        import transformers

        out = {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "salsa-optimizer": importlib.metadata.version("salsa-optimizer"),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "attn_implementation": self.attn,
            "mkldnn": torch.backends.mkldnn.is_available(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
        }
        if self.base is not None:
            out["num_params"] = sum(p.numel() for p in self.base.parameters())
            out["attn_used"] = getattr(self.base.bert.config, "_attn_implementation", None)
        return out


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to stderr, the protocol keeps the real stdout
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "quit":
            proto.write(json.dumps({"ok": True}) + "\n")
            break
        try:
            reply = {"ok": True, **getattr(worker, cmd)(**msg)}
        except Exception as e:  # noqa: BLE001 - reported to the driver
            reply = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
        proto.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
