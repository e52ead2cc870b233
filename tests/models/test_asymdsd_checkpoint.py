"""Official AsymDSD checkpoints: a Lightning file in the reference's key layout loads into our ViT and computes what
the reference computes.

No download: ``reference_encoder`` restates, in a few lines, the module tree of the reference's teacher encoder
(``asymdsd/models/point_encoder.py``, ``layers/tokenization.py``, ``layers/transformer.py``,
``layers/normalization.py``), so its ``state_dict`` has the official keys and shapes, and ``reference_forward`` its
math (torch's own ``nn.MultiheadAttention``, as the reference uses). The reference draws its FPS start at random,
ours starts at point 0, so both are fed the same patches: ours, from ``PointViT.patchify``.
"""

from __future__ import annotations

import argparse
import http
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pointdistill.api import load_encoder
from pointdistill.cli.main import main
from pointdistill.errors import CheckpointError
from pointdistill.models import asymdsd_checkpoint
from pointdistill.models.asymdsd_checkpoint import PREFIX, map_key


class ReferenceRMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + 1e-5) * weight, weight only."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def _module(**children: nn.Module) -> nn.Module:
    module = nn.Module()
    for name, child in children.items():
        setattr(module, name, child)
    return module


def _point_embedding(width: int, wide: bool) -> nn.Module:
    """MemEfficientPointMaxEmbedding (S, bias false) or VarMemEfficientPointMaxEmbedding (B: MLPVarLen with
    Dropout after each GELU and a bias on every linear)."""
    gelu, norm = nn.GELU, ReferenceRMSNorm
    if not wide:
        return _module(
            block_1=nn.Sequential(nn.Linear(3, 128, bias=False), norm(128), gelu(), nn.Linear(128, 256, bias=False)),
            block_2=nn.Sequential(
                nn.Linear(512, 512, bias=False), norm(512), gelu(), nn.Linear(512, width, bias=False)
            ),
        )
    first = nn.Sequential(
        nn.Linear(3, 256), norm(256), gelu(), nn.Dropout(0.0),
        nn.Linear(256, 512), norm(512), gelu(), nn.Dropout(0.0),
        nn.Linear(512, 1024),
    )
    second = nn.Sequential(nn.Linear(2048, 2048), norm(2048), gelu(), nn.Dropout(0.0), nn.Linear(2048, width))
    return _module(blocks=nn.ModuleList([_module(mlp=first), _module(mlp=second)]))


def reference_encoder(width: int, depth: int, heads: int, *, wide: bool = False, seed: int = 0) -> nn.Module:
    """The reference's teacher ``point_encoder`` tree with random weights (norm scales near 1)."""
    torch.manual_seed(seed)
    blocks = [
        _module(
            self_attn=_module(norm=ReferenceRMSNorm(width), attn=nn.MultiheadAttention(width, heads, bias=False,
                                                                                     batch_first=True)),
            ffn=_module(norm=ReferenceRMSNorm(width), mlp=_module(linear_1=nn.Linear(width, 4 * width, bias=False),
                                                               linear_2=nn.Linear(4 * width, width, bias=False))),
        )
        for _ in range(depth)
    ]
    position = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, width), nn.Identity())
    encoder = _module(
        cls_token=nn.Parameter(torch.empty(1, 1, width)),
        patch_embedding=_module(
            position_embedding=_module(position_embedding=position),
            point_embedding=_point_embedding(width, wide),
        ),
        encoder=_module(stack=nn.ModuleList(blocks), norm=ReferenceRMSNorm(width)),
    )
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if "norm" in name or name.endswith((".1.weight", ".5.weight")) and parameter.dim() == 1:
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter))
            else:
                parameter.normal_(0, 1 / math.sqrt(parameter.shape[-1]))
    return encoder.eval()


