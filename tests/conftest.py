"""Pytest configuration: the fixture generators run in a PyTorch environment, not under pytest."""

collect_ignore = ["fixtures/make_bert_reference.py", "reference/make_torch_trajectories.py"]
