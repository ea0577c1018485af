"""Hypothesis strategies built from profiles: valid instances, and mutants the validator must catch.

`from_profile(canonical)` walks the compiled plan of a profile (`imgfhir.validation.plan`) and
constructs instances that meet it: cardinality (optional elements mostly omitted, bounded
depth), choice types, primitive lexical forms, fixed and pattern values, slices (each slice is
generated from its own definition, so value/pattern/type/exists discriminators hold by
construction), required and extensible bindings drawn from the offline expansion, and literal
references typed by the element's target profiles. Nothing is filtered.

A Bundle profile's entries are built from its entry slices, each from the slice's profile, and every
reference inside names an entry whose type and profile meet the reference's target profiles (an entry
is added from a target profile when none does): the EU imaging report document and its minimal
metadata collection validate as they are, with unique urn:uuid fullUrls.

`mutations(canonical)` draws a valid instance and breaks it in one targeted place, returning the
mutant and the issue (rule, FHIRPath location) the validator must report.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

import imgfhir.validation.rules  # noqa: F401 - plans compiled before the rule table is filled keep no rules
from imgfhir.packages import PackageStore, Scope, UnknownCanonical, load_store
from imgfhir.snapshot import SnapshotError
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import ProfilePlan, compile_profile, compiled_or_none, type_profile
from imgfhir.validation.rules.ranges import compare_to_bound, value_bounds

if TYPE_CHECKING:
    from imgfhir.terminology import Terminology

FHIR_SD = "http://hl7.org/fhir/StructureDefinition/"
MAX_DEPTH = 5  # below this, only required elements are generated
_RESOURCE_SKIP = frozenset({"implicitRules", "language", "text", "contained", "meta"})
# optional elements left out: they take part in invariants that construction does not model
_SKIP_OPTIONAL = frozenset({"dataAbsentReason", "extension", "modifierExtension", "id"})
_QUANTITY = frozenset({"Quantity", "SimpleQuantity", "Age", "Distance", "Duration", "Count", "MoneyQuantity"})
_NUMBERS = frozenset({"integer", "unsignedInt", "positiveInt", "decimal"})
MUTATION_KINDS = (
    "drop-required",
    "exceed-max",
    "primitive-format",
    "fixed-value",
    "pattern-value",
    "binding",
    "unknown-element",
    "closed-slice",
    "invariant",
    "choice-type",
    "dangling-reference",
)
# types no choice element of the imaging profiles allows: a `type` mutant renames a choice to one of them
_FOREIGN_TYPES: dict[str, dict[str, str]] = {
    "Address": {"city": "Elsewhere"},
    "HumanName": {"family": "Elsewhere"},
    "ContactPoint": {"value": "elsewhere"},
}


@dataclass(frozen=True, slots=True)
class ExpectedIssue:
    """What the validator must report for a mutant: an error with `rule` at `expression`."""

    kind: str
    rule: str
    expression: str
    change: str


@dataclass(slots=True)
class Site:
    """One generated value: where it is (JSON pointer, FHIRPath) and the definition it came from."""

    pointer: tuple[str | int, ...]
    expression: str
    parent_expression: str
    element: ElementPlan
    type: str | None
    key: str
    array: bool
    group_size: int  # occurrences of this element (or slice) in its parent
    slice_element: ElementPlan | None  # the slicing entry when this value belongs to a slice
    discriminating: bool  # inside a slice's discriminator path: breaking it changes slice matching
    how: str = "generated"  # generated | fixed | pattern | bound | reference


@dataclass(slots=True)
class _Draw:
    draw: Callable[[st.SearchStrategy[Any]], Any]
    sites: list[Site] = field(default_factory=list)
    contained: list[dict[str, Any]] = field(default_factory=list)  # targets built for references
    nested: bool = False  # building a contained resource: its references stay literal
    bundle: _BundleContext | None = None  # building a Bundle: references name its entries
    targets: tuple[str, ...] = ()  # target profiles of the CodeableReference being built


@dataclass(slots=True)
class _Entry:
    """One entry of a Bundle being built: planned (fullUrl, profile) before its resource exists, so
    that references made while building other entries can already name it."""

    full_url: str
    type: str
    profile: str
    conforms: frozenset[str]  # the profile and the profiles it derives from
    resource: dict[str, Any] | None = None


@dataclass(slots=True)
class _BundleContext:
    seed: int
    entries: list[_Entry] = field(default_factory=list)

    def full_url(self) -> str:
        """A fresh urn:uuid (bdl-7: fullUrls are unique): the entry's index below a drawn prefix."""
        return f"urn:uuid:{uuid.UUID(int=(self.seed << 16) | len(self.entries), version=4)}"

    def find(self, full_url: str) -> _Entry | None:
        return next((e for e in self.entries if e.full_url == full_url), None)


def upper_first(code: str) -> str:
    return code[:1].upper() + code[1:]


def _is_primitive(code: str | None) -> bool:
    return bool(code) and code[:1].islower()  # type: ignore[index]


def _is_array(element: ElementPlan) -> bool:
    base = element.ed.get("base")
    max_value = base.get("max") if isinstance(base, dict) else element.ed.get("max")
    return max_value not in ("0", "1")


# ---- primitive values ---------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID = st.text(_LETTERS + "0123456789-.", min_size=1, max_size=16)
_WORD = st.text(_LETTERS + "0123456789", min_size=1, max_size=10)
_TEXT = st.text(
    st.characters(categories=("L", "N", "P", "Zs"), max_codepoint=0x2FFF, exclude_characters="\u2028\u2029"),
    min_size=1,
    max_size=16,
).map(lambda s: s.strip() or "x")
_MOMENT = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2049, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def _date(d: datetime, precision: int) -> str:
    return [f"{d:%Y}", f"{d:%Y-%m}", f"{d:%Y-%m-%d}"][precision]


def _datetime(d: datetime, precision: int) -> str:
    return _date(d, precision) if precision < 3 else d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "integer": st.integers(-1000, 1000),
    "unsignedInt": st.integers(0, 1000),
    "positiveInt": st.integers(1, 1000),
    "integer64": st.integers(-(10**12), 10**12).map(str),
    "decimal": st.one_of(
        st.integers(-10000, 10000),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 4)),
    ),
    "string": _TEXT,
    "markdown": _TEXT,
    "code": _WORD,
    "id": _ID,
    "uri": _WORD.map(lambda w: f"http://example.org/{w}"),
    "url": _WORD.map(lambda w: f"http://example.org/{w}"),
    "canonical": _WORD.map(lambda w: f"http://example.org/fhir/{w}"),
    "oid": st.lists(st.integers(0, 999), min_size=1, max_size=4).map(lambda xs: "urn:oid:1." + ".".join(map(str, xs))),
    "uuid": st.uuids().map(lambda u: f"urn:uuid:{u}"),
    "date": st.tuples(_MOMENT, st.integers(0, 2)).map(lambda t: _date(*t)),
    "dateTime": st.tuples(_MOMENT, st.integers(0, 3)).map(lambda t: _datetime(*t)),
    "instant": _MOMENT.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
    "time": _MOMENT.map(lambda d: d.strftime("%H:%M:%S")),
    "base64Binary": st.binary(min_size=1, max_size=24).map(lambda b: base64.b64encode(b).decode()),
    "xhtml": st.just('<div xmlns="http://www.w3.org/1999/xhtml">generated</div>'),
}

# codes for required bindings to value sets that cannot be expanded offline (grammar-checked)
_FALLBACK_CODES: dict[str, tuple[str | None, str, str | None]] = {
    "http://hl7.org/fhir/ValueSet/all-languages": ("urn:ietf:bcp:47", "en", None),
    "http://hl7.org/fhir/ValueSet/languages": ("urn:ietf:bcp:47", "en", None),
    "http://hl7.org/fhir/ValueSet/mimetypes": ("urn:ietf:bcp:13", "application/json", None),
    "http://hl7.org/fhir/ValueSet/ucum-units": ("http://unitsofmeasure.org", "mm", None),
}

# a lexically wrong value per primitive type, for mutants (the validator's `primitive` rule)
BAD_PRIMITIVES: dict[str, Any] = {
    "boolean": "true",
    "integer": 1.5,
    "unsignedInt": -1,
    "positiveInt": 0,
    "decimal": "1.0",
    "code": " padded code",
    "id": "not an id!",
    "oid": "1.2.3",
    "uuid": "urn:uuid:NOT-A-UUID",
    "uri": "has spaces in it",
    "url": "has spaces in it",
    "canonical": "has spaces in it",
    "date": "2024-13-01",
    "dateTime": "2024-02-30T10:00:00Z",
    "instant": "2024-01-01",
    "time": "25:00:00",
    "base64Binary": "!!not base64!!",
    "string": 42,
    "markdown": 42,
}


def _merge_pattern(pattern: Any, value: Any) -> Any:
    """`value` with everything `pattern` states laid over it (arrays: entry by entry)."""
    if isinstance(pattern, dict) and isinstance(value, dict):
        out = dict(value)
        for k, v in pattern.items():
            out[k] = _merge_pattern(v, value[k]) if k in value else copy.deepcopy(v)
        return out
    if isinstance(pattern, list) and isinstance(value, list):
        merged = [_merge_pattern(p, value[i]) if i < len(value) else copy.deepcopy(p) for i, p in enumerate(pattern)]
        return merged + value[len(pattern) :]
    return copy.deepcopy(pattern)