def reference_forward(ref: nn.Module, neighborhoods: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Final tokens [B, 1 + G, D] (CLS first) of the reference encoder on given patches; [B, G, D] without CLS."""
    embedding = ref.patch_embedding.point_embedding
    stages = [embedding.block_1, embedding.block_2] if hasattr(embedding, "block_1") else [
        b.mlp for b in embedding.blocks
    ]
    x = stages[0](neighborhoods)
    x = torch.cat([x, x.amax(dim=-2, keepdim=True).expand_as(x)], dim=-1)
    x = stages[1](x).amax(dim=-2)
    pos = ref.patch_embedding.position_embedding.position_embedding(centers)
    if hasattr(ref, "cls_token"):
        cls = ref.cls_token.expand(x.shape[0], -1, -1)
        x, pos = torch.cat([cls, x], dim=1), torch.cat([torch.zeros_like(cls), pos], dim=1)
    for block in ref.encoder.stack:
        x = x + pos
        h = block.self_attn.norm(x)
        x = x + block.self_attn.attn(h, h, h, need_weights=False)[0]
        mlp = block.ffn.mlp
        x = x + mlp.linear_2(F.gelu(mlp.linear_1(block.ffn.norm(x))))
    return ref.encoder.norm(x)


def lightning_checkpoint(ref: nn.Module, path: Path, *, heads: int | None, extra: dict | None = None) -> Path:
    """Save ``ref`` as the teacher of a Lightning-style AsymDSD checkpoint, with the student, a head and
    hyper-parameters holding Python objects (a class reference, an enum, a namespace) as the real files do."""
    weights = {f"{PREFIX}{k}": v for k, v in ref.state_dict().items()}
    weights |= {f"student.point_encoder.{k}": v.clone() for k, v in ref.state_dict().items()}
    weights |= {"teacher.cls_projection_head.mlp.0.weight": torch.randn(8, 4), "mask_token": torch.randn(1, 1, 4)}
    weights |= extra or {}
    encoder_hp = {"num_layers": len(ref.encoder.stack), "norm_layer": nn.GELU}
    if heads is not None:
        encoder_hp["num_heads"] = heads
    torch.save(
        {
            "epoch": 299,
            "global_step": 12345,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": weights,
            "hyper_parameters": {"encoder_config": encoder_hp, "training_mode": http.HTTPStatus.OK,
                                 "data": argparse.Namespace(num_points=1024)},
            "scheduler": {"step": 12345},
            "validation_epoch": 30,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[nn.Module, Path]:
    ref = reference_encoder(width=48, depth=2, heads=3)
    return ref, lightning_checkpoint(ref, tmp_path_factory.mktemp("asymdsd") / "AsymDSD-S.ckpt", heads=3)


def test_loaded_checkpoint_computes_the_reference_function(small) -> None:
    ref, path = small
    encoder = load_encoder(path, device="cpu")
    cfg = encoder.config.encoder
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.patch_embed, cfg.block_norm, cfg.bias) == (
        48, 2, 3, "asymdsd", "rms", False
    )
    assert encoder.step == 12345
    points = torch.randn(2, 256, 3)
    with torch.no_grad():
        out = encoder.module(points)
        patches = encoder.module.patchify(points)
        expected = reference_forward(ref, patches.neighborhoods, patches.centers)
    torch.testing.assert_close(out.cls, expected[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.tokens, expected[:, 1:], atol=1e-5, rtol=1e-5)


def test_wide_b_layout_maps_with_its_shifted_indices(tmp_path) -> None:
    ref = reference_encoder(width=768, depth=1, heads=12, wide=True)
    encoder = load_encoder(lightning_checkpoint(ref, tmp_path / "b.ckpt", heads=None), device="cpu")
    assert (encoder.config.encoder.num_heads, encoder.config.encoder.preset) == (12, "b")  # 768 / 64-wide heads
    points = torch.randn(1, 128, 3)
    with torch.no_grad():
        out = encoder.module(points)
        patches = encoder.module.patchify(points)
        expected = reference_forward(ref, patches.neighborhoods, patches.centers)
    torch.testing.assert_close(out.cls, expected[:, 0], atol=1e-4, rtol=1e-4)


def test_evaluate_cli_accepts_the_checkpoint_without_config(small, tmp_path, capsys) -> None:
    _, path = small
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rods.npz", classes=np.array(["a", "b"]), train_points=rng.normal(size=(8, 96, 3)),
             train_labels=np.repeat([0, 1], 4), test_points=rng.normal(size=(4, 96, 3)), test_labels=[0, 1, 0, 1])
    code = main(["evaluate", "knn", "--checkpoint", str(path), "--data", str(tmp_path / "rods.npz"), "--device",
                 "cpu", "--json", "-o", "num_points=64", "-o", "ks=[1]"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["protocol"] == "knn"
    assert result["checkpoint"] == str(path) and result["step"] == 12345 and result["encoder"] == "vit/s"


def test_wide_keys_skip_the_dropout_indices() -> None:
    embed = "patch_embedding.point_embedding.blocks."
    assert map_key(embed + "0.mlp.8.bias") == "patch_embed.local.6.bias"
    assert map_key(embed + "1.mlp.4.weight") == "patch_embed.fuse.3.weight"
    assert map_key(embed + "0.mlp.3.weight") is None
    assert map_key("encoder.stack.11.self_attn.attn.in_proj_weight") == "blocks.11.attn.qkv.weight"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({f"{PREFIX}encoder.stack.0.self_attn.attn.bias_k": torch.zeros(1, 1, 48)},
         rf"{PREFIX}encoder\.stack\.0\.self_attn\.attn\.bias_k has no counterpart"),
        ({f"{PREFIX}encoder.stack.1.ffn.mlp.linear_2.weight": torch.zeros(48, 96)},
         r"do not fit .* wrong shape \(e\.g\. blocks\.1\.mlp\.fc2\.weight"),
        ({f"{PREFIX}patch_embedding.point_embedding.block_2.0.weight": torch.zeros(512, 256)},
         r"block_2\.0\.weight has shape \[512, 256\].*\[512, 512\]"),
    ],
)
def test_foreign_layouts_name_the_file_and_key(tmp_path, extra: dict, message: str) -> None:
    path = lightning_checkpoint(reference_encoder(48, 2, 3), tmp_path / "odd.ckpt", heads=3, extra=extra)
    with pytest.raises(CheckpointError, match=rf"{tmp_path}/odd\.ckpt: .*{message}"):
        load_encoder(path, device="cpu")


def test_mpm_only_checkpoint_without_cls_loads_as_a_cls_free_vit(tmp_path) -> None:
    ref = reference_encoder(48, 2, 3)
    del ref.cls_token
    encoder = load_encoder(lightning_checkpoint(ref, tmp_path / "mpm.ckpt", heads=3), device="cpu")
    assert encoder.config.encoder.cls_token is False and encoder.module.cls_token is None
    points = torch.randn(2, 256, 3)
    with torch.no_grad():
        out = encoder.module(points)
        patches = encoder.module.patchify(points)
        expected = reference_forward(ref, patches.neighborhoods, patches.centers)
    assert out.cls is None
    torch.testing.assert_close(out.tokens, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.global_feature, expected.mean(dim=1), atol=1e-5, rtol=1e-5)


def test_lightning_file_of_another_model_is_neither_format(tmp_path) -> None:
    torch.save({"state_dict": {"model.fc.weight": torch.zeros(2, 2)}, "epoch": 1}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a pointdistill checkpoint .* nor an AsymDSD"):
        load_encoder(tmp_path / "other.ckpt", device="cpu")


def test_head_count_defaults_to_64_wide_heads() -> None:
    state = {"hyper_parameters": {"encoder_config": {"num_heads": "six"}}}
    assert asymdsd_checkpoint._num_heads(state["hyper_parameters"], 384) == 6
    assert asymdsd_checkpoint._num_heads({"encoder_config": {"num_heads": 4}}, 384) == 4
