"""The layer order of docs/LAYERS.md, read off the source: every import of every module of runtime/, quantize/,
edgedepth/ and export/ (parsed with `ast`, imports inside functions included) goes to its own layer or one below;
no two files import each other in a loop; the device kit imports the standard library, numpy, Pillow and backend
libraries only; and a module named by a string instead of an import is one of the few listed here, with why."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "quantize", "edgedepth", "export")
# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = ("runtime", "runtime.host", "quantize", "edgedepth", "export", "edgedepth verbs")
# The modules of edgedepth/ that orchestrate the others (and so may import export/): the command line and the
# verbs' implementations under stages/ (with what only they run). Everything else in edgedepth/ is a foundation
# that export/ builds on.
VERBS = ("edgedepth.__main__", "edgedepth.cli", "edgedepth.cli_help", "edgedepth.stages")
# What the device kit may import besides the standard library and itself.
DEVICE_LIBRARIES = {
    "numpy": "arrays, everywhere",
    "PIL": "Pillow: photos in, pictures out (imported where used, so bench and info run without it)",
    "onnxruntime": "the ONNX runner (and TensorRT's CPU emulation)",
    "ai_edge_litert": "the LiteRT runner",
    "tflite_runtime": "the LiteRT runner on devices with the older wheel",
    "openvino": "the OpenVINO runner",
    "coremltools": "the CoreML runner (macOS)",
    "tensorrt": "the TensorRT runner",
    "cuda": "cuda-python: the TensorRT runner's device memory",
    "pycuda": "the TensorRT runner's device memory on images without cuda-python",
}
# Libraries the device kit uses only when present, each import inside `try: … except ImportError` with a fallback.
OPTIONAL_DEVICE_LIBRARIES = {"cv2": "portrait's disc blur: OpenCV's filter2D when installed, numpy's FFT otherwise"}
# Files that name project modules in strings instead of importing them, and why each cannot import them directly.
DOTTED_LOOKUPS = {
    "export/registry.py": "each format module imports the registry to register itself: importing them here at "
                          "module level would be a file cycle, so they are named and imported on first lookup",
    "runtime/runners/registry.py": "each runner module imports the registry to register itself: importing them "
                                   "here at module level would be a file cycle, so they are named and imported "
                                   "on first lookup",
    "edgedepth/data/registry.py": "the benchmark readers' package imports the dataset registry to register them: "
                                  "importing it here at module level would be a file cycle, so it is named and "
                                  "imported on first lookup",
}
# Files that call importlib.import_module (or __import__) at all: the registries above, and backend probes whose
# strings name third-party libraries, never a project module.
DYNAMIC_IMPORTS = set(DOTTED_LOOKUPS) | {"runtime/runners/base.py", "runtime/runners/litert.py",
                                          "runtime/registry.py",  # imports the module names a registry is given
                                          "quantize/verify.py"}  # its child process imports the runner's module


@dataclass(frozen=True)
class Import:
    """One imported name, as found in one file."""

    source: str  # the importing module
    target: str  # the dotted name as written (a submodule when `from package import submodule`)
    line: int
    on_load: bool  # run when the importing module loads (not inside a function, not under TYPE_CHECKING)
    optional: bool  # inside `try: … except ImportError`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def project() -> dict[str, Path]:
    """{module name: file} of every module of the four packages."""
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def layer_of(module: str) -> str:
    if module == "runtime.host" or module.startswith("runtime.host."):
        return "runtime.host"
    if any(module == verb or module.startswith(verb + ".") for verb in VERBS):
        return "edgedepth verbs"
    return module.split(".")[0]


def resolve(name: str) -> str | None:
    """The project module an imported dotted name lives in (the longest prefix that is a module), or None."""
    modules = project()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _catches_import_error(node: ast.Try) -> bool:
    names = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
    return any(name in ("ImportError", "ModuleNotFoundError") or "ImportError" in name for name in names)


class _Imports(ast.NodeVisitor):
    """Every import of one file, with where it sits (function, TYPE_CHECKING block, guarded try)."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.package = module, module if is_package else module.rpartition(".")[0]
        self.found: list[Import] = []
        self.depth = 0  # functions entered
        self.hidden = 0  # TYPE_CHECKING blocks entered
        self.guarded = 0  # try blocks that catch ImportError entered

    def _add(self, node: ast.AST, target: str) -> None:
        self.found.append(Import(self.module, target, node.lineno, self.depth == 0 and self.hidden == 0,
                                 self.guarded > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*parent, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in project() else base)

    def _enter(self, node: ast.AST, attribute: str) -> None:
        setattr(self, attribute, getattr(self, attribute) + 1)
        self.generic_visit(node)
        setattr(self, attribute, getattr(self, attribute) - 1)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._enter(node, "depth")

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_Lambda = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self.hidden += 1
            for child in node.body:
                self.visit(child)
            self.hidden -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        if not _catches_import_error(node):
            self.generic_visit(node)
            return
        self.guarded += 1
        for child in node.body:
            self.visit(child)
        self.guarded -= 1
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(project()[module].read_text(encoding="utf-8"), filename=str(project()[module]))


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for module, path in project().items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(tree(module))
        found += visitor.found
    return tuple(found)


def project_edges(on_load_only: bool) -> dict[str, set[str]]:
    """{module: the project modules it imports}, all imports or only those run when it loads."""
    edges: dict[str, set[str]] = defaultdict(set)
    for found in imports():
        target = resolve(found.target)
        if target is not None and target != found.source and (found.on_load or not on_load_only):
            edges[found.source].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_verbs_listed_exist():
    assert all(verb in project() for verb in VERBS), [verb for verb in VERBS if verb not in project()]


def test_no_import_goes_up_a_layer():
    # Every import counts here, those inside functions too: a deferred import is still a dependency.
    upward = []
    for found in imports():
        target = resolve(found.target)
        if target is None:
            continue
        source_layer, target_layer = layer_of(found.source), layer_of(target)
        if LAYERS.index(target_layer) > LAYERS.index(source_layer):
            upward.append(f"{found.source}:{found.line} ({source_layer}) imports {target} ({target_layer})")
    assert not upward, "\n".join(upward)


def test_no_cycle_between_layers():
    edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in project_edges(on_load_only=False).items():
        edges[layer_of(source)] |= {layer_of(target) for target in targets} - {layer_of(source)}
    assert not cycles(edges)


def test_no_cycle_between_files():
    # Imports that run when a module loads (module level, outside `if TYPE_CHECKING`). Imports inside functions
    # are left out: they run after both modules have loaded, so they cannot break an import, and deferring one
    # is how a module reaches torch or a backend only when asked; the layer test above still counts them.
    found = cycles(project_edges(on_load_only=True))
    assert not found, "\n".join(" ⇄ ".join(cycle) for cycle in found)


def test_the_device_kit_imports_only_numpy_pillow_and_backends():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrong = []
    for found in imports():
        if layer_of(found.source) != "runtime":
            continue
        top = found.target.split(".")[0]
        if top in stdlib or top in DEVICE_LIBRARIES or (top == "runtime" and layer_of(found.target) == "runtime"):
            continue
        if top in OPTIONAL_DEVICE_LIBRARIES and found.optional:
            continue
        wrong.append(f"{found.source}:{found.line} imports {found.target}")
    assert not wrong, "\n".join(wrong)


def _docstrings(module: ast.Module) -> set[int]:
    """ids of the docstring nodes of a module and of its classes and functions."""
    owners = [module, *(n for n in ast.walk(module) if isinstance(n, (ast.ClassDef, ast.FunctionDef,
                                                                      ast.AsyncFunctionDef)))]
    return {id(owner.body[0].value) for owner in owners
            if owner.body and isinstance(owner.body[0], ast.Expr) and isinstance(owner.body[0].value, ast.Constant)}


def _names_a_module(text: str) -> bool:
    """Whether a string is a project module ('package.module') or 'package.module:attribute'."""
    module, colon, attribute = text.partition(":")
    return module in project() and "." in module and (not colon or attribute.isidentifier())


def test_modules_named_by_strings_are_the_listed_ones():
    named, dynamic = defaultdict(list), defaultdict(list)
    for module, path in project().items():
        where = path.relative_to(ROOT).as_posix()
        parsed = tree(module)
        docstrings = _docstrings(parsed)
        for node in ast.walk(parsed):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and _names_a_module(node.value)):
                named[where].append(f"{node.lineno}: {node.value!r}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("importlib.import_module", "import_module",
                                                                           "__import__"):
                dynamic[where].append(node.lineno)
    assert set(named) <= set(DOTTED_LOOKUPS), {k: v for k, v in named.items() if k not in DOTTED_LOOKUPS}
    assert set(dynamic) <= DYNAMIC_IMPORTS, {k: v for k, v in dynamic.items() if k not in DYNAMIC_IMPORTS}