# ---- the builder ---------------------------------------------------------------------------------


class ProfileBuilder:
    """Constructs instances of one profile from its compiled plan."""

    def __init__(self, store: PackageStore, canonical: str, release: str | None = None) -> None:
        self.store = store
        self.scope: Scope = store.scope_for_canonical(canonical, release)
        self.plan: ProfilePlan = compile_profile(self.scope, canonical)
        self.canonical = self.plan.url
        self.release = self.scope.release
        self._expansions: dict[str, list[tuple[str, str, str | None]] | None] = {}

    # -- lookups

    def terminology(self) -> Terminology:
        from imgfhir.terminology import Terminology

        term = self.scope.memo.get("terminology")
        if not isinstance(term, Terminology):
            term = self.scope.memo["terminology"] = Terminology(self.scope)
        return term

    def expansion(self, value_set: str | None) -> list[tuple[str, str, str | None]] | None:
        if not value_set:
            return None
        if value_set not in self._expansions:
            try:
                codes = self.terminology().expand(value_set)
            except Exception:  # noqa: BLE001 - an unexpandable value set just means no bound codes
                codes = None
            self._expansions[value_set] = sorted(codes, key=lambda c: (c[0] or "", c[1]))[:200] if codes else None
        return self._expansions[value_set]

    def _plan(self, url: str) -> ProfilePlan | None:
        return compiled_or_none(self.scope, url)

    def children(self, element: ElementPlan, type_code: str | None) -> dict[str, ElementPlan]:
        if element.children:
            return element.children
        ref = element.ed.get("contentReference")
        if isinstance(ref, str):
            url, _, fragment = ref.partition("#")
            plan = self._plan(url or FHIR_SD + fragment.split(".")[0])
            node = plan.root if plan else None
            for name in fragment.split(".")[1:]:
                node = node.children.get(name) if node else None
            return node.children if node else {}
        if not type_code or _is_primitive(type_code):
            return {}
        plan = None
        profile = type_profile(element, type_code)
        if profile:
            plan = self._plan(profile)
        plan = plan or self._plan(FHIR_SD + type_code)
        return plan.root.children if plan else {}

    def target_types(self, element: ElementPlan) -> list[str]:
        out: list[str] = []
        for t in element.ed.get("type", ()):
            for url in t.get("targetProfile", ()):
                hit = self.scope.entry(str(url))
                name = str(hit[1].type) if hit is not None and hit[1].type else str(url).rsplit("/", 1)[-1]
                if name not in out:
                    out.append(name)
        return [t for t in out if t not in ("Resource", "DomainResource")] or ["Patient"]

    # -- generation

    def resource(self, d: _Draw) -> dict[str, Any]:
        rt = self.plan.type
        if rt == "Bundle" and not d.nested and d.bundle is None:
            return self.bundle(d)
        out: dict[str, Any] = {"resourceType": rt}
        out.update(self.complex(d, self.plan.root, rt, rt, (), 0, None, None))
        if d.contained and not d.nested:
            out["contained"] = d.contained
        return out

    def bundle(self, d: _Draw) -> dict[str, Any]:
        """A Bundle whose entries are built from its entry slices, each from the slice's profile, and
        whose references all name entries of the Bundle (a document is self-contained). The slices'
        entries are planned before anything is built, the Composition first (bdl-11); a reference no
        planned entry can answer plans a new entry from the reference's target profile."""
        ctx = d.bundle = _BundleContext(d.draw(st.integers(0, 2**64 - 1)))
        try:
            root = self.plan.root
            entry = root.children.get("entry")
            planned: list[tuple[str, str, ElementPlan]] = []
            for sl in entry.slices if entry is not None else ():
                types = _slice_resource_types(sl)
                if sl.max == 0 or not types:
                    continue
                n = sl.min or int(self.optional(d, 1))
                planned += [(*d.draw(st.sampled_from(types)), sl) for _ in range(n)]
            fixed_type = root.children["type"].fixed if "type" in root.children else None
            if fixed_type is not None and fixed_type[1] == "document":
                planned.sort(key=lambda tp: tp[0] != "Composition")  # stable: slices keep their order
            for type_code, profile, _ in planned:
                self.plan_entry(ctx, type_code, profile)
            out: dict[str, Any] = {"resourceType": "Bundle"}
            out.update(self.complex(d, root, "Bundle", "Bundle", (), 0, None, None))
            if out.get("type") == "document":  # bdl-9: identifier.system and .value; bdl-10: timestamp
                ident = out.get("identifier")
                ident = out["identifier"] = ident if isinstance(ident, dict) else {}
                ident.setdefault("system", d.draw(PRIMITIVES["uri"]))
                ident.setdefault("value", d.draw(_WORD))
                out.setdefault("timestamp", d.draw(PRIMITIVES["instant"]))
            i = 0
            while i < len(ctx.entries):
                e = ctx.entries[i]
                sub = builder_for(e.profile, store=self.store, release=self.release)
                expr, ptr = f"Bundle.entry[{i}].resource", ("entry", i, "resource")
                e.resource = {"resourceType": e.type}
                e.resource.update(sub.complex(d, sub.plan.root, e.type, expr, ptr, 0, None, None))
                # the resource itself, where its invariants (obs-6, ...) and unknown elements are reported
                d.sites.append(
                    Site(ptr, expr, f"Bundle.entry[{i}]", sub.plan.root, e.type, "resource", False, 1, None, False)
                )
                i += 1
            self.link_report_and_composition(d, ctx)
            for i, (_, _, sl) in enumerate(planned):  # where a mutant of an entry shows: its slice's count
                members = sum(1 for e in ctx.entries if e.type in _slice_types(sl) and _slice_profiles(sl) & e.conforms)
                at, where = ("entry", i), f"Bundle.entry[{i}]"
                d.sites.append(Site(at, where, "Bundle", sl, None, "entry", True, members, entry, False, "entry"))
            if ctx.entries:
                out["entry"] = [{"fullUrl": e.full_url, "resource": e.resource} for e in ctx.entries]
            return out
        finally:
            d.bundle = None

    def link_report_and_composition(self, d: _Draw, ctx: _BundleContext) -> None:
        """The two cross-resource invariants of the EU imaging report documents, met once every entry
        is built: dr-comp-author-org (the Organizations performing the report are the Composition's
        Organization authors, in order: the report's are copied there) and R5 dgr-1 (the Observations
        of the Composition's sections are among the report's results, or their members: added to the
        results when the results' target profile allows them, else as members of the first result)."""
        compositions = [e for e in ctx.entries if e.type == "Composition" and e.resource is not None]
        for report in ctx.entries:
            if report.type != "DiagnosticReport" or report.resource is None:
                continue
            orgs = [r for r in report.resource.get("performer", ()) if self._entry_type(ctx, r) == "Organization"]
            for comp in compositions:
                assert comp.resource is not None
                authors = comp.resource.setdefault("author", [])
                if orgs and not any(self._entry_type(ctx, r) == "Organization" for r in authors):
                    authors += [{"reference": r["reference"]} for r in orgs]
            target = ctx.find(str((report.resource.get("composition") or {}).get("reference")))
            if target is None or target.resource is None:
                continue
            sub = builder_for(report.profile, store=self.store, release=self.release)
            result_element = sub.plan.root.children.get("result")
            results = report.resource.setdefault("result", [])
            for k, section in enumerate(target.resource.get("section", ())):
                kept = []
                for ref in section.get("entry", ()):
                    included = {r.get("reference") for r in results} | {
                        m.get("reference")
                        for r in results
                        if (e := ctx.find(str(r.get("reference")))) is not None and e.resource is not None
                        for m in e.resource.get("hasMember", ())
                    }
                    if self._entry_type(ctx, ref) != "Observation" or ref.get("reference") in included:
                        kept.append(ref)
                        continue
                    found = ctx.find(str(ref.get("reference")))
                    first = ctx.find(str(results[0].get("reference"))) if results else None
                    if result_element is not None and found is not None and self._answers(ctx, result_element, found):
                        results.append({"reference": found.full_url})
                        kept.append(ref)
                    elif first is not None and first.resource is not None and first.type == "Observation":
                        members = first.resource.setdefault("hasMember", [])  # dgr-1's second way in
                        members.append({"reference": ref.get("reference")})
                        kept.append(ref)
                if len(kept) < len(section.get("entry", ())):
                    section["entry"] = kept
                    at = ("entry", ctx.entries.index(target), "resource", "section", k, "entry")
                    d.sites[:] = [s for s in d.sites if s.pointer[: len(at)] != at]
                    if not kept:
                        del section["entry"]
            if not results:
                del report.resource["result"]

    @staticmethod
    def _entry_type(ctx: _BundleContext, ref: Any) -> str | None:
        found = ctx.find(str(ref.get("reference"))) if isinstance(ref, dict) else None
        return found.type if found is not None else None

    def _answers(self, ctx: _BundleContext, element: ElementPlan, entry: _Entry) -> bool:
        return entry in self.bundle_candidates(ctx, element, _target_profiles(element, "Reference"))[1]

    def plan_entry(self, ctx: _BundleContext, type_code: str, profile: str) -> _Entry:
        entry = _Entry(ctx.full_url(), type_code, profile, self.lineage(profile))
        ctx.entries.append(entry)
        return entry

    def lineage(self, url: str) -> frozenset[str]:
        """`url` and the profiles it derives from: an instance of `url` conforms to all of them."""
        found: list[str] = []
        current: Any = url
        while isinstance(current, str) and current not in found:
            found.append(current)
            try:
                current = builder_for(current, store=self.store, release=self.release).plan.sd.get("baseDefinition")
            except (SnapshotError, UnknownCanonical):
                break
        return frozenset(found)

    def profile_type(self, url: str) -> str:
        hit = self.scope.entry(url)
        return str(hit[1].type) if hit is not None and hit[1].type else url.rsplit("/", 1)[-1]

    def bundle_target(self, d: _Draw, element: ElementPlan) -> str:
        """The fullUrl of an entry meeting the reference's target profiles: an entry already planned
        (the slices' entries answer most references, and a slice's maximum is not exceeded by a second
        Patient), else a new entry built from one of the target profiles."""
        ctx = d.bundle
        assert ctx is not None
        options, existing = self.bundle_candidates(ctx, element, _target_profiles(element, "Reference") or d.targets)
        if existing:
            return str(d.draw(st.sampled_from(existing)).full_url)
        type_code, profile = d.draw(st.sampled_from(options))
        return self.plan_entry(ctx, type_code, profile).full_url

    def bundle_candidates(
        self, ctx: _BundleContext, element: ElementPlan, urls: tuple[str, ...]
    ) -> tuple[list[tuple[str, str]], list[_Entry]]:
        """(type, profile) a reference of `element` may target, and the planned entries that meet one."""
        options = [(self.profile_type(u), u) for u in urls]
        avoid = _BUNDLE_AVOID.get(element.path)
        if avoid and any(t != avoid for t, _ in options):
            options = [(t, u) for t, u in options if t != avoid]
        if not options or any(t in ("Resource", "DomainResource") for t, _ in options):
            # any resource: the patient when there is one (the usual subject), else any entry
            anything = [e for e in ctx.entries if e.type != avoid] or ctx.entries
            return [("Patient", FHIR_SD + "Patient")], [e for e in anything if e.type == "Patient"] or anything
        existing = [
            e for e in ctx.entries if any(e.type == t and (u == FHIR_SD + t or u in e.conforms) for t, u in options)
        ]
        return options, existing

    def bundle_has_target(self, d: _Draw, child: ElementPlan) -> bool:
        """Whether a planned entry answers a reference of `child` (optional references to resources the
        Bundle does not hold yet are left out: each would add an entry, and its references more)."""
        assert d.bundle is not None
        urls = _target_profiles(child, "Reference") + _target_profiles(child, "CodeableReference")
        return bool(self.bundle_candidates(d.bundle, child, urls)[1])

    def contained_target(
        self, d: _Draw, element: ElementPlan, slice_ctx: tuple[ElementPlan, list[list[str]]] | None
    ) -> dict[str, Any] | None:
        """A contained resource conforming to the target profile of a reference that a `profile`
        discriminator slices on (the validator resolves the reference and checks the target's profile),
        or of a reference the profile allows only to contained resources (`aggregation: contained`)."""
        if d.nested:
            return None
        aggregation = {str(m) for t in element.ed.get("type", ()) for m in t.get("aggregation", ())}
        if aggregation != {"contained"}:
            if slice_ctx is None or d.bundle is not None:
                return None
            discriminators = (slice_ctx[0].slicing or {}).get("discriminator", ())
            if not any(isinstance(x, dict) and x.get("type") == "profile" for x in discriminators):
                return None
            if len(slice_ctx[0].slices) > 1:
                # a target built for one slice's profile may conform to another's too (the DICOM SR derivedFrom
                # profiles overlap) and be counted there: only unambiguous slicings get a resolvable target
                return None
        profiles = [str(u) for t in element.ed.get("type", ()) for u in t.get("targetProfile", ())]
        profiles = [u for u in profiles if not u.startswith(FHIR_SD)] or profiles
        if not profiles:
            return None
        try:
            sub = builder_for(d.draw(st.sampled_from(profiles)), store=self.store, release=self.release)
        except (SnapshotError, UnknownCanonical):
            return None
        target = sub.resource(_Draw(d.draw, nested=True))
        target["id"] = f"target{len(d.contained)}"
        meta = target.get("meta")
        if isinstance(meta, dict):  # dom-4, dom-5: no version, last update or security labels when contained
            for key in ("versionId", "lastUpdated", "security"):
                meta.pop(key, None)
            if not meta:
                del target["meta"]
        d.contained.append(target)
        return target

    def optional(self, d: _Draw, depth: int) -> bool:
        if depth >= MAX_DEPTH:
            return False
        return bool(d.draw(st.integers(0, 3 + depth)) == 3)

    def complex(
        self,
        d: _Draw,
        element: ElementPlan,
        type_code: str | None,
        expr: str,
        pointer: tuple[str | int, ...],
        depth: int,
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
    ) -> dict[str, Any]:
        """A JSON object for `element` carrying `type_code`, children walked from the plan."""
        if type_code == "Reference" and not element.children:
            return self.reference(d, element, expr, pointer, slice_ctx, rel)
        if type_code == "CodeableReference" and d.bundle is not None:
            saved, d.targets = d.targets, _target_profiles(element, "CodeableReference")
            try:
                return self.complex_children(d, element, type_code, expr, pointer, depth, slice_ctx, rel)
            finally:
                d.targets = saved
        return self.complex_children(d, element, type_code, expr, pointer, depth, slice_ctx, rel)

    def complex_children(
        self,
        d: _Draw,
        element: ElementPlan,
        type_code: str | None,
        expr: str,
        pointer: tuple[str | int, ...],
        depth: int,
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
    ) -> dict[str, Any]:
        kids = self.children(element, type_code)
        out: dict[str, Any] = {}
        is_root = depth == 0
        if type_code == "Reference" and "reference" in kids and kids["reference"].max != 0:
            out["reference"] = self.reference(d, element, expr, pointer, slice_ctx, rel)["reference"]
        wanted = self.invariant_children(element, kids, slice_ctx[0] if slice_ctx and rel == [] else None)
        for child in kids.values():
            if child.max == 0 or child.name in out:
                continue
            on_path = _on_discriminator_path(slice_ctx, None if rel is None else [*rel, child.name.removesuffix("[x]")])
            if on_path or child.name in wanted:
                self.element_values(d, child, type_code, expr, pointer, depth, out, slice_ctx, rel, force=True)
                continue
            if is_root and child.name in _RESOURCE_SKIP and child.min == 0:
                continue
            if is_root and type_code == "Bundle" and child.name == "entry" and d.bundle is not None:
                continue  # the entries are built from the entry slices (`bundle`)
            if child.name in element.memo.get("strategies:drop", ()) and not (
                is_root and child.name in element.memo.get("strategies:drop-unless", {})
            ):
                continue
            if child.name == "url" and type_code == "Extension" and child.fixed is None:
                continue
            required = child.min > 0 or any(s.min > 0 for s in child.slices)
            if not required and (child.name in _SKIP_OPTIONAL or not self.optional(d, depth)):
                continue
            if (
                not required
                and d.bundle is not None
                and set(child.type_codes) & {"Reference", "CodeableReference"}
                and not self.bundle_has_target(d, child)
            ):
                continue
            if not required and any(
                t in ("Resource", "Narrative") or (t[:1].isupper() and _is_resource(self, t)) for t in child.type_codes
            ):
                continue
            self.element_values(d, child, type_code, expr, pointer, depth, out, slice_ctx, rel)
        if is_root:
            # `a.empty() or <condition>` (obs-7): `a` was built; it goes when the built resource fails the condition
            for name, expression in element.memo.get("strategies:drop-unless", {}).items():
                stem = name.removesuffix("[x]")
                keys = [k for k in out if k == name or (stem != name and _choice_key(k, stem))]
                if keys and not _holds(expression, out, self.release):
                    for k in keys:
                        del out[k]
                        d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, k)]
        if type_code == "Reference" and "type" in out and isinstance(out.get("reference"), str):
            # the stated type agrees with the literal one (or with the contained target's)
            local = [c["resourceType"] for c in d.contained if f"#{c['id']}" == out["reference"]]
            found = d.bundle.find(out["reference"]) if d.bundle is not None else None
            out["type"] = found.type if found else local[0] if local else out["reference"].split("/")[0]
            d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, "type")]
        for first, second in self.exclusive_children(element):
            keep_second = kids.get(second) or kids.get(second + "[x]")
            if keep_second is not None and (keep_second.min > 0 or keep_second.name in wanted):
                first, second = second, first  # drop the optional one of the two
            keys = [k for k in out if k == first or _choice_key(k, first)]
            drop = [k for k in out if k == second or _choice_key(k, second)]
            if keys and drop:
                for k in drop:
                    del out[k]
                    d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, k)]
        for c in element.ed.get("constraint", ()):  # org-3: where(use = 'home').empty()
            forbidden = _FORBIDDEN_VALUE.match(str(c.get("expression", "")).strip())
            if forbidden is None or c.get("severity") != "error":
                continue
            name, code = forbidden.groups()
            if out.get(name) == code and name in kids and kids[name].min == 0:
                del out[name]
                d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, name)]
        if type_code in _QUANTITY and not element.children and "value" not in out:
            out["value"] = d.draw(PRIMITIVES["decimal"])
        if type_code in _QUANTITY and "code" in out and "system" not in out:
            out["system"] = "http://unitsofmeasure.org"
        if type_code == "Period" and "start" in out and "end" in out:
            del out["end"]
            d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, "end")]
        if type_code == "Attachment":  # size and hash must agree with data (the attachment rule)
            for name in ("size", "hash"):
                if name in out and name in kids and kids[name].min == 0:
                    del out[name]
                    d.sites[:] = [s for s in d.sites if s.pointer[: len(pointer) + 1] != (*pointer, name)]
        if type_code == "Extension" and not any(k.startswith("value") for k in out) and "extension" not in out:
            # ext-1: an extension has a value or nested extensions
            vx = kids.get("value[x]")
            if vx is not None and vx.max != 0:
                self.element_values(d, vx, type_code, expr, pointer, depth, out, slice_ctx, rel, force=True)
        if not out and type_code and not _is_primitive(type_code):
            self.fill_empty(d, kids, type_code, expr, pointer, depth, out, slice_ctx, rel)
        return out

    def invariant_children(
        self, element: ElementPlan, kids: dict[str, ElementPlan], entry: ElementPlan | None = None
    ) -> list[str]:
        """Children to force so that the `a.exists() or b.exists() ...` invariants of `element` hold (and
        those of its slicing `entry`: a profile's constraints on a sliced element bind every slice too)."""
        wanted: list[str] = []
        constraints = list(element.ed.get("constraint", ()))
        if entry is not None and entry is not element:
            keys = {c.get("key") for c in constraints}
            constraints += [c for c in entry.ed.get("constraint", ()) if c.get("key") not in keys]
        for c in constraints:
            expression = str(c.get("expression", ""))
            antecedent = None if _EXCLUSIVE.match(expression.strip()) else _ANTECEDENT.match(expression)
            if " implies " in expression:  # construct the consequent: (...) implies (a.exists() or ...)
                expression = expression.rsplit(" implies ", 1)[1].strip()
            if c.get("severity") != "error":
                continue
            if antecedent and not _EXISTS_ONLY.fullmatch(expression.strip()):
                # `a.exists() implies <something not constructed>`: leave the optional `a` out
                child = kids.get(antecedent.group(1)) or kids.get(antecedent.group(1) + "[x]")
                if child is not None and child.min == 0:
                    element.memo.setdefault("strategies:drop", set()).add(child.name)
                continue
            m = _ONE_OF.match(expression)
            if m:
                found = re.findall(r"(\w+)\.exists\(\)", m.group(0))
            elif _COUNT_SUM.fullmatch(expression.strip()):  # org-1: (identifier.count() + name.count()) > 0
                found = re.findall(r"(\w+)\.count\(\)", expression)
            elif " xor " not in expression:
                # a disjunction with other terms too: making one `a.exists()` / `a.empty().not()` true suffices
                terms = _top_level_or(expression.strip())
                if not terms:
                    continue
                empties = [
                    child
                    for t in terms
                    if (m3 := _EMPTY_TERM.fullmatch(t))
                    and (child := kids.get(m3.group(1)) or kids.get(m3.group(1) + "[x]")) is not None
                    and child.min == 0
                    and child.name not in wanted
                ]
                if empties:  # `a.empty() or ...`: leave the optional `a` out (at a resource's root: if need be)
                    element.memo.setdefault("strategies:drop", set()).add(empties[0].name)
                    element.memo.setdefault("strategies:drop-unless", {})[empties[0].name] = expression
                    continue
                found = [m2.group(1) for t in terms if (m2 := _EXISTS_TERM.fullmatch(t))]
            else:
                continue
            names = sorted(found, key=lambda n: n in _SKIP_OPTIONAL)
            usable = [
                child
                for name in names
                if (child := kids.get(name) or kids.get(name + "[x]")) is not None
                and child.max != 0
                and not _is_resource(self, (child.type_codes or ("x",))[0])
            ]
            if usable and not any(c.name in wanted or c.min > 0 for c in usable):
                wanted.append(usable[0].name)
        return wanted

    def exclusive_children(self, element: ElementPlan) -> list[tuple[str, str]]:
        """(a, b) pairs an invariant of `element` forbids together: `a.empty() or b.empty()`,
        `a.exists() implies b.empty()`."""
        return [(a, b) for _, a, b, _ in self.exclusive_constraints(element)]

    def exclusive_constraints(self, element: ElementPlan) -> list[tuple[str, str, str, bool]]:
        """(key, a, b, symmetric) of each error invariant of `element` that forbids a and b together
        (`a.empty() or b.empty()` is symmetric, `a.exists() implies b.empty()` is not)."""
        found = element.memo.get("strategies:exclusive")
        if found is None:
            found = []
            for c in element.ed.get("constraint", ()):
                expr = str(c.get("expression", "")).strip()
                m = _EXCLUSIVE.match(expr)
                if m and c.get("severity") == "error":
                    found.append((str(c.get("key")), m.group(1), m.group(2), "implies" not in expr))
            element.memo["strategies:exclusive"] = found
        return list(found)

    def fill_empty(
        self,
        d: _Draw,
        kids: dict[str, ElementPlan],
        type_code: str,
        expr: str,
        pointer: tuple[str | int, ...],
        depth: int,
        out: dict[str, Any],
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
    ) -> None:
        """ele-1: an element has a value or children; pick one simple child to fill an empty object."""
        prefer = ("value[x]", "value", "text", "display", "code", "system", "start", "name", "family", "reference")
        for name in prefer:
            child = kids.get(name)
            if child is not None and child.max != 0:
                self.element_values(d, child, type_code, expr, pointer, MAX_DEPTH, out, slice_ctx, rel, force=True)
                if out:
                    return
        for child in kids.values():
            if child.max != 0 and child.name not in ("id", "extension", "modifierExtension"):
                self.element_values(d, child, type_code, expr, pointer, MAX_DEPTH, out, slice_ctx, rel, force=True)
                if out:
                    return

    def element_values(
        self,
        d: _Draw,
        child: ElementPlan,
        parent_type: str | None,
        expr: str,
        pointer: tuple[str | int, ...],
        depth: int,
        out: dict[str, Any],
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
        force: bool = False,
    ) -> None:
        """Occurrences of `child` in `out`: its slices first (in order), then unsliced values."""
        array = _is_array(child)
        plan_items: list[tuple[ElementPlan, ElementPlan | None]] = []  # (definition, slicing entry)
        slicing = child.slicing if child.slices else None
        if slicing is not None:
            for sl in child.slices:
                if sl.max == 0:
                    continue
                n = sl.min
                if (
                    n == 0
                    and depth < MAX_DEPTH
                    and child.name not in ("modifierExtension",)
                    and self.optional(d, depth)
                ):
                    n = 1
                plan_items += [(sl, child)] * n
            closed = slicing.get("rules") == "closed"
            if not plan_items and force and child.name != "extension":
                usable = [sl for sl in child.slices if sl.max != 0]
                plan_items += [(usable[0], child)] if usable else []
            if not plan_items and not closed and (child.min > 0 or force) and child.name != "extension":
                plan_items.append((child, None))
            while len(plan_items) < child.min:
                plan_items.append(plan_items[-1] if plan_items else (child, None))
        else:
            n = max(child.min, 1)
            if child.max is None or child.max > n:
                extra = d.draw(st.integers(0, 1)) if depth < 2 and array else 0
                n += extra
            plan_items = [(child, None)] * n
        if child.max is not None:
            plan_items = plan_items[: child.max]
        if not plan_items:
            return
        # choice: the JSON key carries the type
        values: list[tuple[str, Any]] = []
        for i, (definition, entry) in enumerate(plan_items):
            type_code = self.pick_type(d, child, definition)
            key = child.name[:-3] + upper_first(type_code) if child.is_choice else child.name
            index = i if array else None
            name_expr = f"{expr}.{key}" + (f"[{index}]" if index is not None else "")
            ptr = (*pointer, key) + ((index,) if index is not None else ())
            sub_ctx, sub_rel = (
                slice_ctx,
                (None if rel is None else [*rel, child.name[:-3] if child.is_choice else child.name]),
            )
            if entry is not None:
                discs = [
                    [s for s in str(x.get("path", "$this")).split(".") if s != "$this"]
                    for x in (entry.slicing or {}).get("discriminator", ())
                    if isinstance(x, dict)
                ]
                sub_ctx, sub_rel = (entry, discs), []
            discriminating = _discriminating(sub_ctx, sub_rel)
            value, how = self.value(d, definition, type_code, name_expr, ptr, depth + 1, sub_ctx, sub_rel)
            group = sum(1 for dd, _ in plan_items if dd is definition)
            d.sites.append(
                Site(ptr, name_expr, expr, definition, type_code, key, array, group, entry, discriminating, how)
            )
            values.append((key, value))
        for key, value in values:
            if array:
                out.setdefault(key, []).append(value)
            else:
                out[key] = value

    def pick_type(self, d: _Draw, child: ElementPlan, definition: ElementPlan) -> str:
        if not definition.type_codes and not child.type_codes:
            return "BackboneElement" if "contentReference" in definition.ed else "string"
        codes = definition.type_codes or child.type_codes
        if definition is child and child.is_choice and child.slices and (child.slicing or {}).get("rules") == "closed":
            allowed = [t for s in child.slices for t in s.type_codes]
            codes = tuple(t for t in codes if t in allowed) or codes
        simple = [t for t in codes if t not in ("Resource",)] or list(codes)
        return str(d.draw(st.sampled_from(simple))) if len(simple) > 1 else simple[0]

    def value(
        self,
        d: _Draw,
        element: ElementPlan,
        type_code: str,
        expr: str,
        pointer: tuple[str | int, ...],
        depth: int,
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
    ) -> tuple[Any, str]:
        if element.fixed is not None:
            return copy.deepcopy(element.fixed[1]), "fixed"
        binding = element.binding
        limited = _max_value_set(element)  # a preferred binding with a maximum value set binds like a required one
        if binding is not None and (binding.strength in ("required", "extensible") or limited):
            codes = self.expansion(binding.value_set)
            if codes and element.pattern is None:
                system, code, display = d.draw(st.sampled_from(codes))
                coded = self.coded(type_code, system, code, display)
                if coded is not None and not element.children:
                    return coded, "bound"
                coding = element.children.get("coding")
                if type_code == "CodeableConcept" and coded is not None and coding is not None and not coding.slices:
                    # a profiled CodeableConcept (constraints on its children): the bound coding replaces theirs
                    generated = self.complex(d, element, type_code, expr, pointer, depth, slice_ctx, rel)
                    generated["coding"] = coded["coding"]
                    d.sites[:] = [x for x in d.sites if x.pointer[: len(pointer) + 1] != (*pointer, "coding")]
                    return generated, "bound"
        if (
            binding is not None
            and (binding.strength == "required" or limited)
            and element.pattern is None
            and not element.children
        ):
            fallback = _FALLBACK_CODES.get(str(limited or binding.value_set).split("|")[0])
            coded = self.coded(type_code, *fallback) if fallback else None
            if coded is not None:
                return coded, "generated"
        if element.pattern is not None:
            pattern = element.pattern[1]
            if _is_primitive(type_code) or not element.children:
                return copy.deepcopy(pattern), "pattern"
            generated = self.complex(d, element, type_code, expr, pointer, depth, slice_ctx, rel)
            return _merge_pattern(pattern, generated), "pattern"
        if _is_primitive(type_code):
            prefix = _required_prefix(element)
            if prefix is not None and type_code in ("string", "uri", "url", "id", "code"):
                # mhd-startswithuuid: startsWith('urn:uuid:') (an IHE MHD entryUUID identifier)
                return d.draw(PRIMITIVES["uuid"] if prefix == "urn:uuid:" else _WORD.map(prefix.__add__)), "generated"
            if type_code == "string" and expr.endswith(".reference"):
                if d.bundle is not None:
                    return self.bundle_target(d, element), "reference"
                return f"Patient/{d.draw(_ID)}", "reference"
            strategy = PRIMITIVES.get(type_code, _TEXT)
            return _within_bounds(element, d.draw(strategy)), "generated"
        if _is_resource(self, type_code):
            return {"resourceType": type_code, "id": d.draw(_ID)}, "generated"
        generated = self.complex(d, element, type_code, expr, pointer, depth, slice_ctx, rel)
        return _within_bounds(element, generated), "generated"

    @staticmethod
    def coded(type_code: str, system: str | None, code: str, display: str | None) -> Any:
        coding: dict[str, Any] = {"code": code}
        if system:
            coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        if type_code in ("code", "string", "uri"):
            return code
        if type_code == "Coding":
            return coding
        if type_code == "CodeableConcept":
            return {"coding": [coding]}
        if type_code == "CodeableReference":
            return {"concept": {"coding": [coding]}}
        if type_code in _QUANTITY:
            return {"value": 1, **({"system": system} if system else {}), "code": code}
        return None

    def reference(
        self,
        d: _Draw,
        element: ElementPlan,
        expr: str,
        pointer: tuple[str | int, ...],
        slice_ctx: tuple[ElementPlan, list[list[str]]] | None,
        rel: list[str] | None,
    ) -> dict[str, Any]:
        contained = self.contained_target(d, element, slice_ctx)
        if contained is not None:
            ref = {"reference": f"#{contained['id']}"}
        elif d.bundle is not None:
            ref = {"reference": self.bundle_target(d, element)}
        else:
            target = d.draw(st.sampled_from(self.target_types(element)))
            ref = {"reference": f"{target}/{d.draw(_ID)}"}
        d.sites.append(
            Site(
                (*pointer, "reference"),
                f"{expr}.reference",
                expr,
                element,
                "string",
                "reference",
                False,
                1,
                slice_ctx[0] if slice_ctx else None,
                _discriminating(slice_ctx, None if rel is None else [*rel, "reference"]),
                "reference",
            )
        )
        return ref


