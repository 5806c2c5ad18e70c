"""``Ember`` is a thin facade over explicit parts (issue 19): no mixins, and no part
reaches another through a shared ``self``; each call between parts is an attribute its
constructor was given."""

import ast
import pathlib

import ember.service
from ember.service import Ember

SERVICE = pathlib.Path(ember.service.__file__).parent


def _classes():
    for path in sorted(SERVICE.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                yield path.name, node


def test_ember_has_no_base_classes():
    assert Ember.__bases__ == (object,)


def test_no_class_of_the_service_inherits_another():
    """Only protocols and values may have bases; no part is a mixin of another."""
    allowed = {"Protocol", "Exception"}
    bases = {"%s.%s" % (name, cls.name): [ast.unparse(b) for b in cls.bases]
             for name, cls in _classes() if cls.bases}
    assert {k: v for k, v in bases.items() if not set(v) <= allowed} == {}


def _own_names(cls: ast.ClassDef) -> set:
    """What a class defines: its methods, class attributes, and what ``__init__`` (or any
    method) assigns to ``self``."""
    names = set()
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    for node in ast.walk(cls):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign))
                   else [])
        for target in targets:
            for elt in getattr(target, "elts", [target]):
                if (isinstance(elt, ast.Attribute) and isinstance(elt.value, ast.Name)
                        and elt.value.id == "self"):
                    names.add(elt.attr)
    return names


def test_parts_use_only_what_they_define_or_were_given():
    """Every ``self.x`` a class of ``ember.service`` reads is its own method or attribute,
    or a collaborator its constructor stored: nothing comes from a shared ``self``."""
    foreign = []
    for name, cls in _classes():
        own = _own_names(cls)
        for node in ast.walk(cls):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "self" and node.attr not in own):
                foreign.append("%s %s: self.%s" % (name, cls.name, node.attr))
    assert sorted(set(foreign)) == []


def test_every_delegation_of_the_facade_reaches_its_part(service):
    """The facade's one-line delegations name parts and methods that exist, and each
    part is built once."""
    delegated = [name for name, value in vars(Ember).items()
                 if isinstance(value, ember.service._To)]
    assert len(delegated) > 60
    for name in delegated:
        assert callable(getattr(service, name)), name
    assert service.create_backup.__self__ is service.creation
    assert service.lifecycle is service.lifecycle
