"""The element tree a snapshot is built on.

A StructureDefinition's flat element list is a pre-order walk of a tree in which every node
has ordinary children and, separately, slices (each slice a node with children and slices of
its own: re-slices). Working on the tree makes "insert the children of a datatype here" and
"add a slice after the existing ones" local operations; the flat list, ids and paths are
derived from it once at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

Element = dict[str, Any]


def clone(value: Any) -> Any:
    """A deep copy of JSON data; orjson round-trips several times faster than copy.deepcopy."""
    return orjson.loads(orjson.dumps(value))


class Node:
    """One element. `name` is its last path segment (`value[x]`, never the renamed `valueQuantity`)."""

    __slots__ = ("children", "el", "name", "origin", "slices")

    def __init__(self, name: str, el: Element, origin: Node | None = None) -> None:
        self.name = name
        self.el = el
        self.children: list[Node] = []
        self.slices: list[Node] = []
        # the node this one was copied from before any differential touched it: new slices
        # are made from the pristine entry, as the FHIR profiling rules (and the Java tooling) do
        self.origin = origin

    def __repr__(self) -> str:
        return f"<Node {self.el.get('id', self.name)}>"

    @property
    def slice_name(self) -> str | None:
        value = self.el.get("sliceName")
        return value if isinstance(value, str) else None

    def child(self, name: str) -> Node | None:
        for c in self.children:
            if c.name == name:
                return c
        return None

    def find_slice(self, name: str) -> Node | None:
        """Slices by full name; re-slices (`a/b`) are found under the slice `a`."""
        parts = name.split("/")
        node: Node | None = self
        acc = ""
        for part in parts:
            acc = f"{acc}/{part}" if acc else part
            assert node is not None
            node = next((s for s in node.slices if s.slice_name in (acc, part)), None)
            if node is None:
                return None
        return node

    def copy(self, *, with_slices: bool = True) -> Node:
        """Deep copy of this subtree, each copy remembering its pristine source."""
        dup = Node(self.name, clone(self.el))
        dup.origin = self.origin if self.origin is not None else self
        dup.children = [c.copy() for c in self.children]
        if with_slices:
            dup.slices = [s.copy() for s in self.slices]
        return dup

    def walk(self) -> Iterator[Node]:
        """Pre-order: the node, its children, then its slices (each with their own subtree)."""
        yield self
        for c in self.children:
            yield from c.walk()
        for s in self.slices:
            yield from s.walk()


def split_id(element_id: str) -> list[str]:
    """Split an element id into segments; slice names cannot contain dots (constraint eld-16)."""
    return element_id.split(".")


def build(elements: list[Element], root_name: str | None = None) -> Node:
    """Tree from a snapshot's flat element list (which must start with the root element)."""
    if not elements:
        raise ValueError("empty element list")
    first = elements[0]
    root = Node(root_name or str(first["path"]).split(".")[0], first)
    for el in elements[1:]:
        el_id = el.get("id") or _id_from_path(el)
        segments = split_id(str(el_id))
        parent = root
        for seg in segments[1:-1]:
            parent = _step(parent, seg, el_id)
        name, _, slice_name = segments[-1].partition(":")
        if slice_name:
            entry = parent.child(name)
            if entry is None:
                raise ValueError(f"slice {el_id} has no entry element before it")
            owner = entry
            if "/" in slice_name:
                found = entry.find_slice(slice_name.rsplit("/", 1)[0])
                if found is None:
                    raise ValueError(f"re-slice {el_id} comes before its slice")
                owner = found
            owner.slices.append(Node(name, el))
        else:
            parent.children.append(Node(name, el))
    return root


def _step(node: Node, segment: str, el_id: str) -> Node:
    name, _, slice_name = segment.partition(":")
    child = node.child(name)
    if child is None:
        raise ValueError(f"element {el_id} comes before its parent {name}")
    if slice_name:
        found = child.find_slice(slice_name)
        if found is None:
            raise ValueError(f"element {el_id} comes before its slice {slice_name}")
        return found
    return child


def _id_from_path(el: Element) -> str:
    path = str(el["path"])
    if el.get("sliceName"):
        return f"{path}:{el['sliceName']}"
    return path


# ElementDefinition property order (R4/R5), so generated elements read like published ones
_ORDER = [
    "id",
    "extension",
    "modifierExtension",
    "path",
    "representation",
    "sliceName",
    "sliceIsConstraining",
    "label",
    "code",
    "slicing",
    "short",
    "definition",
    "comment",
    "requirements",
    "alias",
    "min",
    "max",
    "base",
    "contentReference",
    "type",
    "defaultValue",
    "meaningWhenMissing",
    "orderMeaning",
    "fixed",
    "pattern",
    "example",
    "minValue",
    "maxValue",
    "maxLength",
    "condition",
    "constraint",
    "mustHaveValue",
    "valueAlternatives",
    "mustSupport",
    "isModifier",
    "isModifierReason",
    "isSummary",
    "binding",
    "mapping",
]
_RANK = {name: i for i, name in enumerate(_ORDER)}
_CHOICE_PREFIXES = ("defaultValue", "fixed", "pattern", "minValue", "maxValue")


def _rank(key: str) -> int:
    if key in _RANK:
        return _RANK[key]
    for prefix in _CHOICE_PREFIXES:
        if key.startswith(prefix):
            return _RANK[prefix]
    return len(_RANK)  # unknown (future) properties last, in their own order


def flatten(root: Node) -> list[Element]:
    """The snapshot element list, with ids and paths recomputed from tree positions."""
    out: list[Element] = []
    _emit(root, root.name, root.name, out)
    return [dict(sorted(el.items(), key=lambda kv: _rank(kv[0]))) for el in out]


def _emit(node: Node, node_id: str, path: str, out: list[Element]) -> None:
    node.el["id"] = node_id
    node.el["path"] = path
    out.append(node.el)
    for c in node.children:
        _emit(c, f"{node_id}.{c.name}", f"{path}.{c.name}", out)
    for s in node.slices:
        sid = node_id if node.slice_name is None else node_id.rsplit(":", 1)[0]
        _emit(s, f"{sid}:{s.slice_name}", path, out)
