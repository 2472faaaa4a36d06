"""The thread budget of a file run: one thread per library on small machines, validated settings."""
from __future__ import annotations

import pytest

from reenact.errors import ReenactError
from reenact.runtime import default_threads
from reenact.runtime.threads import ThreadBudget


@pytest.mark.parametrize("cores", [1, 2])
def test_small_machines_give_each_library_one_thread(cores):
    assert ThreadBudget.for_cores(cores) == ThreadBudget(decoder=1, encoder=1, generator=1)


def test_larger_machines_let_the_codecs_choose_and_leave_cores_to_them():
    b = ThreadBudget.for_cores(8)
    assert (b.decoder, b.encoder, b.generator) == (0, 0, 6)
    assert ThreadBudget.for_cores() == ThreadBudget.for_cores(default_threads())


@pytest.mark.parametrize("kw", [{"decoder": -1}, {"encoder": -2}, {"generator": 0}])
def test_impossible_budgets_are_errors(kw):
    with pytest.raises(ReenactError, match="threads must be"):
        ThreadBudget(**kw)
