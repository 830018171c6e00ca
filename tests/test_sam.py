"""SAM wrapper: the two-step update on a toy problem, shared param_groups, delegated state, argument checks."""
from __future__ import annotations

import pytest
import torch

from laanet.training.sam import SAM


def _loss(w: torch.Tensor) -> torch.Tensor:
    return (w**2 * torch.tensor([1.0, 3.0])).sum() + w[0] * w[1]


def test_sam_step_matches_hand_computation():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    rho, lr = 0.05, 0.1
    sam = SAM(torch.optim.SGD([w], lr=lr), rho=rho)

    w0 = w.detach().clone()
    g0 = torch.func.grad(_loss)(w0)
    e = rho * g0 / g0.norm()
    g_adv = torch.func.grad(_loss)(w0 + e)
    expected = w0 - lr * g_adv

    _loss(w).backward()
    norm = sam.first_step()
    assert norm == pytest.approx(float(g0.norm()))
    torch.testing.assert_close(w.detach(), w0 + e)
    sam.zero_grad()
    _loss(w).backward()
    sam.second_step()
    torch.testing.assert_close(w.detach(), expected)


def test_restore_is_exact_and_second_call_guarded():
    w = torch.nn.Parameter(torch.randn(7) * 1e3)
    sam = SAM(torch.optim.SGD([w], lr=0.0), rho=0.37)
    before = w.detach().clone()
    _loss2 = (w.sin()).sum()
    _loss2.backward()
    sam.first_step()
    with pytest.raises(RuntimeError):
        sam.first_step()
    sam.second_step()
    assert torch.equal(w.detach(), before)  # lr 0: bit-exact restore, no p + e - e rounding


def test_param_groups_shared_and_state_delegated():
    w = torch.nn.Parameter(torch.ones(3))
    base = torch.optim.Adam([w], lr=1e-3, weight_decay=1e-4)
    sam = SAM(base, rho=0.05)
    assert sam.param_groups is base.param_groups
    sam.param_groups[0]["lr"] = 0.5
    assert base.param_groups[0]["lr"] == 0.5
    w.sum().backward()
    sam.first_step()
    sam.zero_grad()
    (w**2).sum().backward()
    sam.second_step()
    sd = sam.state_dict()
    assert sd.keys() == base.state_dict().keys()
    assert "exp_avg" in sd["state"][0]
    other = SAM(torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=1e-3), rho=0.05)
    other.load_state_dict(sd)
    # load_state_dict gives the base optimizer a new list: the wrapper must still see (and set) the live one
    assert other.param_groups is other.base.param_groups and other.param_groups[0]["lr"] == 0.5
    other.param_groups[0]["lr"] = 0.25
    assert other.base.param_groups[0]["lr"] == 0.25
    torch.testing.assert_close(other.base.state[other.param_groups[0]["params"][0]]["exp_avg"], base.state[w]["exp_avg"])


@pytest.mark.parametrize("rho", [0.0, -0.1])
def test_rejects_non_positive_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        SAM(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), rho=rho)


def test_rejects_non_optimizer():
    with pytest.raises(TypeError):
        SAM([torch.nn.Parameter(torch.ones(1))], rho=0.05)  # type: ignore[arg-type]


def test_nonfinite_gradient_skips_ascent():
    w = torch.nn.Parameter(torch.ones(2))
    sam = SAM(torch.optim.SGD([w], lr=0.0), rho=0.05)
    w.grad = torch.tensor([float("inf"), 1.0])
    sam.first_step()
    assert torch.equal(w.detach(), torch.ones(2))
    sam.second_step()


def test_frozen_parameters_untouched():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    sam = SAM(torch.optim.Adam([a, b], lr=0.1), rho=0.05)
    ((a * b).sum() ** 2).backward()
    sam.first_step()
    sam.zero_grad()
    ((a * b).sum() ** 2).backward()
    sam.second_step()
    assert torch.equal(b.detach(), torch.ones(2))
    assert not torch.equal(a.detach(), torch.ones(2))
