"""Diagnostic pictures as PNG files: training curves, t-SNE, feature spectrum, CLS attention, confusion matrix,
a segmented scene, and DOS's prototype usage against its Zipf prior and softmap sharpness by prototype rank.

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg renderer, never through ``pyplot``:
drawing needs no display, works in threads and tests, and neither switches the user's backend nor leaves global
figure state behind. Every function writes one file and
returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from pointdistill.evaluation.diagnostics import effective_rank, feature_spectrum, usage_by_rank

_DPI = 130
_CURVE_GROUPS = (("loss", "Loss"), ("entropy", "Entropy (nats)"), ("accuracy", "Online probe accuracy (%)"))


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI, bbox_inches="tight")
    return path


def _class_colors(count: int) -> np.ndarray:
    """Distinct colours: tab10 up to 10 classes; beyond, the dark then the light halves of tab20 (so neighbouring
    classes do not get two shades of one hue), then tab20b and tab20c, cycling past 60."""
    if count <= 10:
        return colormaps["tab10"](np.arange(count))
    tab20 = colormaps["tab20"](np.arange(20))
    palette = np.concatenate([tab20[0::2], tab20[1::2], colormaps["tab20b"](np.arange(20)),
                              colormaps["tab20c"](np.arange(20))])
    return palette[np.arange(count) % len(palette)]


def plot_training_curves(records: Sequence[dict[str, Any]], path: str | Path, *, title: str = "Pretraining") -> Path:
    """Curves against ``step``: a panel for the keys holding ``loss``, one for ``entropy`` and one for the online
    probe's ``accuracy`` (panels without values are left out).

    Teacher target entropy and batch-marginal entropy on one panel are the collapse detector: collapse to one
    prototype drives both to 0, a uniform (not sharpened) teacher keeps both at log K.
    """
    steps_key = "step"
    panels = []
    for word, label in _CURVE_GROUPS:
        keys = sorted({k for r in records for k, v in r.items() if word in k and isinstance(v, (int, float))})
        if keys:
            panels.append((label, keys))
    if not panels:
        raise ValueError("no loss or entropy values in the metrics records")
    figure = Figure(figsize=(6.5 * len(panels), 4.2))
    for column, (label, keys) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), column)
        for key in keys:
            points = [(r[steps_key], r[key]) for r in records
                      if isinstance(r.get(key), (int, float)) and isinstance(r.get(steps_key), (int, float))]
            if points:
                xs, ys = zip(*points)
                marker = "o" if len(points) <= 30 else None  # a short run would otherwise draw nothing visible
                axes.plot(xs, ys, label=key, linewidth=1.4, marker=marker, markersize=3)
        axes.set_xlabel("optimiser step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, path)


def plot_time_to_accuracy(
    curves: Sequence[dict[str, Any]], path: str | Path, *, x_key: str = "train_cpu_min",
    x_label: str = "pretraining CPU-minutes (probe time excluded)", y_label: str = "validation probe accuracy (%)",
    title: str = "Time to accuracy",
) -> Path:
    """Probe accuracy against training time, one line per run (``label`` and ``curve``: points with ``x_key`` and
    ``accuracy``), each with its random-initialisation floor (its step-0 point) as a dashed line of its colour
    across the plot: a run above its own floor gained from pretraining, whatever another encoder's floor is."""
    if not curves:
        raise ValueError("no runs to plot")
    figure = Figure(figsize=(8.0, 5.0))
    axes = figure.add_subplot(1, 1, 1)
    colors = colormaps["tab10"](np.arange(len(curves)) % 10)
    for color, run in zip(colors, curves):
        xs = [point[x_key] for point in run["curve"]]
        ys = [point["accuracy"] for point in run["curve"]]
        axes.plot(xs, ys, color=color, marker="o", markersize=3.5, linewidth=1.6, label=run["label"])
        if run["curve"][0]["step"] == 0:
            axes.axhline(ys[0], color=color, linestyle="--", linewidth=1.0, alpha=0.8,
                         label=f"{run['label']}: random init ({ys[0]:.1f})")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_tsne(
    features: np.ndarray,
    labels: np.ndarray | None,
    classes: Sequence[str],
    path: str | Path,
    *,
    max_samples: int = 2000,
    seed: int = 0,
    title: str = "t-SNE of test features",
) -> Path:
    """2-D t-SNE of (a seeded random subsample of at most ``max_samples``) features, coloured by class, with a
    legend for up to 40 classes (beyond that colours repeat and could not identify a class anyway)."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(features), max_samples, replace=False)) if len(features) > max_samples else None
    x = features if keep is None else features[keep]
    y = None if labels is None else (labels if keep is None else labels[keep])
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(x, dtype=np.float32)
    )
    figure = Figure(figsize=(7.5, 6.5))
    axes = figure.add_subplot(1, 1, 1)
    size = float(np.clip(4000.0 / len(x), 4.0, 14.0))
    if y is None:
        axes.scatter(embedding[:, 0], embedding[:, 1], s=size, color="tab:blue", alpha=0.7)
    else:
        colors = _class_colors(max(len(classes), int(y.max()) + 1))
        for label in np.unique(y):
            members = y == label
            name = classes[label] if label < len(classes) else str(label)
            axes.scatter(embedding[members, 0], embedding[members, 1], s=size, color=colors[label], label=name,
                         alpha=0.8)
        shown = len(np.unique(y))
        if shown <= 40:
            axes.legend(fontsize=8 if shown <= 20 else 7, markerscale=2.0, ncol=1 if shown <= 20 else 2,
                        loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"{title} ({len(x)} shapes)")
    return _save(figure, path)


def plot_spectrum(features: np.ndarray, path: str | Path, *, title: str = "Feature covariance spectrum") -> float:
    """Eigenvalues of the feature covariance, largest first, on a log scale; returns the effective rank.

    A healthy encoder decays smoothly; a collapsed one shows a few large eigenvalues and then a cliff of many
    orders of magnitude. Numerically zero eigenvalues (M samples span at most M - 1 directions; see
    :data:`~pointdistill.evaluation.diagnostics.NUMERICAL_ZERO`) cannot be drawn on a log scale and are counted in
    the title instead.
    """
    eigenvalues = feature_spectrum(features)
    rank = effective_rank(eigenvalues)
    positive = eigenvalues[eigenvalues > 0]
    zeros = len(eigenvalues) - len(positive)
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    if len(positive):
        axes.semilogy(np.arange(1, len(positive) + 1), positive, linewidth=1.6)
    else:
        axes.text(0.5, 0.5, "all eigenvalues are zero:\nevery shape has the same features", ha="center",
                  va="center", transform=axes.transAxes, color="tab:red")
    axes.set_xlim(0, len(eigenvalues) + 1)
    axes.set_xlabel("eigenvalue index (sorted)")
    axes.set_ylabel("eigenvalue (log scale)")
    axes.grid(alpha=0.3, which="both")
    note = f"; {zeros} numerically zero, not drawn" if zeros else ""
    axes.set_title(f"{title}\neffective rank {rank:.1f} of {features.shape[1]} dims, {features.shape[0]} shapes{note}",
                   fontsize=10)
    _save(figure, path)
    return rank


def plot_attention(
    points: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray,
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
) -> Path:
    """CLS attention over patches drawn on the points: each point takes the weight of its nearest patch centre.

    ``points`` [S, N, 3], ``centers`` [S, G, 3], ``weights`` [S, G] (averaged over heads), one panel per shape;
    colours are normalised per shape so the pattern shows even when attention is diffuse.
    """
    count = len(points)
    figure = Figure(figsize=(3.6 * count, 3.9))
    for index in range(count):
        cloud, centre, weight = points[index], centers[index], weights[index]
        nearest = ((cloud[:, None, :] - centre[None, :, :]) ** 2).sum(-1).argmin(axis=1)
        value = weight[nearest]
        value = (value - value.min()) / max(float(value.max() - value.min()), 1e-12)
        axes = figure.add_subplot(1, count, index + 1, projection="3d")
        # Files are y-up: draw y as the vertical axis.
        axes.scatter(cloud[:, 0], cloud[:, 2], cloud[:, 1], c=value, cmap="inferno", s=3, depthshade=False)
        axes.view_init(elev=20, azim=-60)
        axes.set_axis_off()
        axes.set_box_aspect((1, 1, 1))
        if titles is not None:
            axes.set_title(titles[index], fontsize=9)
    figure.suptitle("CLS attention of the last block, mean over heads (per shape: dark = least, bright = most)",
                    fontsize=11)
    return _save(figure, path)


def plot_confusion(
    labels: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Row-normalised confusion matrix (each row: where the shapes of one true class went), with the counts of
    off-diagonal cells written in when the matrix is small enough to read them."""
    num = max(len(classes), int(max(labels.max(), predictions.max())) + 1)
    names = [classes[i] if i < len(classes) else str(i) for i in range(num)]
    counts = np.zeros((num, num), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    size = min(16.0, max(5.0, 0.32 * num + 2.5))
    figure = Figure(figsize=(size + 1.2, size))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    font = 8 if num <= 20 else 7
    axes.set_xticks(range(num), names, rotation=90, fontsize=font)
    axes.set_yticks(range(num), names, fontsize=font)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if num <= 20:
        for i, j in zip(*np.nonzero(counts)):
            axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                      color="white" if share[i, j] > 0.6 else "black")
    accuracy = 100.0 * np.trace(counts) / max(counts.sum(), 1)
    axes.set_title(f"{title} (accuracy {accuracy:.1f}%, {counts.sum()} shapes)")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(figure, path)


