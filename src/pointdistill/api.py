"""Python API: load a pretrained (or random) encoder and embed point clouds.

>>> from pointdistill import load_encoder
>>> encoder = load_encoder("runs/dcglr")   # a run folder or a .pt file; or load_encoder("random", config=...)
>>> vectors = encoder.embed(points)       # [N, 3] -> [F];  [B, N, 3] -> [B, F]

An official AsymDSD checkpoint (a PyTorch Lightning ``.ckpt`` of github ``remcofl/AsymDSD``) loads the same way:
its teacher encoder becomes our ViT with the AsymDSD options, sized from its tensors
(:mod:`pointdistill.models.asymdsd_checkpoint`), under the default config otherwise (1024 points, 64 patches of 32).

``load_scene_encoder`` loads the teacher encoder of a scene method (DOS), and ``load_method`` the whole method of a
checkpoint (student, teacher, heads, prototypes), for diagnostics of the method itself (``evaluate dos``).

``embed`` does what the evaluation protocols do to a cloud (same code): resample to the configured point count
(farthest point sampling), centre on the centroid and scale to the unit sphere, encode in eval mode without
gradients, and pool (CLS, max and mean of the final tokens by default).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from pointdistill.config import Config, config_from_dict, load_config
from pointdistill.errors import CheckpointError, ConfigError, DataError, PointDistillError
from pointdistill.evaluation.features import check_pooling, encode_batch, eval_mode, prepare_batch
from pointdistill.models.base import POOLINGS, EncoderOutput, PointEncoder

RANDOM = "random"
Points = np.ndarray | torch.Tensor | Sequence[np.ndarray]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` as given (checked)."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but no CUDA device is available")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def _as_clouds(points: Points) -> tuple[list[np.ndarray], bool]:
    """Input clouds as a list of float32 [N_i, 3] arrays, and whether the input was a single cloud."""
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    if isinstance(points, np.ndarray):
        if points.ndim == 2:
            return [_check_cloud(points, "points")], True
        if points.ndim == 3:
            return [_check_cloud(cloud, f"points[{i}]") for i, cloud in enumerate(points)], False
        raise DataError("points", f"expected an array [N, 3] or [B, N, 3], got shape {list(points.shape)}")
    if isinstance(points, (list, tuple)):
        if not points:
            raise DataError("points", "got an empty list of clouds")
        return [_check_cloud(np.asarray(cloud), f"points[{i}]") for i, cloud in enumerate(points)], False
    raise DataError("points", f"expected a NumPy array, a tensor or a list of clouds, got {type(points).__name__}")


def _check_cloud(cloud: np.ndarray, origin: str) -> np.ndarray:
    if cloud.ndim != 2 or cloud.shape[1] != 3:
        raise DataError(origin, f"expected a cloud of shape [N, 3], got {list(cloud.shape)}")
    if cloud.shape[0] == 0:
        raise DataError(origin, "cloud has no points")
    if not np.isfinite(cloud).all():
        raise DataError(origin, "cloud has NaN or infinite coordinates")
    return cloud.astype(np.float32, copy=False)


class Pretrained:
    """A module (an encoder, or a whole pretraining method) with the config it was built from and the device it runs
    on, in eval mode. ``origin`` is the checkpoint path or ``"random"``; ``step`` the optimiser step the checkpoint
    was saved at."""

    def __init__(
        self, module: torch.nn.Module, config: Config, device: torch.device, *, origin: str, step: int | None = None
    ) -> None:
        self.module = module.to(device).eval()
        self.config = config
        self.device = device
        self.origin = origin
        self.step = step
        self._state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def factory(self) -> Callable[[], Any]:
        """A function returning a fresh copy of the module with these weights (the evaluation protocols call it;
        fine-tuning gets a new copy per seed while ``.module`` stays untouched)."""

        def build() -> Any:
            module = copy.deepcopy(self.module).cpu()
            module.load_state_dict(self._state)
            return module

        return build


class Encoder(Pretrained):
    """A :class:`PointEncoder` (``.module``) with the config it was built from and the device it runs on, and the
    way the evaluation protocols feed it clouds (:meth:`embed`, :meth:`features`)."""

    module: PointEncoder

    @property
    def num_points(self) -> int:
        """Points per cloud the encoder was trained on (``data.num_points``); :meth:`embed` resamples to it."""
        return self.config.data.num_points

    def _batches(self, points: Points, num_points: int | None, batch_size: int) -> tuple[list[torch.Tensor], bool]:
        if batch_size < 1:
            raise ConfigError(f"batch_size: must be at least 1, got {batch_size}")
        clouds, single = _as_clouds(points)
        size = num_points or self.num_points
        batches = [prepare_batch(clouds[s : s + batch_size], size) for s in range(0, len(clouds), batch_size)]
        return batches, single

    def embed(
        self,
        points: Points,
        *,
        pooling: Sequence[str] = POOLINGS,
        batch_size: int = 32,
        num_points: int | None = None,
    ) -> np.ndarray:
        """Pooled float32 features: [F] for one cloud [N, 3], [B, F] for [B, N, 3] or a list of clouds of any
        sizes. Clouds are resampled to ``num_points`` (default: the configured count) and normalised."""
        pooling = check_pooling(pooling)
        batches, single = self._batches(points, num_points, batch_size)
        with eval_mode(self.module):
            features = torch.cat([
                encode_batch(self.module, batch, pooling=pooling, device=self.device, precision="fp32")
                for batch in batches
            ]).numpy()
        return features[0] if single else features

    def features(self, points: Points, *, num_points: int | None = None, batch_size: int = 32) -> EncoderOutput:
        """The full encoder output (per-token ``tokens`` [B, T, D], ``centers`` [B, T, 3], ``cls``) on CPU, for
        per-patch work (segmentation, attention plots). Inputs as in :meth:`embed`; a single cloud gets B = 1."""
        batches, _ = self._batches(points, num_points, batch_size)
        outputs = []
        with eval_mode(self.module), torch.no_grad():
            for batch in batches:
                out = self.module(batch.to(self.device))
                outputs.append(out)
        cls = None if outputs[0].cls is None else torch.cat([o.cls.float().cpu() for o in outputs])
        return EncoderOutput(
            tokens=torch.cat([o.tokens.float().cpu() for o in outputs]),
            centers=torch.cat([o.centers.float().cpu() for o in outputs]),
            global_feature=torch.cat([o.global_feature.float().cpu() for o in outputs]),
            cls=cls,
        )

    def __repr__(self) -> str:
        step = f", step={self.step}" if self.step is not None else ""
        return f"Encoder({self.config.encoder.name}/{self.config.encoder.preset}, origin={self.origin!r}{step})"


def _config_of(config: str | Config | None) -> Config:
    if isinstance(config, Config):
        return config
    return load_config(config)


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file as given, or the ``last.pt`` of a run folder (``checkpoints/last.pt``, as ``pretrain``
    writes it) or of a checkpoints folder."""
    from pointdistill.training.checkpoint import LAST

    path = Path(path).expanduser()
    if not path.is_dir():
        return path
    for candidate in (path / "checkpoints" / LAST, path / LAST):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{path}: folder holds no checkpoints/{LAST} or {LAST}; pass the checkpoint file")


