"""The import graph keeps the layers drawn in ``docs/architecture.md``: the entry points
(cli, api, workers) call the service, the service the engine, the engine the driver
contract, and nothing reaches past the layer below it or back up. Every ``import`` counts, the late ones inside
functions too. ``ember.testing`` (test support) and the catalogue's migrations are
outside the graph.
"""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: the picture this test enforces: the Mermaid diagram of docs/architecture.md
DOC = ROOT / "docs" / "architecture.md"


def diagram():
    """(layers top to bottom as (name, package prefixes), base modules) as drawn: each
    ``subgraph`` is a layer, each node's label up to its first ``<br/>`` names packages
    (``ember_*``: every plugin package), the ``base`` node lists the base modules."""
    block = re.search(r"```mermaid\n(.*?)```", DOC.read_text(), re.S).group(1)
    layers, base, current = [], (), None
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("subgraph "):
            current = (line.split()[1].split("[")[0], [])
            layers.append(current)
        elif line == "end":
            current = None
        elif line.startswith("base["):
            names = line.split(":", 1)[1].rstrip('"]')
            base = tuple(n.strip() for n in names.split(","))
        elif current is not None and '["' in line:
            label = line.split('["', 1)[1].split("<br/>")[0].rstrip('"]')
            current[1].extend(n.strip().replace("*", "") for n in label.split(","))
    return [(name, tuple(prefixes)) for name, prefixes in layers], base


#: top to bottom; a module may import its own layer, the one right below, and BASE
LAYERS, BASE = diagram()
OUTSIDE = ("ember.testing", "ember.catalog.migrations")


def layer_of(module: str):
    if module in BASE:
        return "base"
    best, found = "", None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            matches = (module.startswith(prefix) if prefix.endswith("_")
                       else module == prefix or module.startswith(prefix + "."))
            if matches and len(prefix) > len(best):
                best, found = prefix, name
    return found


def modules():
    """(module name, path) of Ember's code: the core and every plugin's package."""
    trees = [(ROOT / "core", ROOT / "core" / "ember")]
    trees += [(p.parent, p) for p in ROOT.glob("plugins/*/ember_*") if p.is_dir()]
    for top, package in trees:
        for path in package.rglob("*.py"):
            parts = path.relative_to(top).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if not name.startswith(OUTSIDE) and not name.endswith(".testing"):
                yield name, path


def imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            # "from ember import engine" imports the module ember.engine
            yield from (node.module + "." + alias.name for alias in node.names)


def test_every_module_has_a_layer():
    assert [name for name, _ in modules() if layer_of(name) is None] == []


def test_nothing_reaches_past_a_layer():
    order = [name for name, _ in LAYERS]
    wrong = []
    for name, path in modules():
        mine = layer_of(name)
        for target in set(imports(path)):
            if not target.startswith("ember") or target.startswith(OUTSIDE):
                continue
            theirs = layer_of(target)
            if theirs in (None, "base") or theirs == mine:
                continue
            if mine == "base" or order.index(theirs) != order.index(mine) + 1:
                wrong.append("%s (%s) imports %s (%s)" % (name, mine, target, theirs))
    assert sorted(wrong) == []


def test_only_the_service_reaches_the_catalogue():
    """Rows are written by ``ember.service`` and ``ember.catalog`` alone: nothing else
    imports the catalogue."""
    reaching = sorted(
        name for name, path in modules()
        if not name.startswith(("ember.service", "ember.catalog"))
        and any(t == "ember.catalog" or t.startswith("ember.catalog.") for t in imports(path)))
    assert reaching == []


def test_the_picture_is_the_one_drawn():
    """The diagram has the four layers in order, joined by its arrow line, and every
    package in exactly one box."""
    assert [name for name, _ in LAYERS] == ["entry", "service", "engine", "driver"]
    assert "entry --> service --> engine --> driver" in DOC.read_text()
    boxes = [p for _, prefixes in LAYERS for p in prefixes] + list(BASE)
    assert len(boxes) == len(set(boxes)) and "ember.errors" in BASE


#: the house rule: no function over ~60 lines in product code
LONGEST_FUNCTION = 60


def test_no_function_is_over_sixty_lines():
    long = sorted(
        "%s.%s (%d lines)" % (name, node.name, node.end_lineno - node.lineno + 1)
        for name, path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION)
    assert long == []
