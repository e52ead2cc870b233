"""Read every sample of a dataset and list the bad ones, without stopping at the first.

Readers raise ``DataError(file, problem)`` for anything wrong with a file (missing, truncated, non-numeric,
NaN/inf, empty, label out of range), so checking is just reading everything and collecting those errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pointdistill.data.registry import open_dataset
from pointdistill.errors import DataError


@dataclass
class CheckReport:
    """``problems`` lists (file or record, problem); ``counts`` is split -> samples listed; ``bad`` split -> failed."""

    path: str
    format: str
    counts: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def checked(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "counts": self.counts, "bad": self.bad,
                "problems": [{"file": file, "problem": problem} for file, problem in self.problems]}


def check_dataset(
    path: str | Path, format: str = "auto", progress: Callable[[int], None] | None = None, **reader_options: Any
) -> CheckReport:
    """Read every sample of every split of the dataset at ``path``; never stops at a bad file.

    A layout that cannot be opened at all (e.g. an HDF5 file missing its ``label`` key) is reported as one
    problem. Only a path that does not exist raises (DataError): there is nothing to check.
    """
    if not str(path).startswith("synthetic:") and not Path(path).expanduser().exists():
        raise DataError(path, "no such file or folder")
    try:
        source = open_dataset(path, format, **reader_options)
    except DataError as error:
        return CheckReport(str(path), format, problems=[(error.path, error.problem)])
    report = CheckReport(str(path), source.format)
    for split_name, split in source.splits.items():
        try:
            count = len(split)
        except DataError as error:
            report.problems.append((error.path, error.problem))
            report.bad[split_name] = 1
            continue
        report.counts[split_name] = count
        report.bad[split_name] = 0
        for index in range(count):
            try:
                split[index]
            except DataError as error:
                report.problems.append((error.path, error.problem))
                report.bad[split_name] += 1
            except Exception as error:  # a reader bug must not hide the other files: report it with its type
                report.problems.append((f"{split_name}[{index}]", f"unexpected {type(error).__name__}: {error}"))
                report.bad[split_name] += 1
            if progress is not None:
                progress(1)
    return report
