"""The layer rules of ``CONTRIBUTING.md`` ("Layers"), read from the source with :mod:`ast`.

Every module of ``ctmc_lab`` and ``proofs_check`` is parsed (never imported), and every import
in it, at module level or inside a function, is resolved to the module it names:

(a) a ``ctmc_lab`` module imports only from its own layer or a layer below it
    (:data:`LAYERS`); ``ctmc_lab.testing`` may import any layer but ``cli``;
(b) no module imports a private name (``_x``) of a module in another layer, by
    ``from m import _x`` or by ``m._x`` on an imported module; a private module
    (``pkg._mod``) is imported only from inside ``pkg``;
(c) ``proofs_check`` imports only public ``ctmc_lab`` modules below the command line (its
    ``__main__`` alone hands argv to ``ctmc_lab.cli.main``), and of ``ctmc_lab`` only the
    command line (``ctmc-lab verify``) imports ``proofs_check``, and only its public modules:
    the verifier sits between the core's layers and ``cli``;
(d) outside ``ctmc_lab.sources`` no code branches on ``isinstance(x, JointDistribution)`` or
    ``isinstance(x, MarkovChain)``: a source is used through its protocol.

Each rule also runs on a planted violation, so a checker that stopped seeing imports would fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The core's layers, from the ground up; a module may import from its own layer and those before it.
LAYERS = (
    ("ctmc_lab._validation", "ctmc_lab.io", "ctmc_lab.sequences"),
    ("ctmc_lab.masks",),
    ("ctmc_lab.sources",),
    ("ctmc_lab.forward",),
    ("ctmc_lab.exact",),
    ("ctmc_lab.estimation",),
    ("ctmc_lab.studies",),
    ("ctmc_lab.plotting",),
    ("ctmc_lab.conformance",),
    ("ctmc_lab.cli",),
)
#: May import every layer but the command line (strategies build sources, generators, schedules).
TESTING = "ctmc_lab.testing"
#: The only module outside ctmc_lab that proofs_check imports from ctmc_lab besides the public
#: layers: it reads no argv, it writes the report atomically and shows progress.
PROOFS_CHECK_IO = "ctmc_lab.io"
#: The one module of proofs_check that may import the command line: ``python -m proofs_check``
#: is ``ctmc-lab verify``, so it hands its argv to ``ctmc_lab.cli.main``.
PROOFS_CHECK_MAIN = "proofs_check.__main__"
#: Types a module outside ``sources`` must not dispatch on.
SOURCE_TYPES = frozenset({"JointDistribution", "MarkovChain"})

#: Modules allowed an ``isinstance`` dispatch on source types: none. Kept as a name so a
#: temporary exception during a refactor is visible in one place; the set may only shrink.
PENDING: set[str] = set()

#: Imports allowed to break rule (a) or (b), as (importing module, imported module): none.
PENDING_IMPORTS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Violation:
    """A broken rule: ``module`` (line ``line``) imports ``target``; ``what`` says which rule."""

    module: str
    line: int
    target: str
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


@dataclass(frozen=True)
class Import:
    """One import: the module it names (resolved), the names taken from it, where it is."""

    module: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def known_modules(root: Path = ROOT) -> set[str]:
    return {module_name(p, root) for pkg in ("ctmc_lab", "proofs_check") for p in source_files(pkg, root)}


def _absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(tree: ast.AST, here: str, *, is_package: bool, modules: set[str]) -> list[Import]:
    """Every import of ``tree`` (module ``here``), ``from pkg import sub`` resolved to ``pkg.sub``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, here, is_package)
            plain = []
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    out.append(Import(f"{base}.{alias.name}", (), node.lineno))
                else:
                    plain.append(alias.name)
            if plain:
                out.append(Import(base, tuple(plain), node.lineno))
    return out


def module_aliases(tree: ast.AST, here: str, *, is_package: bool, modules: set[str]) -> dict[str, str]:
    """Local names bound to a module of the tree (``from ctmc_lab.exact import scores`` binds ``scores``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    out[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, here, is_package)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    out[alias.asname or alias.name] = f"{base}.{alias.name}"
    return out


def layer_of(module: str) -> int | None:
    """Index of ``module``'s layer in :data:`LAYERS` (None for ``ctmc_lab`` itself, testing, others)."""
    for index, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return index
    return None


