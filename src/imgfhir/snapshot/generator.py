"""Differential → snapshot, following the FHIR profiling rules.

The base definition's snapshot is copied into an element tree; each differential element is
then located in that tree by its id — unfolding datatype or profile children, creating slices
from the pristine sliced element, and turning renamed choice paths (`valueQuantity`) into type
slices of `value[x]` — and merged into the element it names. Where the spec leaves room, the
behaviour of the HL7 reference tooling is followed, because its published snapshots are the
oracle (see bench/snapshot_agreement.py).
"""

from __future__ import annotations

from typing import Any

from imgfhir.choices import is_choice_key, upper_first
from imgfhir.packages import PackageStore, Scope, UnknownCanonical
from imgfhir.snapshot.merge import merge_element
from imgfhir.snapshot.tree import Element, Node, build, clone, flatten, split_id

FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"
_EXTENSION_SLICING: dict[str, Any] = {
    "discriminator": [{"type": "value", "path": "url"}],
    "ordered": False,
    "rules": "open",
}


class SnapshotError(Exception):
    """A snapshot cannot be produced: unknown or circular base, or an unplaceable differential element.

    `where`: (definition URL, differential element id) of the element that could not be placed, if any
    (so that a validator can point at it)."""

    where: tuple[str, str] | None = None


def _type_url(code: str) -> str | None:
    if "/" in code:  # already canonical (R5 primitives use http://hl7.org/fhirpath/System.X: no children)
        return None if code.startswith("http://hl7.org/fhirpath/") else code
    return FHIR_SD + code