# dr-comp-author-org (EU imaging documents): the Organizations among the DiagnosticReport's performers
# are those among the Composition's authors. Neither picks an Organization where another type will do;
# an Organization the report's `performer:organization` slice brings is copied to the authors.
_BUNDLE_AVOID = {"Composition.author": "Organization", "DiagnosticReport.performer": "Organization"}


def _choice_key(key: str, stem: str) -> bool:
    """Is `key` the JSON name of a choice `stem[x]` for one type (`valueQuantity` for `value`)?"""
    return key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper()


def _holds(expression: str, resource: dict[str, Any], release: str) -> bool:
    """Does a constraint hold on a resource being built (False where it cannot be told)?"""
    from imgfhir.fhirpath import FhirPathError, compile

    try:
        result = compile(expression, release).evaluate(resource)
    except (FhirPathError, ValueError, RecursionError):
        return False
    return not result or all(r is True for r in result)


def _within_bounds(element: ElementPlan, value: Any) -> Any:
    """`value` moved onto the element's minValue[x]/maxValue[x] where it falls outside them (a
    Quantity first takes the bound's unit: bounds are stated in one unit and not converted)."""
    for bound, below in zip(value_bounds(element), (True, False), strict=True):
        if bound is None:
            continue
        kind, limit = bound
        if kind == "Quantity" and isinstance(value, dict) and isinstance(limit, dict):
            value = {k: v for k, v in value.items() if k not in ("unit", "system", "code", "comparator")}
            value.update({k: limit[k] for k in ("unit", "system", "code") if k in limit})
            value.setdefault("value", limit.get("value"))
        order = compare_to_bound(kind, value, limit)
        if order is not None and (order < 0 if below else order > 0):
            value = {**value, "value": limit.get("value")} if kind == "Quantity" else copy.deepcopy(limit)
    return value


