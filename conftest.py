"""pytest configuration shared by the unit tests and nbval's notebook items."""

from __future__ import annotations

import os

import pytest

os.environ["LABKIT_HEADLESS"] = "1"  # nbval's kernels inherit it: no live widgets, static plots
os.environ["LABKIT_REVEAL_SOLUTIONS"] = "1"  # and prove each exercise's check with its reference solution


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep stderr out of nbval's comparison: TensorFlow's C++ start-up lines land there."""
    for item in items:
        parent = item.parent
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and "stderr" not in skip:
            parent.skip_compare = (*skip, "stderr")