class SnapshotGenerator:
    """Builds and caches snapshots for one resolution scope. Returned dicts are shared: do not mutate."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._trees: dict[str, Node] = {}
        self._stack: list[str] = []

    # -- public -------------------------------------------------------------------------

    def snapshot(self, canonical: str) -> dict[str, Any]:
        """The StructureDefinition with a complete snapshot.

        A published snapshot is used as is (it comes from the reference toolchain); a
        differential-only definition (every SUSHI-built IG profile) is generated.
        """
        url = canonical.split("|", 1)[0]
        cached = self._snapshots.get(url)
        if cached is not None:
            return cached
        sd = self.scope.resolve(canonical)
        if sd.get("resourceType") != "StructureDefinition":
            raise SnapshotError(f"{canonical} is a {sd.get('resourceType')}, not a StructureDefinition")
        result = sd if sd.get("snapshot", {}).get("element") else self.generate(sd)
        self._snapshots[url] = result
        return result

    def generate(self, sd: dict[str, Any]) -> dict[str, Any]:
        """Regenerate `sd`'s snapshot from its differential and its base's snapshot."""
        url = str(sd.get("url", sd.get("id", "?")))
        if url in self._stack:
            chain = " → ".join([*self._stack[self._stack.index(url) :], url])
            raise SnapshotError(f"circular baseDefinition: {chain}")
        base_url = sd.get("baseDefinition")
        if not isinstance(base_url, str):
            if sd.get("snapshot", {}).get("element"):
                return sd
            raise SnapshotError(f"{url} has neither a baseDefinition nor a snapshot")
        self._stack.append(url)
        try:
            try:
                base = self.snapshot(base_url)
            except UnknownCanonical as exc:
                raise SnapshotError(f"{url}: baseDefinition {base_url} is unknown in {self.scope.label}") from exc
            root = self.tree(base).copy()
            # a logical model's type is a URL; its paths start with the last segment (StructureDefinition.getTypeName)
            root.name = str(sd.get("type") or root.name).rsplit("/", 1)[-1]
            build_run = _Run(self, sd, root)
            for element in _with_ids(sd.get("differential", {}).get("element", [])):
                build_run.apply(element)
            build_run.raise_entry_minimums()
            if build_run.specialization and sd.get("kind") == "resource":
                build_run.drop_inherited_extension_slicing()
            if build_run.specialization and sd.get("kind") == "primitive-type":
                build_run.drop_inherited_value_limits()
            elements = flatten(root)
        finally:
            self._stack.pop()
        out = {k: v for k, v in sd.items() if k != "snapshot"}
        out["snapshot"] = {"element": elements}
        return out

    # -- trees ----------------------------------------------------------------------------

    def tree(self, sd: dict[str, Any]) -> Node:
        """The pristine element tree of a snapshot (cached; copy before changing it)."""
        key = str(sd.get("url"))
        tree = self._trees.get(key)
        if tree is None:
            elements = clone(sd["snapshot"]["element"])
            for el in elements:
                el.setdefault("base", {"path": el["path"], "min": el.get("min", 0), "max": el.get("max", "*")})
                for c in el.get("constraint", ()):
                    c.setdefault("source", key)
            try:
                tree = build(elements)
            except ValueError as exc:
                raise SnapshotError(f"{key}: malformed snapshot ({exc})") from exc
            self._trees[key] = tree
        return tree

    def optional_snapshot(self, canonical: str, context: str) -> dict[str, Any] | None:
        """A snapshot needed for unfolding; a missing one is a one-time warning, not a failure."""
        if self.scope.find(canonical, context=context) is None:
            return None
        return self.snapshot(canonical)


class _Run:
    """One differential applied to one working tree."""

    def __init__(self, gen: SnapshotGenerator, sd: dict[str, Any], root: Node) -> None:
        self.gen = gen
        self.sd = sd
        self.url = str(sd.get("url", ""))
        self.root = root
        self.specialization = sd.get("derivation") == "specialization"
        self.implicit_type_slicing: set[int] = set()
        self.touched: set[int] = set()
        self.touched_min: set[int] = set()
        self.stated: dict[int, set[str]] = {}  # node → the properties the differential states on it

    def raise_entry_minimums(self) -> None:
        """Extensions occur at least as often as their required slices together.

        Current reference tooling writes this into the extension element (the 2025 extension
        pack does; core R4/R5 and other slicings were published without it)."""
        for node in self.root.walk():
            if node.slices and node.name in ("extension", "modifierExtension") and id(node) not in self.touched_min:
                required = sum(s.el.get("min", 0) for s in node.slices if isinstance(s.el.get("min"), int))
                if required > node.el.get("min", 0):
                    node.el["min"] = required

    def drop_inherited_extension_slicing(self) -> None:
        """A new resource's extension elements are not sliced unless it says so (as in the core spec)."""
        for node in self.root.walk():
            if node.name in ("extension", "modifierExtension") and id(node) not in self.touched:
                node.el.pop("slicing", None)

    def drop_inherited_value_limits(self) -> None:
        """A primitive type's value is limited by its own definition only: `code` does not take
        string's maxLength, `positiveInt` not integer's bounds (as the published core snapshots have it)."""
        value = self.root.child("value")
        if value is None:
            return
        stated = self.stated.get(id(value), set())
        for key in [k for k in value.el if k == "maxLength" or k.startswith(("minValue", "maxValue"))]:
            if key not in stated:
                del value.el[key]

    def fail(self, message: str) -> SnapshotError:
        return SnapshotError(f"{self.url}: {message}")

    def apply(self, diff: Element) -> None:
        try:
            self._apply(diff)
        except SnapshotError as exc:
            if exc.where is None:
                exc.where = (self.url, str(diff["id"]))
            raise

    def _apply(self, diff: Element) -> None:
        segments = split_id(str(diff["id"]))
        if segments[0] != self.root.name and not self.specialization:
            raise self.fail(f"differential element {diff['id']} is not within {self.root.name}")
        node = self.root
        for depth, segment in enumerate(segments[1:], start=1):
            node = self.step(node, segment, segments[: depth + 1], diff if depth == len(segments) - 1 else None)
        merge_element(node.el, diff, self.url)
        self.touched.add(id(node))
        self.stated.setdefault(id(node), set()).update(diff)
        if "min" in diff:
            self.touched_min.add(id(node))

    def step(self, node: Node, segment: str, so_far: list[str], diff: Element | None) -> Node:
        name, _, slice_name = segment.partition(":")
        child = node.child(name)
        if child is None:
            self.unfold(node)
            child = node.child(name)
        if child is None:
            child = node.child(name + "[x]")  # a choice named without its [x] (seen in published core)
        if child is None:
            child = self.renamed_choice(node, name, diff)
            if child is not None and slice_name == name:
                return child  # `valueQuantity:valueQuantity` names the type slice twice
        if child is None:
            if not self.specialization:
                raise self.fail(f"differential element {'.'.join(so_far)} matches nothing in the base")
            child = self.new_element(node, name, so_far, diff)
        if slice_name:
            found = child.find_slice(slice_name)
            child = found if found is not None else self.new_slice(child, slice_name)
        return child

    # -- unfolding --------------------------------------------------------------------------

    def unfold(self, node: Node) -> None:
        """Give `node` the children of its type (or type profile, or contentReference target)."""
        if node.children:
            return
        source = self.children_source(node)
        if source is not None:
            node.children = [c.copy() for c in source.children]

    def children_source(self, node: Node) -> Node | None:
        el = node.el
        ref = el.get("contentReference")
        if isinstance(ref, str):
            return self.content_reference(ref)
        types = el.get("type") or []
        if not types or len({t.get("code") for t in types}) != 1:
            return None  # no type, or a choice of several: nothing unambiguous to unfold
        profiles = types[0].get("profile") or []
        context = f"{self.url} ({el.get('id')})"
        if len(types) == 1 and len(profiles) == 1:
            prof = self.gen.optional_snapshot(profiles[0], context)
            if prof is not None:
                return self.gen.tree(prof)
        url = _type_url(str(types[0].get("code")))
        if url is None:
            return None
        type_sd = self.gen.optional_snapshot(url, context)
        return self.gen.tree(type_sd) if type_sd is not None else None

    def content_reference(self, ref: str) -> Node:
        url, _, fragment = ref.partition("#")
        target_sd = self.gen.snapshot(url or FHIR_SD + fragment.split(".")[0])
        node = self.gen.tree(target_sd)
        for segment in split_id(fragment)[1:]:
            name, _, slice_name = segment.partition(":")
            nxt = node.child(name)
            if nxt is not None and slice_name:
                nxt = nxt.find_slice(slice_name)
            if nxt is None:
                raise self.fail(f"contentReference {ref} does not resolve")
            node = nxt
        return node

    # -- slices and choices -----------------------------------------------------------------

    def new_slice(self, entry: Node, slice_name: str) -> Node:
        """A slice is a copy of the pristine sliced element, appended after the existing slices."""
        owner = entry
        if "/" in slice_name:
            found = entry.find_slice(slice_name.rsplit("/", 1)[0])
            if found is None:
                raise self.fail(f"re-slice {slice_name} of {entry.el.get('id')} names no existing slice")
            owner = found
        dup = owner.copy(with_slices=False)
        if owner.origin is not None:
            # the slice's own element starts from the inherited definition; its children carry the
            # profile's constraints on the unsliced element, which apply to every slice
            dup.el = clone(owner.origin.el)
            _narrow_like(dup.el, owner.el, owner.origin.el)
        dup.el.pop("slicing", None)
        dup.el["sliceName"] = slice_name
        if "slicing" not in entry.el and entry.name in ("extension", "modifierExtension"):
            entry.el["slicing"] = clone(_EXTENSION_SLICING)
        owner.slices.append(dup)
        return dup

    def renamed_choice(self, node: Node, name: str, diff: Element | None) -> Node | None:
        """`valueQuantity` names the Quantity choice of `value[x]`: a type slice, as the reference tooling does.

        The implicit slicing is closed over the named types when the differential itself states
        the type (a narrowing), open otherwise; a required type slice makes the choice required.
        """
        for choice in node.children:
            if not choice.name.endswith("[x]"):
                continue
            stem = choice.name[:-3]
            if not name.startswith(stem) or len(name) == len(stem):
                continue
            suffix = name[len(stem) :]
            types = choice.el.get("type") or []
            if id(choice) in self.implicit_type_slicing:
                types = self._pristine_types(choice)  # narrowed by an earlier sibling of this profile
            matching = [t for t in types if upper_first(str(t.get("code"))) == suffix]
            if not matching:
                continue  # e.g. `studyEffectiveTimeFromStart` is an element of its own, not a type
            if diff is not None and isinstance(diff.get("min"), int) and diff["min"] > choice.el.get("min", 0):
                choice.el["min"] = diff["min"]
            if len(types) == 1 and not choice.slices:
                return choice
            existing = choice.find_slice(name)
            if existing is not None:
                return existing
            narrowing = diff is not None and bool(diff.get("type"))
            if "slicing" not in choice.el:
                rules = "closed" if narrowing else "open"
                choice.el["slicing"] = {
                    "discriminator": [{"type": "type", "path": "$this"}],
                    "ordered": False,
                    "rules": rules,
                }
                if narrowing:
                    choice.el["type"] = clone(matching)
                    self.implicit_type_slicing.add(id(choice))
            elif id(choice) in self.implicit_type_slicing:
                named = {upper_first(str(t.get("code"))) for t in choice.el["type"]} | {suffix}
                pristine = self._pristine_types(choice)
                choice.el["type"] = [clone(t) for t in pristine if upper_first(str(t.get("code"))) in named]
            dup = self.new_slice(choice, name)
            dup.el["type"] = clone(matching)
            return dup
        return None

    @staticmethod
    def _pristine_types(node: Node) -> list[dict[str, Any]]:
        source = node.origin if node.origin is not None else node
        types = source.el.get("type") or []
        return list(types)

    def new_element(self, parent: Node, name: str, so_far: list[str], diff: Element | None) -> Node:
        """Specializations add elements of their own: their base is themselves, their invariants
        those of their type's root (ele-1, ext-1, …), and a backbone gets id/extension/modifierExtension."""
        path = ".".join(s.split(":", 1)[0] for s in so_far)
        el: Element = {"id": ".".join(so_far), "path": path}
        if diff is not None:
            el["base"] = {"path": path, "min": diff.get("min", 0), "max": diff.get("max", "*")}
        types = (diff or {}).get("type") or []
        child = Node(name, el)
        # a choice or a contentReference: the invariants every element shares
        type_ref = types[0] if len(types) == 1 else {"code": "Element"}
        url = _type_url(str(type_ref.get("code")))
        type_sd = self.gen.optional_snapshot(url, f"{self.url} ({path})") if url else None
        if type_sd is not None:
            type_root = self.gen.tree(type_sd)
            inherited = [c for c in type_root.el.get("constraint", ()) if _inherited_by_new_elements(c, type_ref)]
            if inherited:
                el["constraint"] = clone(inherited)
            if len(types) == 1 and type_ref.get("code") in ("BackboneElement", "Element"):
                child.children = [c.copy() for c in type_root.children]
        parent.children.append(child)
        return child


