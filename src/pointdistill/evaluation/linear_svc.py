"""LinearSVC's objective solved in batches: many one-vs-rest squared-hinge problems at once, on CPU or GPU.

Each problem (one class, one fold, one C) is exactly the one sklearn's ``LinearSVC`` (liblinear, L2 penalty,
squared hinge, ``intercept_scaling`` s) minimises over ``w = [coef, intercept / s]``:

    f(w) = 0.5 * ||w||^2 + C * sum_i max(0, 1 - y_i * w . [x_i, s])^2,    y_i = +1 for the class, -1 otherwise,

so the intercept is the weight of a constant feature s and is regularised like every other weight (liblinear's
convention, which moves the optimum away from the textbook SVM with a free bias). The objective is strictly convex,
so its minimiser is unique and any solver that converges reaches the same classifier; only the cost differs.

liblinear solves one problem at a time by a trust-region Newton method with unpreconditioned conjugate gradients;
on standardised features of a frozen encoder (a few directions carry most of the variance) that takes hundreds of
CG steps per Newton step. Here the problems of a batch share their design matrix, rotated once onto the
eigenvectors of ``X^T X`` (the objective is invariant under rotating ``w`` and ``x`` together), and every problem
takes generalised (semismooth) Newton steps on the Hessian ``I + 2C X_A^T X_A`` of its active samples A (those
inside the margin), all problems at once:

- few active samples (large C): the exact step, through the small kernel of the active rows
  (``(I + 2C U^T U)^{-1} = I - U^T (I / 2C + U U^T)^{-1} U``);
- otherwise conjugate gradients preconditioned by the Hessian made exact on the top eigen-directions (where
  ``2C * active share * eigenvalue`` is large: the ill-conditioned ones) and diagonal on the rest. Each CG step is
  one matrix product over the shared design with a column per problem, the same on CPU and GPU.

An exact line search follows each step (the objective is piecewise quadratic along it); once the active set
settles the objective is quadratic and Newton lands on the minimiser. Margins, gradients and the stopping rule are
float64; CG's Hessian products are float32 except on the top eigen-directions, where 2C * eigenvalue would
amplify float32 rounding beyond ``_LOW_PRECISION_ERROR``.

Stopping rule: liblinear's, ``||grad f(w)|| <= tol * max(min(#pos, #neg), 1) / n * ||grad f(0)||`` per problem,
with ``tol`` LinearSVC's default 1e-4; ``max_iter`` bounds the Newton steps (liblinear's bounds its trust-region
steps). Padded rows (``mask`` false) contribute nothing, so folds of different sizes share one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

_CG_MAX_STEPS = 1000
"""Conjugate-gradient steps per Newton step at most; the preconditioned systems here need tens."""
_CG_RTOL_MAX = 0.1
"""Loosest relative residual of a Newton system (liblinear's CG tolerance)."""
_LOW_PRECISION_ERROR = 1e-5
"""Relative error allowed in a float32 Hessian product: eigen-directions where 2C * eigenvalue * float32 epsilon
exceeds it are multiplied in float64..."""
_CG_RTOL_MIN = 1e-4
"""...and CG is not asked for residuals below ten times that error, where it would only stagnate."""
_BLOCK_CURVATURE = 10.0
"""Eigen-directions whose Hessian entry may exceed this (2C * active share * eigenvalue) get the exact block..."""
_BLOCK_COST = 2.0
"""...as long as building the block (active rows x r^2) costs at most this many Hessian products (rows x d)."""
_EXACT_COST = 20.0
"""The exact step is taken when it costs at most this many Hessian products (about what CG with the block
preconditioner needs when few rows are active, i.e. at large C)."""
_GATHER_CHUNK_ELEMENTS = 1 << 24
"""Gathered active-row numbers per chunk of problems (bounds that buffer)."""
_LINE_SEARCH_STEPS = 30
_LINE_SEARCH_RTOL = 1e-9


@dataclass
class SquaredHingeSolution:
    """Weights of every problem in the rotated basis ``v`` [B, d+1, K], Newton steps taken [B, K], and whether
    each problem met the stopping rule [B, K]."""

    weights: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor


class _BlockPreconditioner:
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
        top = residual[:, -size:, :].permute(0, 2, 1).unsqueeze(-1)
        solved = torch.cholesky_solve(top, self.factors).squeeze(-1).permute(0, 2, 1)
        return torch.cat([scaled[:, :-size, :], solved], dim=1)


class SquaredHingeProblems:
    """The shared part of a batch of problems: design matrices ``x`` [B, n, d] (rows past a fold's end padded,
    ``mask`` [B, n] false there) with the constant feature ``intercept_scaling`` appended, rotated onto the
    eigenbasis of their Gram matrices. :meth:`solve` then fits any targets and C on them."""

    def __init__(self, x: torch.Tensor, mask: torch.Tensor, intercept_scaling: float = 1.0) -> None:
        if x.dim() != 3 or mask.shape != x.shape[:2]:
            raise ValueError(f"x must be [B, n, d] with mask [B, n], got {tuple(x.shape)} and {tuple(mask.shape)}")
        if intercept_scaling <= 0:
            raise ValueError(f"intercept_scaling must be positive, got {intercept_scaling}")
        self.intercept_scaling = float(intercept_scaling)
        self.mask = mask.to(torch.float64)
        x = x.to(torch.float64)
        constant = torch.full_like(x[..., :1], self.intercept_scaling)
        design = torch.cat([x, constant], dim=-1) * self.mask[..., None]
        self.eigenvalues, self.basis = torch.linalg.eigh(design.transpose(1, 2) @ design)
        batch, n, width = design.shape
        # One zero row after each member's rows, where gathers of fewer active rows than the longest point.
        padded = torch.cat([design @ self.basis, design.new_zeros(batch, 1, width)], dim=1)
        self.z_rows = padded.reshape(batch * (n + 1), width)
        self.z = padded[:, :n]
        # Eigen-direction-major float32 copies: a leading range of directions is then one contiguous block.
        self.z_t_low = self.z.transpose(1, 2).float().contiguous()
        self.z_t_squared = self.z_t_low.square()
        self.rows = self.mask.sum(dim=1)

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
        y = targets.to(self.z) * self.mask[..., None]
        batch, _, width = self.z.shape
        v = self.z.new_zeros(batch, width, y.shape[-1]) if start is None else start.to(self.z).clone()
        positives = (y > 0).to(self.z).sum(dim=1)
        smaller_side = torch.minimum(positives, self.rows[:, None] - positives).clamp_min(1.0)
        initial_norm = (2.0 * c * self.z.transpose(1, 2) @ y).norm(dim=1)
        threshold = tol * smaller_side / self.rows[:, None] * initial_norm
        margin = y * (self.z @ v)
        n_iter = torch.zeros(y.shape[0], y.shape[-1], dtype=torch.long, device=y.device)
        split = self._precision_split(c)
        for step in range(max_iter + 1):
            violation = (1.0 - margin).clamp_min(0.0) * self.mask[..., None]
            gradient = v - 2.0 * c * (self.z.transpose(1, 2) @ (violation * y))
            norm = gradient.norm(dim=1)
            done = norm <= threshold
            if bool(done.all()) or step == max_iter:
                break
            active = (violation > 0).to(self.z)
            # Loose while the active set moves; near the end just tight enough for the next step to meet the rule
            # (with the active set fixed the objective is quadratic and the new gradient is the CG residual).
            forcing = torch.maximum(norm / initial_norm, 0.5 * threshold / norm.clamp_min(1e-300))
            rtol = forcing.clamp(min=_CG_RTOL_MIN, max=_CG_RTOL_MAX)
            rhs = -gradient * (~done)[:, None, :].to(gradient)
            direction = self._newton_direction(rhs, active, c, rtol, ~done, split)
            along = y * (self.z @ direction)
            length = self._line_search(v, direction, margin, along, c)
            v = v + length[:, None, :] * direction
            margin = margin + length[:, None, :] * along
            n_iter += (~done).long()
        return SquaredHingeSolution(weights=v, n_iter=n_iter, converged=done)

    def _newton_direction(
        self, rhs: torch.Tensor, active: torch.Tensor, c: float, rtol: torch.Tensor, live: torch.Tensor,
        split: tuple[int, torch.Tensor],
    ) -> torch.Tensor:
        """Solve ``H s = rhs`` for every live problem: exactly for those with few active rows (cheaper than the
        CG steps they would need), by preconditioned CG for the others."""
        batch, n, width = self.z.shape
        problems = active.shape[-1]
        counts = active.sum(dim=1)
        exact_cost = counts * counts * width + counts**3 / 3.0
        exact = live & (exact_cost <= _EXACT_COST * 2.0 * n * width)
        iterative = live & ~exact
        direction = torch.zeros_like(rhs)
        flat = direction.permute(0, 2, 1).reshape(batch * problems, width)
        for part in self._chunks(torch.nonzero(exact.flatten()).squeeze(1), counts, width):
            flat[part] = self._exact_solve(rhs, active, counts, part, c)
        direction = flat.reshape(batch, problems, width).permute(0, 2, 1)
        if bool(iterative.any()):
            diagonal = 1.0 + 2.0 * c * (self.z_t_squared @ active.float()).double()
            preconditioner = _BlockPreconditioner(diagonal, self._block_factors(active, counts, iterative, c))
            product = self._hessian_product(active, c, split)
            direction = direction + self._conjugate_gradients(rhs, product, preconditioner, rtol, iterative)
        return direction

    def _exact_solve(
        self, rhs: torch.Tensor, active: torch.Tensor, counts: torch.Tensor, problems: torch.Tensor, c: float
    ) -> torch.Tensor:
        """``(I + 2C U^T U)^{-1} rhs = rhs - U^T (I / 2C + U U^T)^{-1} U rhs`` [P, d+1] for flat ``problems`` [P]
        through their active rows U (zero rows pad them: they add ``1 / 2C`` on the diagonal and nothing else)."""
        rows = self._gather_active(active, counts, self.z_rows, problems)
        columns = rhs.permute(0, 2, 1).reshape(-1, rhs.shape[1])[problems].unsqueeze(-1)
        bracket = rows @ rows.transpose(-1, -2)
        bracket.diagonal(dim1=-2, dim2=-1).add_(0.5 / c)
        inner = torch.cholesky_solve(rows @ columns, torch.linalg.cholesky(bracket))
        return (columns - rows.transpose(-1, -2) @ inner).squeeze(-1)

    def _precision_split(self, c: float) -> tuple[int, torch.Tensor]:
        """How many leading eigen-directions CG multiplies in float32 at this C, and the float64 rows of the others
        [B, d+1-low, n]: those whose 2C * eigenvalue would amplify float32 rounding past ``_LOW_PRECISION_ERROR``."""
        amplified = 2.0 * c * self.eigenvalues * torch.finfo(torch.float32).eps > _LOW_PRECISION_ERROR
        low = self.z.shape[-1] - int(amplified.sum(dim=1).max())
        return low, self.z[..., low:].transpose(1, 2).contiguous()

    def _hessian_product(
        self, active: torch.Tensor, c: float, split: tuple[int, torch.Tensor]
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(p, live) -> H p`` for the ``live`` problems [B, K] (the others' columns stay at ``p``),
        ``H = I + 2C Z^T diag(active) Z``, in the precisions of ``split``. Only live columns enter the matrix
        products, so problems solved exactly, or whose CG has converged, cost nothing."""
        n, width = self.z.shape[1:]
        low, z_t_high = split
        z_t_low = self.z_t_low[:, :low]

        def product(p: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
            count = int(live.sum(dim=1).max())
            order = torch.sort(live.to(torch.uint8), dim=1, descending=True, stable=True).indices[:, :count]
            columns = torch.where(torch.arange(count, device=live.device) < live.sum(dim=1, keepdim=True),
                                  order, order[:, :1])
            picked = p.gather(2, columns[:, None, :].expand(-1, width, -1))
            weights = active.gather(2, columns[:, None, :].expand(-1, n, -1))
            projected = z_t_low.transpose(1, 2) @ picked[:, :low].float()
            projected = weights * (projected.double() + z_t_high.transpose(1, 2) @ picked[:, low:])
            result = torch.empty_like(picked)
            result[:, :low] = z_t_low @ projected.float()
            result[:, low:] = z_t_high @ projected
            full = torch.zeros_like(p).scatter_(2, columns[:, None, :].expand(-1, width, -1), result)
            return p + 2.0 * c * full

        return product

    def _block_size(self, counts: torch.Tensor, c: float) -> int:
        """How many top eigen-directions get the exact block for problems with ``counts`` active rows (0: none):
        those of large curvature, as long as the blocks cost at most ``_BLOCK_COST`` Hessian products."""
        share = (counts / self.rows[:, None]).amax(dim=1, keepdim=True)
        wanted = int((2.0 * c * share * self.eigenvalues > _BLOCK_CURVATURE).sum(dim=1).max())
        used = counts[counts > 0]
        if wanted == 0 or len(used) == 0:
            return 0
        rows, width = float(self.rows.max()), self.z.shape[-1]
        affordable = int((_BLOCK_COST * rows * width / float(used.mean())) ** 0.5)
        return min(wanted, affordable, width)

    def _block_factors(
        self, active: torch.Tensor, counts: torch.Tensor, wanted: torch.Tensor, c: float
    ) -> torch.Tensor | None:
        """Cholesky factors [B, K, r, r] of each ``wanted`` problem's Hessian on the top r eigen-directions, built
        from its active rows (``m * r^2`` for m active rows; identity for the others), or None when no direction
        needs one."""
        size = self._block_size(counts * wanted, c)
        if size == 0:
            return None
        batch, _, width = self.z.shape
        problems = active.shape[-1]
        top = self.z_rows[:, width - size :]
        eye = torch.eye(size, dtype=self.z.dtype, device=self.z.device)
        factors = eye.repeat(batch * problems, 1, 1)
        for part in self._chunks(torch.nonzero(wanted.flatten()).squeeze(1), counts, size):
            block = self._gather_active(active, counts, top, part)
            factors[part] = torch.linalg.cholesky(eye + 2.0 * c * (block.transpose(-1, -2) @ block))
        return factors.reshape(batch, problems, size, size)

    @staticmethod
    def _chunks(problems: torch.Tensor, counts: torch.Tensor, width: int) -> list[torch.Tensor]:
        """Flat ``problems`` grouped by similar active-row counts (little padding when gathered together), each
        group's gathered rows within ``_GATHER_CHUNK_ELEMENTS``."""
        sizes = counts.flatten()[problems]
        problems = problems[torch.argsort(sizes)]
        sizes = sizes.sort().values.long().tolist()
        groups, first = [], 0
        while first < len(sizes):
            last = first + 1
            while last < len(sizes) and (last - first + 1) * max(sizes[last], 1) * width <= _GATHER_CHUNK_ELEMENTS:
                last += 1
            groups.append(problems[first:last])
            first = last
        return groups

    def _gather_active(
        self, active: torch.Tensor, counts: torch.Tensor, source: torch.Tensor, problems: torch.Tensor
    ) -> torch.Tensor:
        """The active rows of ``source`` (columns of :attr:`z_rows`) for each of the flat ``problems`` [P] (index
        b * K + k): [P, m, w] with m their largest count, each problem's rows first and zero rows after them."""
        n = self.z.shape[1]
        per_batch = active.shape[-1]
        member, column = problems // per_batch, problems % per_batch
        sizes = counts.flatten()[problems]
        rows = int(sizes.max())
        order = torch.sort(active[member, :, column], dim=1, descending=True, stable=True).indices[:, :rows]
        beyond = torch.arange(rows, device=active.device)[None, :] >= sizes[:, None]
        index = torch.where(beyond, n, order) + (member * (n + 1))[:, None]
        return source.index_select(0, index.reshape(-1)).reshape(len(problems), rows, source.shape[-1])

    def _conjugate_gradients(
        self, rhs: torch.Tensor, product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        preconditioner: _BlockPreconditioner, rtol: torch.Tensor, live: torch.Tensor,
    ) -> torch.Tensor:
        """Preconditioned CG for every column still ``live``, each to its own relative residual ``rtol``."""
        solution = torch.zeros_like(rhs)
        residual = rhs.clone()
        bound = rtol * rhs.norm(dim=1)
        live = live & (residual.norm(dim=1) > bound)
        scaled = preconditioner(residual)
        direction = scaled
        inner = (residual * scaled).sum(dim=1)
        for _ in range(_CG_MAX_STEPS):
            if not bool(live.any()):
                break
            hd = product(direction, live)
            curvature = (direction * hd).sum(dim=1)
            alpha = torch.where(live, inner / curvature.clamp_min(1e-300), torch.zeros_like(inner))
            solution = solution + alpha[:, None, :] * direction
            residual = residual - alpha[:, None, :] * hd
            live = live & (residual.norm(dim=1) > bound)
            scaled = preconditioner(residual)
            new_inner = (residual * scaled).sum(dim=1)
            beta = torch.where(live, new_inner / inner.clamp_min(1e-300), torch.zeros_like(inner))
            direction = scaled + beta[:, None, :] * direction
            inner = new_inner
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
            second = curvature0 + 2.0 * c * ((slack > 0).to(slack) * along * along).sum(dim=1)
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
