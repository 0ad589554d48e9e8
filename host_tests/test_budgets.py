"""The optional device modules stay within their .mpy budgets (the same
figures `make bench` reports, tools/bench/parts.py)."""
import pytest

from bench.parts import PARTS, mpy_size


@pytest.mark.parametrize("key", sorted(PARTS))
def test_mpy_budget(key):
    mod, budget = PARTS[key]
    assert mpy_size(mod) <= budget, "%s over its %d B budget" % (mod, budget)