def group_of(module: str) -> str:
    """The unit inside which private names are shared: a layer (``ctmc_lab.cli``), testing, or a package."""
    index = layer_of(module)
    if index is not None:
        return "/".join(LAYERS[index])
    if module == TESTING or module.startswith(TESTING + "."):
        return TESTING
    return module.split(".")[0]


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _private_module_owner(module: str) -> str | None:
    """The package a private module is private to (``ctmc_lab.cli._common`` -> ``ctmc_lab.cli``)."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:i])
    return None


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(path: Path, root: Path = ROOT, modules: set[str] | None = None) -> list[Violation]:
    """Every broken rule (a)-(c) of one file."""
    modules = known_modules(root) if modules is None else modules
    here = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    in_core = _inside(here, "ctmc_lab")
    for imp in imports(tree, here, is_package=is_package, modules=modules):
        target = imp.module
        if in_core and _inside(target, "proofs_check"):
            if layer_of(here) != len(LAYERS) - 1:
                found.append(Violation(here, imp.line, target, f"ctmc_lab imports the verifier {target}"))
            elif _private_module_owner(target) or any(is_private(n) for n in imp.names):
                found.append(Violation(here, imp.line, target, f"the command line imports a private part of {target}"))
        if not _inside(target, "ctmc_lab") or target == "ctmc_lab" and set(imp.names) <= {"__version__"}:
            continue
        # (a) imports run downward
        src, dst = layer_of(here), layer_of(target)
        if target == "ctmc_lab":
            found.append(
                Violation(
                    here,
                    imp.line,
                    target,
                    f"imports the package facade (ctmc_lab.{', '.join(imp.names)}); import the module",
                )
            )
        elif in_core and here != "ctmc_lab" and dst is not None:
            if here == TESTING or here.startswith(TESTING + "."):
                if target.startswith("ctmc_lab.cli"):
                    found.append(Violation(here, imp.line, target, f"testing imports the command line {target}"))
            elif src is not None and dst > src:
                found.append(Violation(here, imp.line, target, f"layer {LAYERS[src][0]} imports upward from {target}"))
        # (b) private modules stay in their package, private names in their layer
        owner = _private_module_owner(target)
        if owner is not None and not _inside(here, owner):
            found.append(Violation(here, imp.line, target, f"imports the private module {target} from outside {owner}"))
        if group_of(here) != group_of(target):
            for name in imp.names:
                if is_private(name):
                    found.append(Violation(here, imp.line, target, f"imports the private name {name} of {target}"))
        # (c) the verifier uses the public API
        if _inside(here, "proofs_check") and here != PROOFS_CHECK_MAIN and layer_of(target) == len(LAYERS) - 1:
            found.append(Violation(here, imp.line, target, f"proofs_check imports the command line {target}"))
    aliases = module_aliases(tree, here, is_package=is_package, modules=modules)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            target = aliases[node.value.id]
            if is_private(node.attr) and group_of(here) != group_of(target):
                found.append(Violation(here, node.lineno, target, f"uses the private name {node.attr} of {target}"))
    return found


def _type_names(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Tuple):
        return set().union(*(_type_names(e) for e in node.elts))
    if isinstance(node, ast.BinOp):  # isinstance(x, A | B)
        return _type_names(node.left) | _type_names(node.right)
    return set()


def source_dispatch(path: Path) -> list[int]:
    """Lines of ``isinstance(x, JointDistribution | MarkovChain)`` (or a tuple holding one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("isinstance", "issubclass")
        and len(node.args) == 2
        and _type_names(node.args[1]) & SOURCE_TYPES
    ]


ALL_FILES = source_files("ctmc_lab") + source_files("proofs_check")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path):
    found = [v for v in violations(path) if (v.module, v.target) not in PENDING_IMPORTS]
    assert found == [], "\n".join(map(str, found))


def test_pending_imports_are_still_pending():
    # A fixed import leaves PENDING_IMPORTS, so the allowlist only shrinks.
    seen = {(v.module, v.target) for path in ALL_FILES for v in violations(path)}
    assert PENDING_IMPORTS <= seen, f"fixed, remove from PENDING_IMPORTS: {PENDING_IMPORTS - seen}"


def test_no_source_type_dispatch_outside_sources():
    offenders = {}
    for path in ALL_FILES:
        name = module_name(path)
        if _inside(name, "ctmc_lab.sources"):
            continue
        lines = source_dispatch(path)
        if lines:
            offenders[name] = lines
    unexpected = {name: lines for name, lines in offenders.items() if name not in PENDING}
    assert unexpected == {}, f"isinstance dispatch on a source type outside sources/: {unexpected}"
    # A module that no longer dispatches leaves PENDING, so the set only shrinks.
    assert PENDING <= set(offenders), f"no longer dispatching, remove from PENDING: {PENDING - set(offenders)}"