def classification_plots(
    plots_dir: str | Path,
    protocol: str,
    labels: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str],
    train_features: np.ndarray,
    test_features: np.ndarray,
    tsne: bool,
    seed: int,
) -> list[str]:
    """The pictures of a classification protocol: confusion matrix, spectrum of the train features, and the t-SNE
    of the test features when asked (it is the slow one). Returns the written paths."""
    folder = Path(plots_dir)
    written = [
        plot_confusion(labels, predictions, classes, folder / f"{protocol}_confusion.png",
                       title=f"{protocol} confusion matrix"),
    ]
    spectrum_path = folder / f"{protocol}_spectrum.png"
    plot_spectrum(train_features, spectrum_path, title="Spectrum of the train features")
    written.append(spectrum_path)
    if tsne:
        written.append(plot_tsne(test_features, labels, classes, folder / f"{protocol}_tsne.png", seed=seed))
    return [str(p) for p in written]


def plot_scene_segmentation(
    coord: np.ndarray,
    target: np.ndarray | None,
    prediction: np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    *,
    up: str = "z",
    title: str = "scene",
) -> Path:
    """Top-down view of one scene: ground truth (when known) next to the prediction, one colour per class
    (ignored points grey), drawn lowest first so that tables and beds cover the floor under them."""
    up_axis = "xyz".index(up)
    horizontal = [axis for axis in range(3) if axis != up_axis]
    order = np.argsort(coord[:, up_axis], kind="stable")
    colors = _class_colors(max(len(classes), int(prediction.max(initial=0)) + 1))
    panels = ([("ground truth", target)] if target is not None else []) + [("prediction", prediction)]
    figure = Figure(figsize=(6.0 * len(panels), 6.0))
    for column, (name, labels) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), column)
        shown = np.where(labels[order, None] >= 0, colors[np.clip(labels[order], 0, None)], (0.7, 0.7, 0.7, 1.0))
        axes.scatter(coord[order, horizontal[0]], coord[order, horizontal[1]], c=shown, s=1.0, linewidths=0)
        axes.set_aspect("equal")
        axes.set_title(f"{title}: {name}")
        axes.set_xticks([])
        axes.set_yticks([])
    present = np.unique(np.concatenate([prediction, target if target is not None else prediction]))
    handles = [axes.scatter([], [], color=colors[i], s=12, label=classes[i] if i < len(classes) else str(i))
               for i in present if i >= 0]
    figure.legend(handles=handles, loc="lower center", ncol=min(8, max(1, len(handles))), fontsize=8,
                  frameon=False)
    return _save(figure, path)


