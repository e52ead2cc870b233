"""The diagnose protocol: collapse numbers without labels, and its pictures (attention only where there is a CLS)."""

from __future__ import annotations

import json

import pytest
import torch

from pointdistill.errors import DataError
from pointdistill.evaluation import diagnose
from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.vit import PointViT

CPU = torch.device("cpu")


class Collapsed(PointEncoder):
    """Every shape gets the same features (plus a vanishing, shape-dependent wobble)."""

    token_dim = feature_dim = 16

    def forward(self, points, *, num_groups=None, return_hidden=None) -> EncoderOutput:
        tokens = torch.ones(points.shape[0], 4, 16) + 1e-6 * points[:, :4, :1]
        return EncoderOutput(tokens=tokens, centers=points[:, :4], global_feature=tokens[:, 0])


def test_healthy_and_collapsed_encoders_are_told_apart(encoder_factory, helpers):
    source = helpers.make_source(labelled=False)
    options = diagnose.Options(num_points=32, split="train", max_samples=40)
    healthy = diagnose.run(encoder_factory, source, options, CPU)
    collapsed = diagnose.run(Collapsed, source, options, CPU)
    assert healthy["effective_rank"] > 2.0 and healthy["n_samples"] == 40
    assert collapsed["effective_rank"] < 1.1 and collapsed["top_eigenvalue_share"] > 0.99
    assert "plots" not in healthy


def test_pictures_with_a_vit_including_attention_and_curves(tmp_path, helpers):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps({"step": s, "loss": 3.0 - s / 10, "teacher_entropy": 2.0})
                                 for s in range(10)))
    torch.manual_seed(0)
    vit = lambda: PointViT(32, 1, 2, group_size=8, points_per_group=8, patch_embed="light")  # noqa: E731
    options = diagnose.Options(num_points=64, max_samples=16, plots_dir=str(tmp_path / "out"), tsne=False,
                               attention_shapes=2, metrics=str(metrics))
    result = diagnose.run(vit, helpers.make_source(), options, CPU)
    names = sorted(p.split("/")[-1] for p in result["plots"])
    assert names == ["attention.png", "curves.png", "spectrum.png"]
    for path in result["plots"]:
        assert (tmp_path / "out" / path.split("/")[-1]).stat().st_size > 5000


def test_encoders_without_cls_attention_get_a_note(tmp_path, encoder_factory, source):
    options = diagnose.Options(num_points=32, max_samples=10, plots_dir=str(tmp_path), tsne=False)
    result = diagnose.run(encoder_factory, source, options, CPU)
    assert "has no CLS attention" in result["attention"]
    assert [p.split("/")[-1] for p in result["plots"]] == ["spectrum.png"]


def test_errors(encoder_factory, source, tmp_path):
    with pytest.raises(DataError, match="metrics file not found"):
        diagnose.run(encoder_factory, source, diagnose.Options(metrics=str(tmp_path / "none.jsonl")), CPU)
    with pytest.raises(DataError, match="no split 'val'"):
        diagnose.run(encoder_factory, source, diagnose.Options(split="val"), CPU)