def _max_value_set(element: ElementPlan) -> str | None:
    binding = element.ed.get("binding")
    for ext in binding.get("extension", ()) if isinstance(binding, dict) else ():
        if ext.get("url") == "http://hl7.org/fhir/StructureDefinition/elementdefinition-maxValueSet":
            return str(ext.get("valueCanonical"))
    return None


def _required_prefix(element: ElementPlan) -> str | None:
    """The prefix an error invariant `startsWith('...')` of a primitive element demands."""
    for c in element.ed.get("constraint", ()):
        m = _STARTS_WITH.fullmatch(str(c.get("expression", "")).strip())
        if m and c.get("severity") == "error":
            return m.group(1)
    return None


def _target_profiles(element: ElementPlan, type_code: str) -> tuple[str, ...]:
    return tuple(
        str(u).split("|", 1)[0]
        for t in element.ed.get("type", ())
        if t.get("code") == type_code
        for u in t.get("targetProfile", ())
    )


def _slice_resource_types(entry_slice: ElementPlan) -> list[tuple[str, str]]:
    """(resource type, profile) an entry slice's `resource` allows; none when it allows any resource."""
    resource = entry_slice.children.get("resource")
    out: list[tuple[str, str]] = []
    for t in resource.ed.get("type", ()) if resource is not None else ():
        code = str(t.get("code"))
        if code not in ("Resource", "DomainResource"):
            out += [(code, str(u).split("|", 1)[0]) for u in t.get("profile") or [FHIR_SD + code]]
    return out


