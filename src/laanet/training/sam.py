"""Sharpness-Aware Minimization (Foret et al., ICLR 2021, https://arxiv.org/abs/2010.01412) as a small wrapper.

LAA-Net trains with SAM (rho 0.05, non-adaptive) over Adam (official ``scripts/train.py``). One SAM step is two
passes on the same batch:

1. forward + backward, then :meth:`SAM.first_step`: move every weight to the "sharpest" nearby point
   ``w <- w + e`` with ``e = rho * g / ||g||_2`` (norm over all parameters that have a gradient);
2. forward + backward at the perturbed weights, then :meth:`SAM.second_step`: restore ``w`` exactly and let the
   base optimizer step with the gradient taken at ``w + e``.

The wrapper owns no optimisation state of its own: ``param_groups`` *is* the base optimizer's list (so setting a
learning rate on one sets it on both) and ``state_dict``/``load_state_dict`` delegate to the base optimizer.
"""
from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["SAM"]


class SAM:
    """Wrap ``base`` so that each update is a SAM update.

    Args:
        base: the optimizer that takes the actual step (Adam in LAA-Net).
        rho: radius of the ascent step; must be > 0 (build no SAM at all to train without it).
        adaptive: ASAM (Kwon et al. 2021): scale the ascent by ``|w|``. LAA-Net uses the plain version.
    """

    def __init__(self, base: torch.optim.Optimizer, *, rho: float = 0.05, adaptive: bool = False) -> None:
        if not isinstance(base, torch.optim.Optimizer):
            raise TypeError(f"SAM wraps a torch.optim.Optimizer, got {type(base).__name__}")
        if not rho > 0:
            raise ValueError(f"SAM rho must be > 0, got {rho!r} (to train without SAM, do not wrap the optimizer)")
        self.base = base
        self.rho = float(rho)
        self.adaptive = adaptive
        # Weights before the ascent step, kept only between first_step and second_step. Restoring by copy (not by
        # subtracting e) gives back the exact weights, so SAM never drifts them by rounding.
        self._saved: dict[torch.Tensor, torch.Tensor] = {}

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The base optimizer's groups themselves (not a copy), looked up on every access: the base optimizer's
        ``load_state_dict`` replaces its list, and a reference taken earlier would silently go stale."""
        return self.base.param_groups

    def _params_with_grad(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """L2 norm over all current gradients (scaled by ``|w|`` for ASAM); a 0-dim tensor."""
        params = self._params_with_grad()
        if not params:
            return torch.zeros(())
        device = params[0].device
        norms = [((p.abs() if self.adaptive else 1.0) * p.grad).norm(p=2).to(device) for p in params]
        return torch.stack(norms).norm(p=2)

    @torch.no_grad()
    def first_step(self) -> float:
        """Ascent: ``w <- w + rho * g / ||g||``. Returns the gradient norm (a float, for logging).

        A non-finite norm (an fp16 overflow in the first pass) skips the ascent, so the step degrades to a plain
        base-optimizer step instead of poisoning the weights. The gradients may be loss-scaled: only their
        direction is used.
        """
        if self._saved:
            raise RuntimeError("SAM.first_step called twice without second_step")
        norm = self.grad_norm()
        norm_value = float(norm)
        scale = self.rho / (norm + 1e-12) if math.isfinite(norm_value) and norm_value > 0 else None
        for p in self._params_with_grad():
            self._saved[p] = p.detach().clone()
            if scale is not None:
                e = (p.pow(2) if self.adaptive else 1.0) * p.grad * scale.to(p.device)
                p.add_(e)
        return norm_value

    @torch.no_grad()
    def restore(self) -> None:
        """Put back the weights saved by :meth:`first_step` (no-op when there are none)."""
        for p, saved in self._saved.items():
            p.copy_(saved)
        self._saved.clear()

    def second_step(self, scaler: torch.amp.GradScaler | None = None) -> None:
        """Restore the weights and step the base optimizer (through ``scaler`` for fp16 AMP)."""
        self.restore()
        if scaler is not None:
            scaler.step(self.base)
        else:
            self.base.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict)

    def __repr__(self) -> str:
        return f"SAM(rho={self.rho}, adaptive={self.adaptive}, base={self.base.__class__.__name__})"
