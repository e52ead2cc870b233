"""Overrides that shrink ``dcglr-vit-tiny`` to a model that trains in seconds: 256 points, a 1-block 32-wide ViT,
64 prototypes. Tests import it (``pythonpath`` in pyproject.toml) and append what they need; a later override of
the same key wins."""

TINY_DCGLR = (
    "data.num_points=256",
    "dcglr.global_points=256",
    "dcglr.local_points=64",
    "dcglr.num_local=2",
    "dcglr.num_half_res=1",
    "dcglr.out_dim=64",
    "dcglr.head_hidden_dim=64",
    "dcglr.head_bottleneck_dim=32",
    "encoder.group_size=16",
    "encoder.points_per_group=16",
    "encoder.embed_dim=32",
    "encoder.depth=1",
    "encoder.num_heads=2",
)