def run_folder(checkpoint: Path) -> Path:
    """The run folder a checkpoint file belongs to (where ``metrics.jsonl`` and ``config.yaml`` live)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def _build(config: Config, origin: str) -> PointEncoder:
    from pointdistill.models import build_encoder

    try:
        return build_encoder(config.encoder)
    except ConfigError as error:
        raise CheckpointError(f"{origin}: unknown encoder architecture in its config ({error})") from None


def _build_scene(config: Config, origin: str) -> torch.nn.Module:
    from pointdistill.models.scene import build_scene_encoder

    try:
        return build_scene_encoder(config.scene_encoder)
    except ConfigError as error:
        raise CheckpointError(f"{origin}: unknown scene encoder architecture in its config ({error})") from None


def _checkpoint_config(file: Path, data: dict[str, Any], weights: str) -> Config:
    """The config of a checked pointdistill checkpoint that also holds ``weights`` (a state dict)."""
    if not isinstance(data.get("config"), dict) or not isinstance(data.get(weights), dict):
        raise CheckpointError(f"{file}: checkpoint has no config or {weights} weights")
    try:
        return config_from_dict(data["config"], label=f"{file} config")
    except PointDistillError as error:
        raise CheckpointError(f"{file}: its config does not fit this pointdistill ({error})") from None


def _from_checkpoint(file: Path, data: dict[str, Any], target: torch.device,
                     build: Callable[[Config, str], torch.nn.Module], architecture: Callable[[Config], str]) -> Encoder:
    """The ``encoder`` weights of a checked pointdistill checkpoint, loaded strictly into ``build(config)``."""
    cfg = _checkpoint_config(file, data, "encoder")
    module = build(cfg, str(file))
    try:
        module.load_state_dict(data["encoder"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(_mismatch_message(file, architecture(cfg), module, data["encoder"], error)) from None
    return Encoder(module, cfg, target, origin=str(file), step=int(data.get("step", 0)))


def _build_method(config: Config, origin: str) -> torch.nn.Module:
    from pointdistill.methods import build_method

    try:
        return build_method(config)
    except ConfigError as error:
        raise CheckpointError(f"{origin}: its config does not build a method ({error})") from None


def _object_architecture(cfg: Config) -> str:
    return f"{cfg.encoder.name} ({cfg.encoder.preset})"


def _scene_architecture(cfg: Config) -> str:
    return f"scene encoder ({cfg.scene_encoder.preset})"


def _load_asymdsd(file: Path, data: dict[str, Any], device: torch.device) -> Encoder:
    """The teacher encoder of an official AsymDSD Lightning checkpoint, loaded strictly into our ViT."""
    from pointdistill.models import asymdsd_checkpoint

    encoder_cfg = asymdsd_checkpoint.encoder_config(data, str(file))
    weights = asymdsd_checkpoint.map_state(asymdsd_checkpoint.teacher_state(data), str(file))
    cfg = Config().replace(encoder=encoder_cfg)
    module = _build(cfg, str(file))
    try:
        module.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise CheckpointError(_mismatch_message(file, _object_architecture(cfg), module, weights, error)) from None
    step = data.get("global_step")
    return Encoder(module, cfg, device, origin=str(file), step=step if isinstance(step, int) else None)


def load_encoder(
    path: str | Path, config: str | Config | None = None, device: str | torch.device = "auto", *, seed: int = 0
) -> Encoder:
    """The teacher encoder of a pointdistill checkpoint (file or run folder), of an official AsymDSD checkpoint
    (a Lightning ``.ckpt``), or ``"random"``.

    ``"random"`` builds the encoder of ``config`` (a preset name, a YAML path or a Config; the defaults when None)
    with weights drawn from ``torch.manual_seed(seed)``: the baseline that shows what pretraining gains. A
    checkpoint carries its own config, so passing ``config`` with one is an error rather than silently ignored.
    Raises CheckpointError for a file that is not a pointdistill checkpoint or whose weights do not fit the
    architecture its config names.
    """
    target = resolve_device(device)
    if str(path) == RANDOM:
        cfg = _config_of(config)
        torch.manual_seed(seed)
        return Encoder(_build(cfg, f"random ({cfg.encoder.name})"), cfg, target, origin=RANDOM)
    if config is not None:
        raise ConfigError("config applies to 'random' encoders only; a checkpoint carries its own config")
    from pointdistill.models.asymdsd_checkpoint import PREFIX, is_asymdsd_checkpoint
    from pointdistill.training.checkpoint import check_checkpoint, read_checkpoint

    file = checkpoint_file(path)
    data = read_checkpoint(file, foreign_objects=True)
    if is_asymdsd_checkpoint(data):
        return _load_asymdsd(file, data, target)
    check_checkpoint(file, data, hint=f" nor an AsymDSD Lightning checkpoint (no state_dict keys {PREFIX}*)")
    return _from_checkpoint(file, data, target, _build, _object_architecture)


def load_scene_encoder(
    path: str | Path, config: str | Config | None = None, device: str | torch.device = "auto", *, seed: int = 0
) -> Encoder:
    """The teacher scene encoder (:class:`~pointdistill.models.scene.SceneEncoder`) of a pointdistill checkpoint
    of a scene method, or ``"random"``: the encoder of ``config``'s ``scene_encoder`` section drawn from
    ``torch.manual_seed(seed)`` (e.g. ``config="scene-tiny"``), the floor every scene result is measured against.
    Only ``.module``, ``.config``, ``.factory()`` apply: ``embed`` is for object clouds."""
    target = resolve_device(device)
    if str(path) == RANDOM:
        cfg = _config_of(config)
        torch.manual_seed(seed)
        return Encoder(_build_scene(cfg, "random scene encoder"), cfg, target, origin=RANDOM)
    if config is not None:
        raise ConfigError("config applies to 'random' encoders only; a checkpoint carries its own config")
    from pointdistill.training.checkpoint import load_checkpoint

    file = checkpoint_file(path)
    return _from_checkpoint(file, load_checkpoint(file), target, _build_scene, _scene_architecture)


def load_method(
    path: str | Path, config: str | Config | None = None, device: str | torch.device = "auto", *, seed: int = 0
) -> Pretrained:
    """The whole pretraining method of a pointdistill checkpoint (file or run folder): student and teacher with their
    heads, prototypes and step statistics, for diagnostics that need more than the encoder (``evaluate dos``); or
    ``"random"``: the method of ``config`` drawn from ``torch.manual_seed(seed)``. ``.module`` is the
    :class:`~pointdistill.methods.base.Method`, in eval mode; ``.factory()`` gives fresh copies."""
    target = resolve_device(device)
    if str(path) == RANDOM:
        cfg = _config_of(config)
        torch.manual_seed(seed)
        return Pretrained(_build_method(cfg, f"random ({cfg.method})"), cfg, target, origin=RANDOM)
    if config is not None:
        raise ConfigError("config applies to 'random' methods only; a checkpoint carries its own config")
    from pointdistill.training.checkpoint import load_checkpoint

    file = checkpoint_file(path)
    data = load_checkpoint(file)
    cfg = _checkpoint_config(file, data, "method")
    method = _build_method(cfg, str(file))
    try:
        method.load_state_dict(data["method"], strict=True)
    except RuntimeError as error:
        message = _mismatch_message(file, f"{cfg.method} method", method, data["method"], error, weights="method")
        raise CheckpointError(message) from None
    return Pretrained(method, cfg, target, origin=str(file), step=int(data.get("step", 0)))


def _mismatch_message(file: Path, architecture: str, module: torch.nn.Module, state: dict[str, Any],
                      error: Exception, weights: str = "encoder") -> str:
    expected, found = set(module.state_dict()), set(state)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    detail = []
    if missing:
        detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    mismatched = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
    if mismatched:
        detail.append(f"{len(mismatched)} of the wrong shape (e.g. {mismatched[0].removeprefix('size mismatch for ')})")
    if not detail:
        detail.append(str(error).strip() or "weights rejected")
    return (
        f"{file}: {weights} weights do not fit the {architecture} architecture of its config: {'; '.join(detail)}"
    )
