"""AsymDSD's predictor: cross-attention only, so one masked query never affects another's prediction."""

from __future__ import annotations

import torch

from pointdistill.models.predictor import MaskedPredictor


def predictor() -> MaskedPredictor:
    torch.manual_seed(0)
    return MaskedPredictor(32, width=16, depth=3, num_heads=2).eval()


def test_changing_one_masked_query_leaves_every_other_prediction_unchanged() -> None:
    model = predictor()
    memory, pos = torch.randn(2, 6, 32), torch.randn(2, 5, 32)
    out = model(memory, pos)
    assert out.shape == (2, 5, 32)
    moved = pos.clone()
    moved[:, 2] += 3.0
    changed = model(memory, moved)
    keep = [0, 1, 3, 4]
    torch.testing.assert_close(changed[:, keep], out[:, keep], atol=1e-6, rtol=1e-5)
    assert (changed[:, 2] - out[:, 2]).abs().max() > 1e-5
    torch.testing.assert_close(model(memory, pos[:, :1])[:, 0], out[:, 0], atol=1e-6, rtol=1e-5)


def test_every_prediction_reads_the_memory() -> None:
    model = predictor()
    memory, pos = torch.randn(1, 6, 32), torch.randn(1, 4, 32)
    out = model(memory, pos)
    memory[:, 3] += 1.0
    assert ((model(memory, pos) - out).abs().amax(dim=-1) > 1e-6).all()


def test_shared_input_projection_rms_norms_no_bias_and_position_before_every_block() -> None:
    model = predictor()
    assert all(isinstance(block.norm_query, torch.nn.RMSNorm) for block in model.blocks)
    assert not any("bias" in name for name, _ in model.blocks.named_parameters())
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    def record(_module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        inputs.append(args[0])
        outputs.append(out)

    for block in model.blocks:
        block.register_forward_hook(record)
    memory, pos = torch.randn(1, 6, 32), torch.randn(1, 4, 32)
    model(memory, pos)
    embedded_pos = model.embed(pos)
    torch.testing.assert_close(inputs[0], model.embed(model.mask_token).expand_as(embedded_pos) + embedded_pos)
    for before, after in zip(outputs, inputs[1:]):
        torch.testing.assert_close(after, before + embedded_pos)
