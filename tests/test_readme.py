"""The README's code blocks run as written, so they cannot rot."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_training_loop_runs_and_converges(capsys):
    block = next(b for b in _python_blocks() if "def train_step" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the block asserts loss < 0.2 itself
    printed = capsys.readouterr().out
    assert printed.startswith("loss ")
    assert float(namespace["loss"]) < 0.2


def test_readme_label_example_builds_groups():
    import jax.numpy as jnp

    import sls_jax

    block = next(b for b in _python_blocks() if "label_by_path" in b)
    namespace = {"sls_jax": sls_jax}
    exec(compile(block, "README.md", "exec"), namespace)
    params = {
        "encoder": {"layers": [{"w": jnp.ones(2)} for _ in range(8)]},
        "classifier": {"w": jnp.ones(2)},
        "embeddings": jnp.ones(3),
    }
    spec = sls_jax.resolve_groups(namespace["labels"], params)
    names = [spec.names[g] for g in spec.leaf_groups]
    # leaves in jax.tree order: classifier, embeddings, encoder layers 0..7
    assert names == ["head", "rest"] + ["lower"] * 6 + ["rest"] * 2
    state = namespace["optimizer"].init(params)
    assert state.step_sizes.shape == (3,)
