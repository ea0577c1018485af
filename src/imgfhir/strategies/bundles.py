"""Bundles: entries built from the profile's entry slices, each from the slice's profile, with every
reference inside naming an entry whose type and profile meet its target profiles (references.py
plans an entry from a target profile when none does). The entries are planned before anything is
built, the Composition first in a document (bdl-11), with unique urn:uuid fullUrls (bdl-7).

The invariants that tie entries together are not shapes of one element: IG_CONSTRUCTORS meets each by
name once every entry is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from imgfhir.strategies import references
from imgfhir.strategies.builder import ProfileBuilder, builder_for
from imgfhir.strategies.instances import complex_value, optional, plain_resource
from imgfhir.strategies.model import At, BundleContext, Draw, Entry, Site
from imgfhir.strategies.primitives import PRIMITIVES, WORD
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import FHIR_SD

Planned = tuple[str, str, ElementPlan]  # (resource type, profile, entry slice)


def build_resource(builder: ProfileBuilder, d: Draw) -> dict[str, Any]:
    """An instance of the builder's profile (a Bundle profile's with its entries)."""
    if builder.plan.type == "Bundle" and not d.nested and d.bundle is None:
        return build_bundle(builder, d)
    return plain_resource(builder, d)


def build_bundle(builder: ProfileBuilder, d: Draw) -> dict[str, Any]:
    """A Bundle whose entries are built from its entry slices and whose references all name entries of
    the Bundle (a document is self-contained). A reference no planned entry can answer plans a new
    entry from the reference's target profile."""
    ctx = d.bundle = BundleContext(d.draw(st.integers(0, 2**64 - 1)))
    try:
        root = builder.plan.root
        entry = root.children.get("entry")
        planned = _planned(builder, d, entry)
        for type_code, profile, _ in planned:
            references.plan_entry(builder, ctx, type_code, profile)
        out: dict[str, Any] = {"resourceType": "Bundle"}
        out.update(complex_value(builder, d, root, "Bundle", At("Bundle", ())))
        _document_header(d, out)
        _build_entries(builder, d, ctx)
        for _, construct, _ in IG_CONSTRUCTORS:
            construct(builder, d, ctx)
        _entry_sites(d, ctx, planned, entry)
        if ctx.entries:
            out["entry"] = [{"fullUrl": e.full_url, "resource": e.resource} for e in ctx.entries]
        return out
    finally:
        d.bundle = None


def _planned(builder: ProfileBuilder, d: Draw, entry: ElementPlan | None) -> list[Planned]:
    """(type, profile, slice) of each entry the slices ask for (an optional slice drawn), a document's
    Composition first (bdl-11)."""
    planned: list[Planned] = []
    for sl in entry.slices if entry is not None else ():
        types = slice_resource_types(sl)
        if sl.max == 0 or not types:
            continue
        n = sl.min or int(optional(d, 1))
        planned += [(*d.draw(st.sampled_from(types)), sl) for _ in range(n)]
    root = builder.plan.root
    fixed_type = root.children["type"].fixed if "type" in root.children else None
    if fixed_type is not None and fixed_type[1] == "document":
        planned.sort(key=lambda tp: tp[0] != "Composition")  # stable: slices keep their order
    return planned


def _document_header(d: Draw, out: dict[str, Any]) -> None:
    """bdl-9: a document has identifier.system and .value; bdl-10: a timestamp."""
    if out.get("type") != "document":
        return
    ident = out.get("identifier")
    ident = out["identifier"] = ident if isinstance(ident, dict) else {}
    ident.setdefault("system", d.draw(PRIMITIVES["uri"]))
    ident.setdefault("value", d.draw(WORD))
    out.setdefault("timestamp", d.draw(PRIMITIVES["instant"]))


def _build_entries(builder: ProfileBuilder, d: Draw, ctx: BundleContext) -> None:
    """Each planned entry's resource, from its profile; building one may plan more (its references)."""
    i = 0
    while i < len(ctx.entries):
        e = ctx.entries[i]
        sub = builder_for(e.profile, store=builder.store, release=builder.release)
        expr, ptr = f"Bundle.entry[{i}].resource", ("entry", i, "resource")
        e.resource = {"resourceType": e.type}
        e.resource.update(complex_value(sub, d, sub.plan.root, e.type, At(expr, ptr)))
        # the resource itself, where its invariants (obs-6, ...) and unknown elements are reported
        d.sites.append(Site(ptr, expr, f"Bundle.entry[{i}]", sub.plan.root, e.type, "resource", False, 1, None, False))
        i += 1


def _entry_sites(d: Draw, ctx: BundleContext, planned: list[Planned], entry: ElementPlan | None) -> None:
    """Where a mutant of a slice's entry shows: the slice's count (`Site.how == "entry"`)."""
    for i, (_, _, sl) in enumerate(planned):
        types, profiles = slice_types(sl), slice_profiles(sl)
        members = sum(1 for e in ctx.entries if e.type in types and profiles & e.conforms)
        where = f"Bundle.entry[{i}]"
        d.sites.append(Site(("entry", i), where, "Bundle", sl, None, "entry", True, members, entry, False, how="entry"))