def _slice_types(entry_slice: ElementPlan) -> set[str]:
    return {t for t, _ in _slice_resource_types(entry_slice)}


def _slice_profiles(entry_slice: ElementPlan) -> set[str]:
    return {p for _, p in _slice_resource_types(entry_slice)}


def _is_resource(builder: ProfileBuilder, type_code: str) -> bool:
    if type_code in ("Resource", "DomainResource"):
        return True
    hit = builder.scope.entry(FHIR_SD + type_code)
    return hit is not None and hit[1].kind == "resource"


_EXCLUSIVE = re.compile(r"^\(?\s*(\w+)\.(?:empty\(\)\s+or|exists\(\)\s+implies)\s+(\w+)\.empty\(\)\s*\)?$")
_ANTECEDENT = re.compile(r"^\(?\s*(\w+)\.exists\(\)\s*\)?\s+implies\s+")
_EXISTS_ONLY = re.compile(r"\(?\s*\w+\.exists\(\)(\s+or\s+\w+\.exists\(\))*\s*\)?")
_EMPTY_TERM = re.compile(r"(\w+)\.empty\(\)")
_EXISTS_TERM = re.compile(r"(\w+)\.(?:exists\(\)|empty\(\)\.not\(\))")
_STARTS_WITH = re.compile(r"(?:\$this\.)?startsWith\('([^']*)'\)")
_FORBIDDEN_VALUE = re.compile(r"^where\((\w+)\s*=\s*'([^']*)'\)\.empty\(\)$")
_COUNT_SUM = re.compile(r"\(?\s*\w+\.count\(\)(\s*\+\s*\w+\.count\(\))*\s*\)?\s*>\s*0")
_ONE_OF = re.compile(r"^\(?\s*\w+\.exists\(\)(\s+or\s+\w+\.exists\(\))*\s*\)?$")


