"""Self-distillation losses and target normalisations, one small module each."""

from pointdistill.losses.centering import Centering
from pointdistill.losses.dino import DINOLoss
from pointdistill.losses.entropy import entropy, marginal_entropy, target_entropy
from pointdistill.losses.koleo import KoLeoLoss
from pointdistill.losses.sinkhorn import SinkhornKnopp

__all__ = ["Centering", "DINOLoss", "KoLeoLoss", "SinkhornKnopp", "entropy", "marginal_entropy", "target_entropy"]
