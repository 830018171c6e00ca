"""The §4.3 learning-rate schedule: warm-up x4 to epochs//4, linear decay to 0."""
from __future__ import annotations

import pytest

from laanet.training.schedule import lr_at


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 5e-5), (25, 2e-4), (50, 4 * 5e-5 * (1 - 25 / 75)), (99, 4 * 5e-5 / 75), (100, 0.0), (12.5, 1.25e-4)],
)
def test_paper_schedule_values(epoch, expected):
    assert lr_at(epoch, base_lr=5e-5, booster=4.0, epochs=100) == pytest.approx(expected)


def test_monotone_warmup_then_decay():
    lrs = [lr_at(e, base_lr=1.0, booster=4.0, epochs=100) for e in range(100)]
    assert all(a < b for a, b in zip(lrs[:25], lrs[1:26]))
    assert all(a > b for a, b in zip(lrs[25:], lrs[26:]))
    assert lrs[99] > 0


def test_short_runs_start_at_peak():
    # epochs < 4: epochs//4 == 0, no warm-up, decay from booster*lr
    assert lr_at(0, base_lr=1.0, booster=4.0, epochs=2) == pytest.approx(4.0)
    assert lr_at(1, base_lr=1.0, booster=4.0, epochs=2) == pytest.approx(2.0)
    assert lr_at(5, base_lr=1.0, booster=4.0, epochs=2) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        lr_at(0, base_lr=1.0, booster=4.0, epochs=0)
    with pytest.raises(ValueError):
        lr_at(-1, base_lr=1.0, booster=4.0, epochs=10)
