"""Registry of evaluation protocols: name -> module, imported only when asked for.

Every protocol module defines

- ``Options``: a dataclass holding every knob with its default (``evaluate -o key=value`` is validated against it,
  and the result reports all of them);
- ``run(encoder_factory, source, options, device) -> dict``: ``encoder_factory()`` returns a fresh encoder with the
  weights under evaluation (a protocol that trains the encoder calls it once per seed); ``source`` is the
  :class:`~pointdistill.data.base.DatasetSource`; the returned dict is JSON-able and holds ``protocol``,
  ``headline`` (the name of the headline metric, e.g. ``test_accuracy`` or ``test_inst_miou``), that metric in percent, the
  knobs, seeds and split sizes;
- ``HEADLINE``, the same name as a module constant.

Lazy imports keep ``pointdistill --help`` fast: a protocol's module (and scikit-learn, matplotlib, ...) is loaded
only when that protocol runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pointdistill.errors import PointDistillError

PROTOCOLS = {
    "svm": "pointdistill.evaluation.svm",
    "knn": "pointdistill.evaluation.knn",
    "linear": "pointdistill.evaluation.linear",
    "fewshot": "pointdistill.evaluation.fewshot",
    "finetune": "pointdistill.evaluation.finetune",
    "partseg": "pointdistill.evaluation.partseg",
    "diagnose": "pointdistill.evaluation.diagnose",
    "sceneseg": "pointdistill.evaluation.sceneseg",
    "dos": "pointdistill.evaluation.dos_diagnose",
}


def protocol_names() -> list[str]:
    return list(PROTOCOLS)


def get_protocol(name: str) -> ModuleType:
    """The module of protocol ``name``; a PointDistillError for an unknown one."""
    if name not in PROTOCOLS:
        raise PointDistillError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return importlib.import_module(PROTOCOLS[name])
