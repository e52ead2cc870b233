"""The package's layers depend one way: a module imports only from its own layer or the layers below it.

neutral (errors, config core, utils) -> ops -> data, models, losses -> methods -> training -> evaluation ->
api, demo, bench, cli. Every import counts, also those inside functions and under ``TYPE_CHECKING``: a cycle broken
by a late import is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pointdistill

PACKAGE = Path(pointdistill.__file__).parent
LAYERS = {
    "errors": 0, "config": 0, "utils": 0, "configs": 0,
    "ops": 1,
    "data": 2, "models": 2, "losses": 2,
    "methods": 3,
    "training": 4,
    "evaluation": 5,
    "api": 6, "demo": 6, "bench": 6, "cli": 6, "__init__": 6, "__main__": 6,
}


def layer_of(module: str) -> tuple[str, int]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return top, LAYERS[top]


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name == "pointdistill" or name.startswith("pointdistill.")]


def test_every_import_points_down_or_sideways() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "pointdistill." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        top, rank = layer_of(module.removesuffix(".__init__"))
        for imported in imports_of(path):
            other, other_rank = layer_of(imported)
            if other_rank > rank:
                violations.append(f"{module} ({top}) imports {imported} ({other})")
    assert not violations, "\n".join(violations)


def test_the_layer_table_knows_every_subpackage() -> None:
    tops = {p.stem for p in PACKAGE.glob("*.py")} | {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert tops <= set(LAYERS), sorted(tops - set(LAYERS))