_USAGE_FLOOR = 1e-12
"""Usage below this (a prototype no point is assigned to) is drawn at it: a log axis cannot show 0."""


def plot_prototype_usage(
    usage: dict[str, np.ndarray],
    prior: np.ndarray,
    path: str | Path,
    *,
    alpha: float,
    title: str = "Prototype usage against the Zipf prior",
) -> Path:
    """Each usage curve (name -> usage [K] in any order, summing to 1) sorted from the most to the least used
    prototype, against the prior ``w_k`` (rank order) and uniform usage 1/K, on log-log axes.

    The prior is a straight line of slope -alpha. Usage that follows it means the prototypes organised around the
    power law; a flat curve is near-uniform usage (no head prototypes); a cliff is prototypes left unused.
    """
    figure = Figure(figsize=(6.5, 4.6))
    axes = figure.add_subplot(1, 1, 1)
    ranks = np.arange(1, len(prior) + 1)
    axes.loglog(ranks, np.asarray(prior, dtype=np.float64), color="black", linewidth=1.6,
                label=f"Zipf prior k^-{alpha:g}")
    axes.loglog(ranks, np.full(len(ranks), 1.0 / len(ranks)), color="grey", linestyle="--", linewidth=1.0,
                label="uniform 1/K")
    for name, values in usage.items():
        ranked = np.clip(usage_by_rank(values), _USAGE_FLOOR, None)
        axes.loglog(np.arange(1, len(ranked) + 1), ranked, linewidth=1.4, label=name)
    axes.set_xlabel("prototype rank by usage")
    axes.set_ylabel("share of the points' assignment mass")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_softmap_sharpness(
    sharpness: dict[str, np.ndarray],
    path: str | Path,
    *,
    title: str = "Softmap sharpness by prototype rank",
) -> Path:
    """Each prototype's normalised softmap entropy (entropy over a view's points / log of the view's point count:
    1 is uniform over the view, 0 a single point), one curve per entry of ``sharpness`` (name -> [K], already in
    rank order: the most used prototype, or the one of the largest prior weight, first), against the rank on a log
    axis.

    Zipf-Sinkhorn gives head prototypes (high rank) broad softmaps and tail prototypes peaked ones, so a teacher that
    follows the prior falls from left to right.
    """
    figure = Figure(figsize=(6.5, 4.6))
    axes = figure.add_subplot(1, 1, 1)
    for name, values in sharpness.items():
        values = np.asarray(values, dtype=np.float64)
        axes.semilogx(np.arange(1, len(values) + 1), values, linewidth=1.0, marker="o", markersize=2, label=name)
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("prototype rank (by teacher usage, unless the curve says otherwise)")
    axes.set_ylabel("softmap entropy / log(points in view)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)