def _top_level_or(expression: str) -> list[str]:
    """The terms of `a or b or (c and d)` split at parenthesis depth 0 (none if `and` is at depth 0)."""
    if expression.startswith("(") and _closing(expression, 0) == len(expression) - 1:
        expression = expression[1:-1].strip()
    terms: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(expression):
        ch = expression[i]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and expression.startswith(" or ", i):
            terms.append(expression[start:i].strip())
            start = i = i + 4
            continue
        if depth == 0 and expression.startswith((" and ", " implies "), i):
            return []
        i += 1
    terms.append(expression[start:].strip())
    return terms


def _closing(expression: str, at: int) -> int:
    """The index of the parenthesis closing the one at `at` (-1 if unbalanced)."""
    depth = 0
    for i in range(at, len(expression)):
        depth += (expression[i] == "(") - (expression[i] == ")")
        if depth == 0:
            return i
    return -1


def _on_discriminator_path(slice_ctx: tuple[ElementPlan, list[list[str]]] | None, rel: list[str] | None) -> bool:
    """Whether `rel` (names below a slice item) is a prefix of one of the slice's discriminator paths."""
    if slice_ctx is None or rel is None:
        return False
    for path in slice_ctx[1]:
        names = [p.removesuffix("[x]") for p in path if not p.startswith(("ofType(", "resolve(", "extension("))]
        if len(rel) <= len(names) and names[: len(rel)] == rel:
            return True
    return False


def _discriminating(slice_ctx: tuple[ElementPlan, list[list[str]]] | None, rel: list[str] | None) -> bool:
    """Whether a value at `rel` (names below the slice item) takes part in a discriminator of `slice_ctx`."""
    if slice_ctx is None or rel is None:
        return False
    for path in slice_ctx[1]:
        names = [p for p in path if not p.startswith(("ofType(", "resolve(", "extension("))]
        if any(p.startswith(("resolve(", "extension(")) for p in path) or not names:
            return True
        n = min(len(names), len(rel))
        if [x.removesuffix("[x]") for x in names[:n]] == rel[:n]:
            return True
    return False


# ---- public API --------------------------------------------------------------------------------

_BUILDERS: dict[tuple[int, str, str | None], ProfileBuilder] = {}
_STORE: list[PackageStore] = []


def builder_for(canonical: str, *, store: PackageStore | None = None, release: str | None = None) -> ProfileBuilder:
    """The (cached) builder of `canonical`; raises UnknownCanonical / SnapshotError."""
    if store is None:
        if not _STORE:
            _STORE.append(load_store())
        store = _STORE[0]
    key = (id(store), canonical, release)
    found = _BUILDERS.get(key)
    if found is None:
        found = _BUILDERS[key] = ProfileBuilder(store, canonical, release)
    return found


def _with_sites(builder: ProfileBuilder) -> st.SearchStrategy[tuple[dict[str, Any], list[Site]]]:
    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> tuple[dict[str, Any], list[Site]]:
        d = _Draw(draw)
        draw(st.just(None))  # a fully determined profile draws nothing else (hypothesis warns on that)
        return builder.resource(d), d.sites

    return build()