def slice_resource_types(entry_slice: ElementPlan) -> list[tuple[str, str]]:
    """(resource type, profile) an entry slice's `resource` allows; none when it allows any resource."""
    resource = entry_slice.children.get("resource")
    out: list[tuple[str, str]] = []
    for t in resource.ed.get("type", ()) if resource is not None else ():
        code = str(t.get("code"))
        if code not in ("Resource", "DomainResource"):
            out += [(code, str(u).split("|", 1)[0]) for u in t.get("profile") or [FHIR_SD + code]]
    return out


def slice_types(entry_slice: ElementPlan) -> set[str]:
    return {t for t, _ in slice_resource_types(entry_slice)}


def slice_profiles(entry_slice: ElementPlan) -> set[str]:
    return {p for _, p in slice_resource_types(entry_slice)}


# ---- invariants across entries (HL7 Europe imaging report documents) --------------------------------


def copy_organization_authors(builder: ProfileBuilder, d: Draw, ctx: BundleContext) -> None:
    """dr-comp-author-org: the Organizations performing the report are the Composition's Organization
    authors, in order: the report's are copied there (unless the Composition has one already)."""
    compositions = [e.resource for e in ctx.entries if e.type == "Composition" and e.resource is not None]
    for report in _reports(ctx):
        assert report.resource is not None
        orgs = [r for r in report.resource.get("performer", ()) if references.entry_type(ctx, r) == "Organization"]
        for comp in compositions:
            authors = comp.setdefault("author", [])
            if orgs and not any(references.entry_type(ctx, r) == "Organization" for r in authors):
                authors += [{"reference": r["reference"]} for r in orgs]


def results_cover_sections(builder: ProfileBuilder, d: Draw, ctx: BundleContext) -> None:
    """R5 dgr-1: the Observations of the Composition's sections are among the report's results, or their
    members: added to the results when the results' target profile allows them, else as members of the
    first result; a section entry neither can take is dropped."""
    for report in _reports(ctx):
        assert report.resource is not None
        target = ctx.find(str((report.resource.get("composition") or {}).get("reference")))
        if target is None or target.resource is None:
            continue
        sub = builder_for(report.profile, store=builder.store, release=builder.release)
        result = sub.plan.root.children.get("result")
        results = report.resource.setdefault("result", [])
        for k, section in enumerate(target.resource.get("section", ())):
            entries = section.get("entry", ())
            kept = [ref for ref in entries if _covered(builder, ctx, result, results, ref)]
            if len(kept) < len(entries):
                _keep_section_entries(d, ctx, target, k, section, kept)
        if not results:
            del report.resource["result"]


def _reports(ctx: BundleContext) -> list[Entry]:
    return [e for e in ctx.entries if e.type == "DiagnosticReport" and e.resource is not None]


def _covered(
    builder: ProfileBuilder, ctx: BundleContext, result: ElementPlan | None, results: list[Any], ref: Any
) -> bool:
    """Whether section entry `ref` is (or is made) one of the report's results or of their members."""
    included = {r.get("reference") for r in results}
    included |= {m.get("reference") for r in results for m in _resource_of(ctx, r).get("hasMember", ())}
    if references.entry_type(ctx, ref) != "Observation" or ref.get("reference") in included:
        return True
    found = ctx.find(str(ref.get("reference")))
    if result is not None and found is not None and references.answers(builder, ctx, result, found):
        results.append({"reference": found.full_url})
        return True
    first = ctx.find(str(results[0].get("reference"))) if results else None
    if first is not None and first.resource is not None and first.type == "Observation":
        first.resource.setdefault("hasMember", []).append({"reference": ref.get("reference")})  # dgr-1's second way
        return True
    return False


def _resource_of(ctx: BundleContext, ref: Any) -> dict[str, Any]:
    found = ctx.find(str(ref.get("reference")))
    return found.resource if found is not None and found.resource is not None else {}


def _keep_section_entries(
    d: Draw, ctx: BundleContext, target: Entry, k: int, section: dict[str, Any], kept: list[Any]
) -> None:
    section["entry"] = kept
    at = ("entry", ctx.entries.index(target), "resource", "section", k, "entry")
    d.sites[:] = [s for s in d.sites if s.pointer[: len(at)] != at]
    if not kept:
        del section["entry"]


# The invariants across entries, each met by a named step once every entry is built, and why no
# general shape does it: both reach from one entry's resource into another's.
IG_CONSTRUCTORS: tuple[tuple[str, Callable[[ProfileBuilder, Draw, BundleContext], None], str], ...] = (
    ("dr-comp-author-org", copy_organization_authors, "the report's performers become the Composition's authors"),
    ("dgr-1", results_cover_sections, "the Composition's section entries must be among the report's results"),
)
