"""Downstream evaluation of frozen or fine-tuned encoders, and the diagnostics of a pretraining run.

- :mod:`~pointdistill.evaluation.features`: the one feature-extraction path (resample, normalise, encode, pool);
- protocols (:mod:`~pointdistill.evaluation.protocols` lists them): ``svm``, ``knn``, ``linear``, ``fewshot``,
  ``finetune``, ``partseg``, ``diagnose``, each a module with ``Options`` and ``run``;
- :mod:`~pointdistill.evaluation.online`: the cheap probe run during pretraining;
- :mod:`~pointdistill.evaluation.time_to_accuracy`: probe accuracy against training compute, and the final
  test SVM against the random initialisation (``benchmarks/time_to_accuracy.py``);
- :mod:`~pointdistill.evaluation.diagnostics` and :mod:`~pointdistill.evaluation.plots`: spectrum, effective rank
  and the PNG pictures.

Nothing is imported here, so ``pointdistill.evaluation.config`` (read by the config system) stays light.
"""
