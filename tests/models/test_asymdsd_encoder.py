"""AsymDSD's encoder as options of the 3D-ViT: RMSNorm, bias-free linears, its patch embedding, its sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pointdistill.errors import ConfigError
from pointdistill.models import EncoderConfig, build_encoder
from pointdistill.models.blocks import CrossAttentionBlock
from pointdistill.models.common import RMS_EPS

ASYMDSD = {"patch_embed": "asymdsd", "block_norm": "rms", "bias": False}

# AsymDSD-S as the reference builds it (configs/ssrl/ssrl_model.yaml; asymdsd/layers/tokenization.py,
# transformer.py, normalization.py), counted by hand, D = 384, 12 blocks:
#   patch embedding (MemEfficientPointMaxEmbedding, bias false, RMSNorm weight only):
#     3*128 + 128 + 128*256 + 512*512 + 512 + 512*384                        =    492,544
#   position MLP (with biases): 3*128 + 128 + 128*384 + 384                  =     50,048
#   CLS token                                                                =        384
#   per block: 2 RMSNorm (2*384) + in_proj 3*384^2 + out_proj 384^2 + MLP 2*4*384^2 = 1,770,240; x12 = 21,242,880
#   final RMSNorm                                                            =        384
#   total                                                                    = 21,786,240 (README: "21.8 M")
ASYMDSD_S_PARAMETERS = 21_786_240

# AsymDSD-B (configs/ssrl/variants/model/ssrl_model_base.yaml), D = 768: the wide embedding
# (VarMemEfficientPointMaxEmbedding, biases kept) 3->256->512->1024 | 2048->2048->768 = 6,430,720; position MLP
# 99,584; CLS 768; 12 blocks of 7,079,424; final norm 768. (The reference README rounds it to "91.8 M".)
ASYMDSD_B_PARAMETERS = 91_484_928


def _count(preset: str, **options) -> nn.Module:
    with torch.device("meta"):
        return build_encoder(EncoderConfig(name="vit", preset=preset, **options))


@pytest.mark.parametrize(("preset", "expected"), [("s", ASYMDSD_S_PARAMETERS), ("b", ASYMDSD_B_PARAMETERS)])
def test_parameter_count_equals_the_reference(preset: str, expected: int) -> None:
    model = _count(preset, **ASYMDSD)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_bias_false_leaves_only_the_position_mlp_biases() -> None:
    model = _count("s", **ASYMDSD)
    biases = [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert biases == ["pos_embed.0.bias", "pos_embed.2.bias"]
    assert all(m.bias is None for m in model.blocks.modules() if isinstance(m, nn.Linear))


def test_rms_norm_everywhere_with_the_reference_epsilon() -> None:
    model = _count("s", **ASYMDSD)
    norms = [m for m in model.modules() if isinstance(m, (nn.LayerNorm, nn.RMSNorm))]
    assert len(norms) == 2 + 2 * 12 + 1  # patch embedding, two per block, final
    assert all(isinstance(m, nn.RMSNorm) and m.eps == RMS_EPS for m in norms)


def test_asymdsd_patch_embedding_layouts() -> None:
    small = _count("s", **ASYMDSD).patch_embed
    assert [m.out_features for m in small.modules() if isinstance(m, nn.Linear)] == [128, 256, 512, 384]
    wide = _count("b", **ASYMDSD).patch_embed
    linears = [m for m in wide.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (3, 256), (256, 512), (512, 1024), (2048, 2048), (2048, 768)
    ]
    assert all(m.bias is not None for m in linears)  # as the reference's MLPVarLen, which ignores its bias flag


def test_defaults_keep_the_point_mae_blocks() -> None:
    model = _count("s")
    assert isinstance(model.norm, nn.LayerNorm) and isinstance(model.blocks[0].norm1, nn.LayerNorm)
    assert model.blocks[0].attn.qkv.bias is None and model.blocks[0].attn.proj.bias is not None
    assert model.blocks[0].mlp.fc1.bias is not None and model.patch_embed.local[0].bias is not None


def test_asymdsd_encoder_runs_and_learns() -> None:
    torch.manual_seed(0)
    model = build_encoder(EncoderConfig(name="vit", embed_dim=48, depth=2, num_heads=3, **ASYMDSD))
    out = model(torch.randn(2, 256, 3))
    assert out.tokens.shape == (2, 16, 48) and out.cls.shape == (2, 48)
    out.cls.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_block_norm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="encoder.block_norm.*layer, rms"):
        build_encoder(EncoderConfig(block_norm="batch"))


def test_cross_attention_block_takes_the_same_options() -> None:
    block = CrossAttentionBlock(48, 3, norm="rms", bias=False)
    assert all(m.bias is None for m in block.modules() if isinstance(m, nn.Linear))
    assert isinstance(block.norm_query, nn.RMSNorm)