# what a profile may narrow on a sliced element that holds for every value, so for every slice
_SLICE_NARROWING = ("type", "binding", "maxLength")
_SLICE_NARROWING_CHOICES = ("fixed", "pattern", "minValue", "maxValue")


def _narrow_like(slice_el: Element, sliced: Element, pristine: Element) -> None:
    """Give a new slice the value constraints this profile put on the sliced element.

    Every value of a slice is a value of the sliced element, so where the profile narrowed the
    sliced element (a target profile, a binding, a fixed value), the slice states that narrowing
    too instead of the base's wider definition; the slice's own differential is merged afterwards
    and may narrow further. The Java snapshot generator leaves slices at the base definition here
    (ProfilePathProcessor.processSimplePathWithOneMatchingElementInDifferential, with
    APPLY_PROPERTIES_FROM_SLICER = false) and relies on the validator checking the sliced element
    as well; our validator also walks the sliced element, so verdicts do not depend on this, but
    code generation and the per-slice rules read the slice alone.
    """
    for key in _SLICE_NARROWING:
        if key in sliced and sliced[key] != pristine.get(key):
            slice_el[key] = clone(sliced[key])
    for prefix in _SLICE_NARROWING_CHOICES:
        mine = {k: v for k, v in sliced.items() if is_choice_key(k, prefix)}
        if mine and mine != {k: v for k, v in pristine.items() if is_choice_key(k, prefix)}:
            for old in [k for k in slice_el if is_choice_key(k, prefix)]:
                del slice_el[old]
            slice_el.update(clone(mine))


