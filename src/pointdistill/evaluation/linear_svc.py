"""LinearSVC's objective solved in batches: many one-vs-rest squared-hinge problems at once, on CPU or GPU.

Each problem (one class, one fold, one C) is exactly the one sklearn's ``LinearSVC`` (liblinear, L2 penalty,
squared hinge, ``intercept_scaling`` s) minimises over ``w = [coef, intercept / s]``:

    f(w) = 0.5 * ||w||^2 + C * sum_i max(0, 1 - y_i * w . [x_i, s])^2,    y_i = +1 for the class, -1 otherwise,

so the intercept is the weight of a constant feature s and is regularised like every other weight (liblinear's
convention, which moves the optimum away from the textbook SVM with a free bias). The objective is strictly convex,
so its minimiser is unique and any solver that converges reaches the same classifier; only the cost differs.

liblinear solves one problem at a time with a trust-region Newton method whose conjugate gradients are not
preconditioned; on standardised features of a frozen encoder (a few directions carry most of the variance) that
takes hundreds of CG steps per Newton step. Here the problems of a batch share their design matrix, which is
rotated once onto the eigenvectors of ``X^T X`` (the objective is invariant under rotations of ``w`` and ``x``
together); there the Hessian ``I + 2C X_A^T X_A`` of a problem (A: the samples inside its margin) is close to
diagonal, so CG preconditioned by that diagonal needs tens of steps. All problems advance together: every step is
one matrix product over the shared design with one column per problem, the same on a CPU or a GPU. The step is a
generalised (semismooth) Newton step, followed by an exact line search on the piecewise-quadratic objective along
it; once the active set is found the objective is quadratic and Newton lands on the minimiser.

Stopping rule: liblinear's, ``||grad f(w)|| <= tol * max(min(#pos, #neg), 1) / n * ||grad f(0)||`` per problem,
with ``tol`` LinearSVC's default 1e-4; ``max_iter`` bounds the Newton steps (liblinear's bounds its trust-region
steps). Padded rows (``mask`` false) contribute nothing, so folds of different sizes share one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

_CG_MAX_STEPS = 1000
"""Conjugate-gradient steps per Newton step at most; the preconditioned systems here need tens."""
_CG_RTOL_MAX = 0.1
"""Loosest relative residual of a Newton system (liblinear's CG tolerance)."""
_CG_RTOL_FLOOR_EPS = 8.0
"""Tightest relative residual, in units of the inner precision's epsilon: below it CG only stagnates."""
_BLOCK_CURVATURE = 10.0
"""Eigen-directions whose Hessian entry may exceed this (2C * active share * eigenvalue) get the exact block..."""
_BLOCK_COST = 2.0
"""...as long as building the block (active rows x r^2) costs at most this many Hessian products (rows x d)."""
_BLOCK_CHUNK_ELEMENTS = 1 << 24
"""Gathered numbers per chunk of problems while building the blocks (bounds that buffer)."""
_LINE_SEARCH_STEPS = 30
_LINE_SEARCH_RTOL = 1e-9


@dataclass
class SquaredHingeSolution:
    """Weights of every problem in the rotated basis ``v`` [B, d+1, K], Newton steps taken [B, K], and whether
    each problem met the stopping rule [B, K]."""

    weights: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor


class _Preconditioner:
    """``diagonal`` [B, d+1, K] everywhere, replaced on the last r directions by the Cholesky ``factors``
    [B, K, r, r] of each problem's exact block there."""

    def __init__(self, diagonal: torch.Tensor, factors: torch.Tensor | None) -> None:
        self.diagonal = diagonal
        self.factors = factors

    def __call__(self, residual: torch.Tensor) -> torch.Tensor:
        scaled = residual / self.diagonal
        if self.factors is None:
            return scaled
        size = self.factors.shape[-1]
        top = residual[:, -size:, :].permute(0, 2, 1).unsqueeze(-1).to(self.factors.dtype)
        solved = torch.cholesky_solve(top, self.factors).squeeze(-1).permute(0, 2, 1).to(residual.dtype)
        return torch.cat([scaled[:, :-size, :], solved], dim=1)


class SquaredHingeProblems:
    """The shared part of a batch of problems: design matrices ``x`` [B, n, d] (rows past a fold's end padded,
    ``mask`` [B, n] false there) with the constant feature ``intercept_scaling`` appended, rotated onto the
    eigenbasis of their Gram matrices. :meth:`solve` then fits any targets and C on them.

    Margins, gradients and the stopping rule are computed in ``dtype`` (float64 by default); the Hessian products
    inside conjugate gradients and the preconditioner in ``inner_dtype`` (float32 by default, half the cost: they
    only steer the Newton direction, whose accuracy the float64 gradient checks).
    """

    def __init__(
        self, x: torch.Tensor, mask: torch.Tensor, intercept_scaling: float = 1.0, *,
        dtype: torch.dtype = torch.float64, inner_dtype: torch.dtype = torch.float32,
    ) -> None:
        if x.dim() != 3 or mask.shape != x.shape[:2]:
            raise ValueError(f"x must be [B, n, d] with mask [B, n], got {tuple(x.shape)} and {tuple(mask.shape)}")
        if intercept_scaling <= 0:
            raise ValueError(f"intercept_scaling must be positive, got {intercept_scaling}")
        self.intercept_scaling = float(intercept_scaling)
        self.mask = mask.to(dtype)
        x = x.to(dtype)
        constant = torch.full_like(x[..., :1], self.intercept_scaling)
        design = torch.cat([x, constant], dim=-1) * self.mask[..., None]
        self.eigenvalues, self.basis = torch.linalg.eigh(design.transpose(1, 2) @ design)
        self.z = design @ self.basis
        self.inner_dtype = inner_dtype
        self.z_inner = self.z.to(inner_dtype)
        self.z_squared = self.z_inner * self.z_inner
        self.rows = self.mask.sum(dim=1)

    @property
    def dtype(self) -> torch.dtype:
        return self.z.dtype

    def coefficients(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``coef`` [B, K, d] and ``intercept`` [B, K] of rotated ``weights`` [B, d+1, K], as LinearSVC stores them."""
        full = (self.basis @ weights).transpose(1, 2)
        return full[..., :-1], full[..., -1] * self.intercept_scaling

    def solve(
        self,
        targets: torch.Tensor,
        c: float,
        *,
        start: torch.Tensor | None = None,
        tol: float = 1e-4,
        max_iter: int = 1000,
    ) -> SquaredHingeSolution:
        """Minimise the squared-hinge objective of every column of ``targets`` [B, n, K] (+1 / -1) at ``C = c``,
        from ``start`` (rotated weights [B, d+1, K], e.g. the solution at a smaller C) or from zero."""
        if c <= 0:
            raise ValueError(f"C must be positive, got {c}")
        if targets.shape[:2] != self.z.shape[:2]:
            raise ValueError(f"targets {tuple(targets.shape)} do not match the design {tuple(self.z.shape[:2])}")
        y = targets.to(self.dtype) * self.mask[..., None]
        batch, _, width = self.z.shape
        v = torch.zeros(batch, width, y.shape[-1], dtype=self.dtype, device=self.z.device) if start is None \
            else start.to(self.dtype).clone()
        positives = (y > 0).to(self.dtype).sum(dim=1)
        smaller_side = torch.minimum(positives, self.rows[:, None] - positives).clamp_min(1.0)
        initial_norm = (2.0 * c * self.z.transpose(1, 2) @ y).norm(dim=1)
        threshold = tol * smaller_side / self.rows[:, None] * initial_norm
        margin = y * (self.z @ v)
        n_iter = torch.zeros(y.shape[0], y.shape[-1], dtype=torch.long, device=y.device)
        for step in range(max_iter + 1):
            violation = (1.0 - margin).clamp_min(0.0) * self.mask[..., None]
            gradient = v - 2.0 * c * (self.z.transpose(1, 2) @ (violation * y))
            norm = gradient.norm(dim=1)
            done = norm <= threshold
            if bool(done.all()) or step == max_iter:
                break
            active = (violation > 0).to(self.inner_dtype)
            # Loose while the active set moves; near the end just tight enough for the next step to meet the rule
            # (with the active set fixed the objective is quadratic and the new gradient is the CG residual).
            forcing = torch.maximum(norm / initial_norm, 0.5 * threshold / norm.clamp_min(1e-300))
            rtol = forcing.clamp(min=_CG_RTOL_FLOOR_EPS * torch.finfo(self.inner_dtype).eps, max=_CG_RTOL_MAX)
            direction = self._conjugate_gradients(-gradient, active, c, self._preconditioner(active, c), rtol, ~done)
            along = y * (self.z @ direction)
            length = self._line_search(v, direction, margin, along, c)
            v = v + length[:, None, :] * direction
            margin = margin + length[:, None, :] * along
            n_iter += (~done).long()
        return SquaredHingeSolution(weights=v, n_iter=n_iter, converged=done)

    def _hessian_times(self, p: torch.Tensor, active: torch.Tensor, c: float) -> torch.Tensor:
        """The generalised Hessian ``I + 2C Z^T diag(active) Z`` of each problem times its column of ``p``."""
        inner = p.to(self.inner_dtype)
        product = self.z_inner.transpose(1, 2) @ (active * (self.z_inner @ inner))
        return p + 2.0 * c * product.to(p.dtype)

    def _block_size(self, counts: torch.Tensor, c: float) -> int:
        """How many top eigen-directions get the exact block: those of large curvature, within the cost cap."""
        share = (counts / self.rows[:, None]).amax(dim=1, keepdim=True)
        wanted = int((2.0 * c * share * self.eigenvalues > _BLOCK_CURVATURE).sum(dim=1).max())
        rows, width = float(self.rows.max()), self.z.shape[-1]
        affordable = int((_BLOCK_COST * rows * width / max(float(counts.max()), 1.0)) ** 0.5)
        return min(wanted, affordable, width)

    def _preconditioner(self, active: torch.Tensor, c: float) -> _Preconditioner:
        """Each problem's Hessian, exact on the top eigen-directions of the design and diagonal on the rest.

        The Hessian along direction j grows like 2C * (active share) * eigenvalue_j, so the directions where that
        is large are the ill-conditioned ones; their block of the Hessian is built exactly from the active rows
        (``m * r^2`` per problem for m active rows and r directions) and factorised, the rest keep the diagonal.
        """
        diagonal = (1.0 + 2.0 * c * (self.z_squared.transpose(1, 2) @ active)).to(self.dtype)
        counts = active.sum(dim=1)
        size = self._block_size(counts, c)
        if size == 0:
            return _Preconditioner(diagonal, None)
        batch, n, width = self.z.shape
        problems = active.shape[-1]
        # Rows of the top directions with one zero row appended at index n, where padding indices point.
        top = torch.cat([self.z_inner[..., width - size :], torch.zeros_like(self.z_inner[:, :1, width - size :])], 1)
        top = top.reshape(batch * (n + 1), size)
        rows = int(counts.max())
        order = torch.sort(active, dim=1, descending=True, stable=True).indices[:, :rows, :]
        padding = torch.arange(rows, device=active.device)[None, :, None] >= counts[:, None, :]
        index = torch.where(padding, n, order) + (torch.arange(batch, device=active.device) * (n + 1))[:, None, None]
        index = index.permute(0, 2, 1)
        eye = torch.eye(size, dtype=self.inner_dtype, device=active.device)
        factors = []
        chunk = max(1, _BLOCK_CHUNK_ELEMENTS // max(1, batch * rows * size))
        for first in range(0, problems, chunk):
            part = index[:, first : first + chunk].reshape(-1)
            block = top.index_select(0, part).reshape(batch, -1, rows, size)
            factors.append(torch.linalg.cholesky(eye + 2.0 * c * (block.transpose(-1, -2) @ block)))
        return _Preconditioner(diagonal, torch.cat(factors, dim=1))

    def _conjugate_gradients(
        self, rhs: torch.Tensor, active: torch.Tensor, c: float, preconditioner: _Preconditioner,
        rtol: torch.Tensor, live: torch.Tensor,
    ) -> torch.Tensor:
        """Preconditioned CG for every column still ``live``, each to its own relative residual ``rtol``."""
        solution = torch.zeros_like(rhs)
        residual = rhs.clone()
        bound = rtol * rhs.norm(dim=1)
        live = live & (residual.norm(dim=1) > bound)
        scaled = preconditioner(residual)
        direction = scaled
        product = (residual * scaled).sum(dim=1)
        for _ in range(_CG_MAX_STEPS):
            if not bool(live.any()):
                break
            hd = self._hessian_times(direction, active, c)
            curvature = (direction * hd).sum(dim=1)
            alpha = torch.where(live, product / curvature.clamp_min(1e-300), torch.zeros_like(product))
            solution = solution + alpha[:, None, :] * direction
            residual = residual - alpha[:, None, :] * hd
            live = live & (residual.norm(dim=1) > bound)
            scaled = preconditioner(residual)
            new_product = (residual * scaled).sum(dim=1)
            beta = torch.where(live, new_product / product.clamp_min(1e-300), torch.zeros_like(product))
            direction = scaled + beta[:, None, :] * direction
            product = new_product
        return solution

    def _line_search(
        self, v: torch.Tensor, direction: torch.Tensor, margin: torch.Tensor, along: torch.Tensor, c: float
    ) -> torch.Tensor:
        """Step length [B, K] minimising the objective along ``direction``: a root of its derivative, which is
        piecewise linear and increasing in the step, by Newton's method kept inside a shrinking bracket."""
        slope0 = (v * direction).sum(dim=1)
        curvature0 = (direction * direction).sum(dim=1)
        mask = self.mask[..., None]

        def derivatives(length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            slack = (1.0 - margin - length[:, None, :] * along).clamp_min(0.0) * mask
            first = slope0 + length * curvature0 - 2.0 * c * (slack * along).sum(dim=1)
            second = curvature0 + 2.0 * c * ((slack > 0).to(self.dtype) * along * along).sum(dim=1)
            return first, second

        start_slope, _ = derivatives(torch.zeros_like(slope0))
        moving = start_slope < 0
        low = torch.zeros_like(slope0)
        high = torch.full_like(slope0, float("inf"))
        length = torch.ones_like(slope0)
        for _ in range(_LINE_SEARCH_STEPS):
            first, second = derivatives(length)
            settled = first.abs() <= _LINE_SEARCH_RTOL * start_slope.abs()
            if bool((settled | ~moving).all()):
                break
            low = torch.where(first < 0, length, low)
            high = torch.where(first > 0, length, high)
            guess = length - first / second.clamp_min(1e-300)
            inside = (guess > low) & (guess < high)
            fallback = torch.where(torch.isinf(high), 2.0 * length, 0.5 * (low + high))
            length = torch.where(settled, length, torch.where(inside, guess, fallback))
        return torch.where(moving, length, torch.zeros_like(length))


def squared_hinge_objective(
    x: torch.Tensor, targets: torch.Tensor, coef: torch.Tensor, intercept: torch.Tensor, c: float,
    intercept_scaling: float = 1.0,
) -> torch.Tensor:
    """LinearSVC's primal objective [K] of ``coef`` [K, d], ``intercept`` [K] on ``x`` [n, d], ``targets`` [n, K]
    (+1 / -1), in float64: what two solvers of the same problem must agree on."""
    x, coef, intercept = x.double(), coef.double(), intercept.double()
    bias = intercept / intercept_scaling
    loss = (1.0 - targets.double() * (x @ coef.T + intercept)).clamp_min(0.0).square().sum(dim=0)
    return 0.5 * ((coef * coef).sum(dim=1) + bias * bias) + c * loss


def ovr_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """+1 / -1 targets [..., n, K] of LinearSVC's one-vs-rest problems for class indices ``labels`` [..., n]: one
    column per class, or for two classes the single problem liblinear fits (class 1 positive)."""
    if num_classes == 2:
        return torch.where(labels == 1, 1.0, -1.0)[..., None]
    classes = torch.arange(num_classes, device=labels.device)
    return torch.where(labels[..., None] == classes, 1.0, -1.0)


def ovr_predict(scores: torch.Tensor) -> torch.Tensor:
    """Class indices [..., n] of decision values [..., n, K] as LinearSVC predicts: the largest score, or for the
    single binary column class 1 where it is positive."""
    if scores.shape[-1] == 1:
        return (scores[..., 0] > 0).long()
    return scores.argmax(dim=-1)


@dataclass
class LinearSVCModel:
    """What ``make_pipeline(StandardScaler(), LinearSVC(C=c))`` learns, fitted by :func:`fit_linear_svc`."""

    scaler: StandardScaler
    coef: torch.Tensor
    intercept: torch.Tensor
    classes: np.ndarray
    n_iter: int
    converged: bool

    def decision_function(self, x: np.ndarray) -> torch.Tensor:
        """Decision values [n, K] (float64) of raw features ``x`` [n, d]."""
        standardised = torch.from_numpy(self.scaler.transform(x)).to(self.coef)
        return standardised @ self.coef.T + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes[ovr_predict(self.decision_function(x)).cpu().numpy()]


def standardised_design(
    x: np.ndarray, rows: Sequence[np.ndarray], device: torch.device | str | None = None
) -> tuple[list[StandardScaler], torch.Tensor, torch.Tensor]:
    """Per subset of ``rows``: a StandardScaler fitted on it (exactly sklearn's, so both solvers see the same
    numbers), and the standardised subsets stacked into one float64 batch [B, n_max, d] with its row mask."""
    scalers = [StandardScaler().fit(x[subset]) for subset in rows]
    width = max(len(subset) for subset in rows)
    design = torch.zeros(len(rows), width, x.shape[1], dtype=torch.float64, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.bool, device=device)
    for b, (scaler, subset) in enumerate(zip(scalers, rows)):
        design[b, : len(subset)] = torch.from_numpy(scaler.transform(x[subset])).to(design)
        mask[b, : len(subset)] = True
    return scalers, design, mask


def fit_linear_svc(
    x: np.ndarray, y: np.ndarray, c: float | Sequence[float], *, tol: float = 1e-4, max_iter: int = 1000,
    device: torch.device | str | None = None,
) -> LinearSVCModel:
    """Standardise ``x`` [n, d] and fit LinearSVC's one-vs-rest objective to labels ``y`` [n] at ``C = c``.

    ``c`` may also be increasing values ending at the wanted C: each solution warm-starts the next, which reaches
    the same (unique) minimiser of the last one in fewer steps. ``max_iter`` and ``converged`` refer to the last.
    """
    path = [float(c)] if isinstance(c, (int, float)) else [float(v) for v in c]
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"a classifier needs at least two classes, got {classes.tolist()}")
    (scaler,), design, mask = standardised_design(x, [np.arange(len(y))], device)
    problems = SquaredHingeProblems(design, mask)
    targets = ovr_targets(torch.from_numpy(labels).to(design.device), len(classes))[None]
    solution = None
    for value in path:
        start = None if solution is None else solution.weights
        solution = problems.solve(targets, value, start=start, tol=tol, max_iter=max_iter)
    coef, intercept = problems.coefficients(solution.weights)
    return LinearSVCModel(scaler, coef[0], intercept[0], classes, int(solution.n_iter.max()),
                          bool(solution.converged.all()))
