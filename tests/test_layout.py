"""The shape of the code, checked: no import cycles, no two modules of an app with one name, a Django-free relay.

These guard what issue 9 reshaped: a newcomer can tell an app's doors from its verbs only while each module has
its own name and the dependencies run one way.
"""
import ast
import collections
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("calls", "campaigns", "contacts", "extraction", "voicebot_site", "webhooks")  # the product; simulator/ is not


def _project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _project_modules()


def _owner(name: str) -> str | None:
    """The project module a dotted import name lands in (`calls.models.Call` -> `calls.models`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(name: str, path: Path) -> set[str]:
    """Every project module this one imports at import time (module level, `if TYPE_CHECKING:` included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    statements = []
    for node in ast.parse(path.read_text()).body:
        statements.extend(node.body if isinstance(node, ast.If) else [node])
    found = set()
    for node in statements:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {owner for owner in map(_owner, found) if owner and owner != name}


def _import_cycles() -> list[list[str]]:
    graph = {name: _imported_names(name, path) for name, path in MODULES.items()}
    cycles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append(trail[trail.index(name):] + [name])
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def test_no_project_module_imports_itself_back():
    assert _import_cycles() == []


@pytest.mark.parametrize("app", APPS)
def test_no_two_modules_of_an_app_share_a_name(app):
    names = collections.Counter(
        path.name for module, path in MODULES.items() if module.split(".")[0] == app and path.name != "__init__.py"
    )
    assert [name for name, count in names.items() if count > 1] == []


def test_the_relay_imports_no_django():
    relay = {name: path for name, path in MODULES.items() if name.startswith("calls.live.relay")}
    imported = {
        alias
        for path in relay.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
    }
    assert relay and not {name for name in imported if name.split(".")[0] in {"django", "channels", "asgiref"}}


def _top_level_imports(path: Path) -> set[str]:
    """The top-level package of every import in `path`, at any depth (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names


@pytest.mark.parametrize("package", [*APPS, "simulator"])
def test_the_product_and_the_simulator_import_nothing_from_tests(package):
    assert [path.name for path in (ROOT / package).rglob("*.py") if "tests" in _top_level_imports(path)] == []


@pytest.mark.parametrize("app", APPS)
def test_the_product_never_imports_the_simulator(app):
    """The simulator runs only as its own process, started by `manage.py demo` in demo mode."""
    assert [path.name for path in (ROOT / app).rglob("*.py") if "simulator" in _top_level_imports(path)] == []