def _inherited_by_new_elements(constraint: dict[str, Any], type_ref: dict[str, Any]) -> bool:
    """A new element of a specialization carries ele-1 (and ext-1 when it is an Extension)."""
    key = str(constraint.get("key", ""))
    return key.startswith("ele-") or (type_ref.get("code") == "Extension" and key.startswith("ext-"))


def _with_ids(elements: list[Element]) -> list[Element]:
    """Differential elements with ids; old definitions carry only paths (and sliceNames)."""
    out: list[Element] = []
    last_for_path: dict[str, str] = {}
    for el in elements:
        if el.get("id"):
            out.append(el)
            last_for_path[str(el["path"])] = str(el["id"])
            continue
        path = str(el["path"])
        parent_path, _, leaf = path.rpartition(".")
        parent_id = last_for_path.get(parent_path, parent_path) if parent_path else ""
        el_id = f"{parent_id}.{leaf}" if parent_id else leaf
        if el.get("sliceName"):
            el_id += f":{el['sliceName']}"
        last_for_path[path] = el_id
        out.append({**el, "id": el_id})
    return out


def generator_for(scope: Scope) -> SnapshotGenerator:
    gen = scope.memo.get("snapshot")
    if not isinstance(gen, SnapshotGenerator):
        gen = scope.memo["snapshot"] = SnapshotGenerator(scope)
    return gen


def snapshot_of(store: PackageStore, canonical: str, release: str | None = None) -> dict[str, Any]:
    """Snapshot of `canonical`, resolved in the scope of the package that defines it."""
    return generator_for(store.scope_for_canonical(canonical, release)).snapshot(canonical)
