"""Errors a user can act on.

Every failure caused by input (a file, a config key, a checkpoint) is raised as one of these, with the
offending path or key in the message, so the CLI can print one clear line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class PointDistillError(Exception):
    """Base class: the CLI prints these as ``error: <message>`` and exits with status 2."""


class DataError(PointDistillError):
    """A dataset file or folder is missing, malformed, or holds invalid values.

    ``path`` names the file (or folder) and ``problem`` says what is wrong with it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Rebuild from (path, problem), so the error survives the trip from a data-loader worker intact."""
        return type(self), (self.path, self.problem)


class ConfigError(PointDistillError):
    """A config key is unknown, has the wrong type, or holds an invalid value."""


class CheckpointError(PointDistillError):
    """A checkpoint is missing, corrupt, or belongs to another architecture or config."""


class TrainingError(PointDistillError):
    """Training cannot go on: divergence (NaN/inf loss), out of memory, or an empty data set."""
