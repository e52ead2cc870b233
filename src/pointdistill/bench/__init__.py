"""``pointdistill bench``: what this machine does with the package, measured in one run.

Every number is a measurement on the device present (CUDA when available, else the CPU), never an assertion:

- :mod:`~pointdistill.bench.peak`: the machine's dense matmul peak per precision, the reference of every ratio;
- :mod:`~pointdistill.bench.training`: per training preset, throughput, achieved FLOP/s against that peak, the
  data pipeline's and the geometry ops' shares of a step, peak memory (each preset in its own process);
- :mod:`~pointdistill.bench.ops`: FPS and k-NN time and memory as the cloud grows, with fitted growth orders;
- :mod:`~pointdistill.bench.protocols`: the evaluation protocols' own cost (features/s, the linear-SVM protocol);
- :mod:`~pointdistill.bench.report`: ``bench.json`` and the Markdown table ``bench.md``;
- :mod:`~pointdistill.bench.suite`: the settings (``--quick`` or full) and the order the parts run in.

The machine it ran on (:mod:`~pointdistill.bench.machine`) is part of every report: CPU, cores, bf16 support,
threads, torch, and the load average, since timings on a shared machine scale with whatever else runs there.
"""