def from_profile(
    canonical: str, *, store: PackageStore | None = None, release: str | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Instances of the profile `canonical` (a StructureDefinition in `store`), valid by construction."""
    builder = builder_for(canonical, store=store, release=release)
    return _with_sites(builder).map(lambda pair: pair[0])


def mutations(
    canonical: str,
    *,
    store: PackageStore | None = None,
    release: str | None = None,
    kinds: tuple[str, ...] = MUTATION_KINDS,
) -> st.SearchStrategy[tuple[dict[str, Any], ExpectedIssue]]:
    """(mutant, expected issue) pairs: a generated instance broken in one targeted place.

    Draws that offer no place for any of `kinds` are rejected (`hypothesis.reject`)."""
    from hypothesis import reject

    builder = builder_for(canonical, store=store, release=release)

    @st.composite
    def mutate(draw: Callable[[st.SearchStrategy[Any]], Any]) -> tuple[dict[str, Any], ExpectedIssue]:
        instance, sites = draw(_with_sites(builder))
        options = {k: c for k in kinds if (c := candidates(k, sites, builder, instance))}
        if not options:
            reject()
        kind = draw(st.sampled_from(sorted(options)))
        site = draw(st.sampled_from(options[kind]))
        mutant, expected = apply_mutation(builder, instance, kind, site, _Draw(draw))
        if _entry_verdict(builder, kind, site, sites, instance) == "slice":
            change = f"{expected.change}: the entry no longer conforms to its slice's profile"
            expected = ExpectedIssue(kind, "cardinality", "Bundle", change)
        return mutant, expected

    return mutate()


def candidates(kind: str, sites: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> list[Site | None]:
    """The places in one generated instance where a mutation of `kind` is well defined."""
    found = _candidates(kind, sites, builder, instance)
    if builder.plan.type != "Bundle":
        return found
    return [s for s in found if _entry_verdict(builder, kind, s, sites, instance) is not None]


def _entry_verdict(
    builder: ProfileBuilder, kind: str, site: Site | None, sites: list[Site], instance: dict[str, Any]
) -> str | None:
    """Where a mutant inside a Bundle entry shows. An entry that breaks its slice's profile no longer
    matches that (open) slice and is checked against its base definition only: a violation the base
    definition also states is reported where it is ("precise"); any other is reported as the slice
    falling below its minimum ("slice"), or not at all when the slice has room to spare (None)."""
    if site is None or len(site.pointer) < 3 or site.pointer[0] != "entry" or site.pointer[2] != "resource":
        return "precise"
    if kind in ("primitive-format", "unknown-element", "dangling-reference") or _base_states(
        builder, kind, site, instance
    ):
        return "precise"
    slot = next((s for s in sites if s.how == "entry" and s.pointer == site.pointer[:2]), None)
    return "slice" if slot is not None and slot.group_size <= slot.element.min else None


def _base_states(builder: ProfileBuilder, kind: str, site: Site, instance: dict[str, Any]) -> bool:
    """Whether the base definition of the entry's resource type forbids what mutation `kind` does at `site`."""
    base = _base_element(builder, instance, site.pointer)
    if base is None:
        return False
    held = _find(instance, site.pointer[:-1]) if site.array else None
    count = len(held) if isinstance(held, list) else 1
    if kind == "drop-required":
        return base.min >= count
    if kind == "exceed-max":
        return base.max is not None and count >= base.max
    if kind == "binding":
        return base.binding is not None and base.binding.strength == "required"
    if kind == "choice-type":
        foreign = _foreign_type(site)
        return foreign is not None and foreign not in base.type_codes
    if kind == "invariant":
        found = _invariant_option(builder, site, instance)
        return found is not None and any(c.get("key") == found[0] for c in base.ed.get("constraint", ()))
    return False  # fixed, pattern and slices are the profile's own


def _base_element(
    builder: ProfileBuilder, instance: dict[str, Any], pointer: tuple[str | int, ...]
) -> ElementPlan | None:
    """The base resource definition's element at `pointer` (inside a Bundle entry's resource)."""
    resource = _find(instance, pointer[:3])
    if not isinstance(resource, dict):
        return None
    rt = str(resource.get("resourceType"))
    try:
        base = builder_for(FHIR_SD + rt, store=builder.store, release=builder.release)
    except (SnapshotError, UnknownCanonical):
        return None
    node: ElementPlan = base.plan.root
    type_code: str | None = rt
    for step in pointer[3:]:
        if isinstance(step, int):
            continue
        kids = base.children(node, type_code)
        child = kids.get(step)
        if child is None:
            child = next((k for n, k in kids.items() if k.is_choice and _has_child({step: 0}, n[:-3])), None)
            if child is None:
                return None
            suffix = step[len(child.name) - 3 :]
            type_code = next((t for t in child.type_codes if upper_first(t) == suffix), None)
        else:
            type_code = child.type_codes[0] if len(child.type_codes) == 1 else None
        node = child
    return node


def _candidates(kind: str, sites: list[Site], builder: ProfileBuilder, instance: dict[str, Any]) -> list[Site | None]:
    hidden = _unidentified_items(builder, sites)
    safe = [
        s
        for s in sites
        if not s.discriminating and not _under_special(s, sites) and not any(s.pointer[: len(p)] == p for p in hidden)
    ]
    if kind == "drop-required":
        return [
            s
            for s in safe
            if s.how != "reference"
            and s.group_size <= _min_of(s)
            and not (s.array and s.group_size > 1)
            and len(_get(instance, s.pointer[: -2 if s.array else -1])) > 1  # the parent keeps a child
        ]
    if kind == "exceed-max":
        return [s for s in safe if s.array and _max_of(s) is not None and s.group_size >= (_max_of(s) or 0)]
    if kind == "primitive-format":
        return [s for s in safe if s.how == "generated" and s.type in BAD_PRIMITIVES and _plain(s)]
    if kind == "fixed-value":
        return [s for s in safe if s.how == "fixed" and _is_primitive(s.type) and s.key != "url"]
    if kind == "pattern-value":
        return [s for s in safe if s.how == "pattern" and _patternable(s)]
    if kind == "binding":
        return [s for s in safe if s.how == "bound" and s.element.binding and s.element.binding.strength == "required"]
    if kind == "unknown-element":
        loose = _undiscriminated_items(sites)
        return [
            None,
            *[
                s
                for s in safe
                if isinstance(_find(instance, s.pointer), dict)
                and "resourceType" not in _get(instance, s.pointer)
                and not any(s.pointer[: len(p)] == p for p in loose)
            ],
        ]
    if kind == "closed-slice":
        return [
            s
            for s in sites
            if s.slice_element is not None
            and s.array
            and (s.slice_element.slicing or {}).get("rules") == "closed"
            and not _under_special(s, sites)
            and _find(instance, s.pointer) is not None
            and _break_discriminator(s.slice_element, copy.deepcopy(_get(instance, s.pointer)))
        ]
    if kind == "invariant":
        return [s for s in [_root_site(builder), *safe] if _invariant_option(builder, s, instance) is not None]
    if kind == "choice-type":
        return [
            s
            for s in safe
            if s.element.is_choice
            and not s.array
            and s.how != "reference"
            and s.pointer[-1] == s.key
            and s.key.startswith(s.element.name[:-3])
            and s.key != s.element.name
            and _foreign_type(s)
        ]
    if kind == "dangling-reference":
        return [s for s in safe if s.how == "reference"]
    return []


def _root_site(builder: ProfileBuilder) -> Site:
    rt = builder.plan.type
    return Site((), rt, "", builder.plan.root, rt, "", False, 1, None, False)


def _undiscriminated_items(sites: list[Site]) -> list[tuple[str | int, ...]]:
    """Pointers of slice occurrences matched by conformance (no discriminators): any change may unmatch them."""
    return [
        s.pointer
        for s in sites
        if s.slice_element is not None and not (s.slice_element.slicing or {}).get("discriminator")
    ]


def _unidentified_items(builder: ProfileBuilder, sites: list[Site]) -> list[tuple[str | int, ...]]:
    """Pointers of slice occurrences whose value discriminator names an element without a fixed or pattern
    value (ServiceRequestOrderEuImaging identifier:accessionNumber, discriminated by `type`, fixes only
    type.coding's slices): nothing identifies them, so the validator takes them as unsliced content and
    does not hold them to the slice's definition."""
    return [
        s.pointer
        for s in sites
        if s.slice_element is not None
        and s.element.slice_name is not None
        and s.how != "entry"
        and not _identifiable(builder, s.slice_element, s.element)
    ]


def _identifiable(builder: ProfileBuilder, entry: ElementPlan, sl: ElementPlan) -> bool:
    memo: dict[str, bool] = entry.memo.setdefault("strategies:identifiable", {})
    if sl.id not in memo:
        memo[sl.id] = all(
            _discriminator_value_at(builder, sl, path)
            for kind, path in _discriminator_paths(entry)
            if kind in ("value", "pattern")
        )
    return memo[sl.id]


def _discriminator_value_at(builder: ProfileBuilder, sl: ElementPlan, path: list[str]) -> bool:
    if not path or path == ["url"] or any("(" in p for p in path):
        return True  # the slice itself, an extension's url, or a path not followed here
    node: ElementPlan | None = sl
    type_code = sl.type_codes[0] if len(sl.type_codes) == 1 else None
    for step in path:
        kids = builder.children(node, type_code) if node is not None else {}
        node = kids.get(step) or kids.get(step.removesuffix("[x]") + "[x]")
        if node is None:
            return False
        type_code = node.type_codes[0] if len(node.type_codes) == 1 else None
    return node is not None and (node.fixed is not None or node.pattern is not None)


def _foreign_type(site: Site) -> str | None:
    """A datatype the choice element of `site` does not allow."""
    allowed = set((site.slice_element or site.element).type_codes) | set(site.element.type_codes)
    return next((t for t in _FOREIGN_TYPES if t not in allowed), None)


def _has_child(obj: dict[str, Any], name: str) -> bool:
    return any(k == name or _choice_key(k, name) for k in obj)


def _invariant_option(builder: ProfileBuilder, site: Site, instance: dict[str, Any]) -> tuple[str, ElementPlan] | None:
    """(constraint key, child to add) that breaks an exclusive invariant of the object at `site`."""
    obj = _find(instance, site.pointer)
    if not isinstance(obj, dict) or site.type is None or _is_primitive(site.type):
        return None
    constraints = builder.exclusive_constraints(site.element)
    if not constraints:
        return None
    kids = builder.children(site.element, site.type)
    for key, first, second, symmetric in constraints:
        for present, absent in [(first, second), (second, first)][: 2 if symmetric else 1]:
            child = kids.get(absent) or kids.get(absent + "[x]")
            if _has_child(obj, present) and not _has_child(obj, absent) and child is not None and child.max != 0:
                return key, child
    return None


def _discriminator_paths(entry: ElementPlan) -> list[tuple[str, list[str]]]:
    return [
        (str(x.get("type")), [p for p in str(x.get("path", "$this")).split(".") if p != "$this"])
        for x in (entry.slicing or {}).get("discriminator", ())
        if isinstance(x, dict)
    ]


def _break_discriminator(entry: ElementPlan, item: Any) -> bool:
    """Change `item` in place so that one of `entry`'s discriminators no longer matches any slice."""
    for kind, path in _discriminator_paths(entry):
        if kind in ("value", "pattern") and path and not any("(" in p for p in path):
            if _perturb(item, path):
                return True
        elif kind == "type" and path and path[-1] in ("resolve()", "reference"):
            if any("(" in p for p in path[:-1]):
                continue
            refs = [r for r in _values_on_path(item, path[:-1]) if isinstance(r, dict) and "reference" in r]
            for ref in refs:
                ref["reference"] = "Basic/not-a-slice-target"
                ref.pop("type", None)
            if refs:
                return True
    return False


def _values_on_path(value: Any, path: list[str]) -> list[Any]:
    if not path:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return [v for item in value for v in _values_on_path(item, path)]
    if not isinstance(value, dict):
        return []
    name = path[0].removesuffix("[x]")
    subs = [sub for k, sub in value.items() if k == name or _has_child({k: 0}, name)]
    return [v for sub in subs for v in _values_on_path(sub, path[1:])]


def _perturb(value: Any, path: list[str]) -> bool:
    """Change every string at `path` below `value` (all of them when the path ends on an object)."""
    changed = False
    for holder in _values_on_path(value, path[:-1]):
        if not isinstance(holder, dict):
            continue
        name = path[-1].removesuffix("[x]")
        for k in [k for k in holder if k == name or _has_child({k: 0}, name)]:
            holder[k], hit = _perturb_all(holder[k])
            changed = changed or hit
    return changed


def _perturb_all(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return value + "-other", True
    if isinstance(value, list):
        pairs = [_perturb_all(v) for v in value]
        return [v for v, _ in pairs], any(h for _, h in pairs)
    if isinstance(value, dict):
        pairs2 = {k: _perturb_all(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs2.items()}, any(h for _, h in pairs2.values())
    if isinstance(value, (bool, int, float)):
        return _different(value), True
    return value, False


def _min_of(site: Site) -> int:
    return site.element.min


def _max_of(site: Site) -> int | None:
    return site.element.max


def _plain(site: Site) -> bool:
    return site.element.binding is None and site.key not in ("url", "reference") and site.element.pattern is None


def _patternable(site: Site) -> bool:
    pattern = site.element.pattern[1] if site.element.pattern else None
    return _is_primitive(site.type) or (isinstance(pattern, dict) and _first_leaf(pattern) is not None)


def _under_special(site: Site, sites: list[Site]) -> bool:
    """Inside a value of an extension or of a slice without discriminators: leave those alone."""
    return any(p in ("extension", "modifierExtension") for p in site.pointer)


def _first_leaf(value: Any) -> list[str | int] | None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                return [k]
            sub = _first_leaf(v)
            if sub is not None:
                return [k, *sub]
    if isinstance(value, list) and value:
        sub = _first_leaf(value[0])
        return None if sub is None else [0, *sub]
    return None


def _get(obj: Any, pointer: tuple[str | int, ...] | list[str | int]) -> Any:
    for p in pointer:
        obj = obj[p]
    return obj


def _find(obj: Any, pointer: tuple[str | int, ...]) -> Any:
    """The value at `pointer`, or None when construction dropped it after recording its site."""
    try:
        return _get(obj, pointer)
    except (KeyError, IndexError, TypeError):
        return None


def apply_mutation(
    builder: ProfileBuilder, instance: dict[str, Any], kind: str, site: Site | None, d: _Draw | None = None
) -> tuple[dict[str, Any], ExpectedIssue]:
    mutant = copy.deepcopy(instance)
    rt = builder.plan.type
    if site is None:  # unknown-element at the root
        mutant["colour"] = "red"
        return mutant, ExpectedIssue(kind, "unknown-element", f"{rt}.colour", "added colour")
    if kind == "unknown-element":
        _get(mutant, site.pointer)["colour"] = "red"
        return mutant, ExpectedIssue(kind, "unknown-element", f"{site.expression}.colour", "added colour")
    if kind == "invariant":
        found = _invariant_option(builder, site, instance)
        assert found is not None and d is not None
        constraint, child = found
        obj = _get(mutant, site.pointer)
        before = set(obj)
        builder.element_values(d, child, site.type, site.expression, site.pointer, MAX_DEPTH, obj, None, None, True)
        added = ", ".join(sorted(set(obj) - before))
        change = f"added {added} to {site.expression} ({constraint})"
        return mutant, ExpectedIssue(kind, constraint, site.expression, change)
    parent = _get(mutant, site.pointer[:-1])
    last = site.pointer[-1]
    if kind == "closed-slice":
        assert site.slice_element is not None
        item = copy.deepcopy(parent[last])
        _break_discriminator(site.slice_element, item)
        parent.append(item)
        where = f"{site.parent_expression}.{site.key}[{len(parent) - 1}]"
        return mutant, ExpectedIssue(kind, "slice", where, f"added {where}: {site.expression} matching no slice")
    if kind == "choice-type":
        foreign = _foreign_type(site)
        assert foreign is not None
        new_key = site.element.name[:-3] + foreign
        items = [(new_key, dict(_FOREIGN_TYPES[foreign])) if k == last else (k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        where = f"{site.parent_expression}.{new_key}"
        return mutant, ExpectedIssue(kind, "type", where, f"{site.expression} replaced by {where}")
    if kind == "drop-required":
        if site.array:
            holder = _get(mutant, site.pointer[:-2])
            key = site.pointer[-2]
            del holder[key][last]
            if not holder[key]:
                del holder[key]
        else:
            del parent[last]
        return mutant, ExpectedIssue(kind, "cardinality", site.parent_expression, f"removed {site.expression}")
    if kind == "exceed-max":
        parent.append(copy.deepcopy(parent[last]))
        return mutant, ExpectedIssue(kind, "cardinality", site.parent_expression, f"repeated {site.expression}")
    if kind == "primitive-format":
        parent[last] = BAD_PRIMITIVES[str(site.type)]
        return mutant, ExpectedIssue(kind, "primitive", site.expression, f"{site.expression} = {parent[last]!r}")
    if kind == "fixed-value":
        parent[last] = _different(parent[last])
        return mutant, ExpectedIssue(kind, "fixed", site.expression, f"{site.expression} changed")
    if kind == "pattern-value":
        if isinstance(parent[last], dict):
            leaf = _first_leaf(builder_pattern(site))
            assert leaf is not None
            holder = _get(parent[last], leaf[:-1])
            holder[leaf[-1]] = _different(holder[leaf[-1]])
        else:
            parent[last] = _different(parent[last])
        return mutant, ExpectedIssue(kind, "pattern", site.expression, f"{site.expression} changed")
    if kind == "binding":
        value = parent[last]
        if isinstance(value, str):
            parent[last] = "not-in-the-value-set"
        else:
            for coding in _codings(value):
                coding["code"] = "not-in-the-value-set"
                coding.pop("display", None)
        return mutant, ExpectedIssue(kind, "binding", site.expression, f"{site.expression} code outside the value set")
    if kind == "dangling-reference":
        from imgfhir.validation.rules.bundles import enclosing_bundle

        found_bundle = enclosing_bundle(mutant, site.pointer)
        bundle_type = found_bundle[0].get("type") if found_bundle else None
        if bundle_type == "document":  # documents are self-contained: a Type/id must name an entry
            parent[last] = f"{str(parent[last]).split('/')[0]}/dangling"
            rule = "bundle-document-reference"
        elif bundle_type in ("transaction", "batch"):  # a urn: reference must be an entry's fullUrl
            parent[last] = "urn:uuid:00000000-0000-4000-8000-00000000dead"
            rule = "bundle-transaction-reference"
        else:
            parent[last], rule = "#missing", "reference"
        return mutant, ExpectedIssue(kind, rule, site.parent_expression, f"{site.expression} = {parent[last]!r}")
    raise ValueError(f"unknown mutation kind {kind}")


def builder_pattern(site: Site) -> Any:
    return site.element.pattern[1] if site.element.pattern else None


def _codings(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [c for c in value["coding"] if isinstance(c, dict)]
    if "concept" in value:
        return _codings(value["concept"])
    return [value] if "code" in value else []


def _different(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other"
    return "other"


def _run(strategy: st.SearchStrategy[Any], n: int, seed: int, body: Callable[[Any], None]) -> None:
    """Feed `n` draws of `strategy` to `body`, reproducibly for `seed` (no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed

    @with_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(strategy)
    def run(value: Any) -> None:
        body(value)

    run()


def example_instances(
    canonical: str, n: int, seed: int = 0, *, store: PackageStore | None = None, release: str | None = None
) -> list[dict[str, Any]]:
    """`n` generated instances of `canonical`, reproducible for a given seed (`imgfhir example`)."""
    found: list[dict[str, Any]] = []
    drawn = [0]

    def keep(instance: dict[str, Any]) -> None:
        drawn[0] += 1
        if drawn[0] > 1 and len(found) < n:  # the first draw is always hypothesis's simplest instance
            found.append(instance)

    strategy = from_profile(canonical, store=store, release=release)
    while len(found) < n:
        before = len(found)
        _run(strategy, n - len(found) + 1, seed + before, keep)
        if len(found) == before:
            break
    return found[:n]


@dataclass
class FuzzReport:
    """What `fuzz` found for one profile: valid instances, and mutants caught or missed, by kind."""

    canonical: str
    examples: int = 0
    invalid: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    caught: dict[str, int] = field(default_factory=dict)
    missed: dict[str, list[tuple[ExpectedIssue, dict[str, Any]]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.invalid and not any(self.missed.values())


def fuzz(
    canonical: str,
    max_examples: int = 100,
    seed: int = 0,
    *,
    store: PackageStore | None = None,
    release: str | None = None,
) -> FuzzReport:
    """Generate instances of `canonical` and mutants of them, validate each, and count the outcomes."""
    from hypothesis.errors import Unsatisfiable

    from imgfhir.validation import Validator

    builder = builder_for(canonical, store=store, release=release)
    validator = Validator(builder.store)
    report = FuzzReport(builder.canonical)

    def errors(instance: dict[str, Any]) -> list[tuple[str | None, str | None, str]]:
        outcome = validator.validate(instance, builder.canonical, fhir_version=builder.release)
        return [(i.rule, i.expression, i.message) for i in outcome.issues if i.severity in ("error", "fatal")]

    def valid(instance: dict[str, Any]) -> None:
        report.examples += 1
        found = errors(instance)
        if found:
            report.invalid.append((instance, [f"{r} at {e}: {m}" for r, e, m in found]))

    def mutant(pair: tuple[dict[str, Any], ExpectedIssue]) -> None:
        instance, expected = pair
        if any((r, e) == (expected.rule, expected.expression) for r, e, _ in errors(instance)):
            report.caught[expected.kind] = report.caught.get(expected.kind, 0) + 1
        else:
            report.missed.setdefault(expected.kind, []).append((expected, instance))

    _run(from_profile(canonical, store=builder.store, release=release), max_examples, seed, valid)
    # kinds with no place in a sample of instances are not tried: hypothesis would draw hundreds of
    # instances before giving up on each (half a minute apiece for a document Bundle)
    offered: set[str] = set()

    def probe(pair: tuple[dict[str, Any], list[Site]]) -> None:
        offered.update(k for k in MUTATION_KINDS if k not in offered and candidates(k, pair[1], builder, pair[0]))

    _run(_with_sites(builder), 25, seed, probe)
    for kind in MUTATION_KINDS:
        if kind not in offered:
            continue
        with contextlib.suppress(Unsatisfiable):  # no place for this kind in this profile's instances
            _run(mutations(canonical, store=builder.store, release=release, kinds=(kind,)), max_examples, seed, mutant)
    return report


__all__ = [
    "MUTATION_KINDS",
    "ExpectedIssue",
    "FuzzReport",
    "ProfileBuilder",
    "Site",
    "builder_for",
    "example_instances",
    "from_profile",
    "fuzz",
    "mutations",
]