def test_ctmc_lab_imports_are_absolute():
    """``from ctmc_lab.masks import harmonic``, never ``from ..masks import``: the layer is in the line."""
    relative = [
        f"{module_name(p)}:{node.lineno}"
        for p in source_files("ctmc_lab")
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert relative == [], f"relative imports in ctmc_lab: {relative}"


def test_every_module_is_in_a_layer():
    stray = [
        name
        for name in (module_name(p) for p in source_files("ctmc_lab"))
        if name != "ctmc_lab" and layer_of(name) is None and not _inside(name, TESTING)
    ]
    assert stray == [], f"modules in no layer of LAYERS: {stray}"


# --- the checker sees planted violations ---------------------------------------------------------


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for pkg in ("ctmc_lab", "proofs_check"):
        (tmp_path / pkg).mkdir(exist_ok=True)
        for folder in [tmp_path / pkg, *(d for d in (tmp_path / pkg).rglob("*") if d.is_dir())]:
            (folder / "__init__.py").touch()
    return tmp_path


PLANTED = {
    "upward import": (
        "ctmc_lab/masks.py",
        "from ctmc_lab.estimation.moments import estimator_moments\n",
        "imports upward",
    ),
    "upward, inside a function": (
        "ctmc_lab/sources/joint.py",
        "def f():\n    from ctmc_lab.forward import process\n",
        "imports upward",
    ),
    "upward, package form": ("ctmc_lab/exact/scores.py", "from ctmc_lab import studies\n", "imports upward"),
    "private name across layers": (
        "ctmc_lab/exact/scores.py",
        "from ctmc_lab.forward.process import _helper\n",
        "private name _helper",
    ),
    "private attribute across layers": (
        "ctmc_lab/exact/scores.py",
        "from ctmc_lab.forward import process\nprocess._helper()\n",
        "private name _helper",
    ),
    "private module of cli": (
        "proofs_check/runner.py",
        "from ctmc_lab.cli._common import Progress\n",
        "private module ctmc_lab.cli._common",
    ),
    "verifier imports the cli": ("proofs_check/runner.py", "import ctmc_lab.cli\n", "imports the command line"),
    "core imports the verifier": (
        "ctmc_lab/exact/scores.py",
        "from proofs_check import runner\n",
        "imports the verifier",
    ),
    "cli imports a private verifier module": (
        "ctmc_lab/cli/verify.py",
        "from proofs_check._util import label\n",
        "private part of proofs_check._util",
    ),
    "verifier imports cli outside __main__": (
        "proofs_check/verifier.py",
        "from ctmc_lab.cli import main\n",
        "imports the command line",
    ),
    "relative upward import": ("ctmc_lab/sources/joint.py", "from ..exact import scores\n", "imports upward"),
}


@pytest.mark.parametrize("case", PLANTED, ids=str)
def test_a_planted_violation_is_reported(tmp_path, case):
    rel, text, message = PLANTED[case]
    extra = {
        "ctmc_lab/estimation/moments.py": "",
        "ctmc_lab/forward/process.py": "",
        "ctmc_lab/exact/scores.py": "",
        "ctmc_lab/studies/protocol.py": "",
        "ctmc_lab/cli/_common.py": "",
        "ctmc_lab/io.py": "",
        "proofs_check/_util.py": "",
        "proofs_check/runner.py": "",
    }
    root = _plant(tmp_path, {**extra, rel: text})
    found = violations(root / rel, root)
    assert any(message in v.what for v in found), found


def test_allowed_imports_are_not_reported(tmp_path):
    files = {
        "ctmc_lab/_validation.py": "def _x(): pass\n",
        "ctmc_lab/io.py": "",
        "ctmc_lab/exact/scores.py": "from ctmc_lab._validation import positive_int\nfrom ctmc_lab.forward import process\n",
        "ctmc_lab/exact/information.py": "from ctmc_lab.exact.scores import _same_layer_helper\n",
        "ctmc_lab/forward/process.py": "",
        "ctmc_lab/cli/verify.py": "from ctmc_lab.cli._common import x\nimport proofs_check\nfrom proofs_check import runner\n",
        "ctmc_lab/exact/decompositions.py": "import proofs_check\n",
        "proofs_check/runner.py": "from ctmc_lab.io import Progress\nfrom .framework import Check\n",
        "proofs_check/__main__.py": "from ctmc_lab.cli import main\n",
        "proofs_check/framework.py": "",
    }
    root = _plant(tmp_path, files)
    modules = known_modules(root)
    allowed = (
        "ctmc_lab/exact/scores.py",
        "ctmc_lab/exact/information.py",
        "ctmc_lab/cli/verify.py",
        "proofs_check/runner.py",
        "proofs_check/__main__.py",
    )
    for rel in allowed:
        assert violations(root / rel, root, modules) == [], rel
    found = violations(root / "ctmc_lab/exact/decompositions.py", root, modules)
    assert [v.what for v in found] == ["ctmc_lab imports the verifier proofs_check"]


def test_a_planted_source_dispatch_is_reported(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "def f(s):\n    return isinstance(s, (int, MarkovChain)) or isinstance(s, sources.JointDistribution)\n"
    )
    assert source_dispatch(path) == [2, 2]
