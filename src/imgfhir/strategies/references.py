"""What a generated reference points to: inside a Bundle, an entry whose type and profile meet the
reference's target profiles (planned before it is built, added when none is); outside one, a
contained resource where the profile needs a resolvable target, else a literal `Type/id`."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from imgfhir.strategies.builder import ProfileBuilder
from imgfhir.strategies.model import BundleContext, Draw, Entry, SliceContext, target_profiles
from imgfhir.validation.model import ElementPlan
from imgfhir.validation.plan import FHIR_SD

# dr-comp-author-org (EU imaging documents): the Organizations among the DiagnosticReport's performers
# are those among the Composition's authors. Neither picks an Organization where another type will do;
# an Organization the report's `performer:organization` slice brings is copied to the authors
# (bundles.copy_organization_authors).
BUNDLE_AVOID = {"Composition.author": "Organization", "DiagnosticReport.performer": "Organization"}


def plan_entry(builder: ProfileBuilder, ctx: BundleContext, type_code: str, profile: str) -> Entry:
    entry = Entry(ctx.full_url(), type_code, profile, builder.lineage(profile))
    ctx.entries.append(entry)
    return entry


def bundle_target(builder: ProfileBuilder, d: Draw, element: ElementPlan) -> str:
    """The fullUrl of an entry meeting the reference's target profiles: an entry already planned
    (the slices' entries answer most references, and a slice's maximum is not exceeded by a second
    Patient), else a new entry built from one of the target profiles."""
    ctx = d.bundle
    assert ctx is not None
    urls = target_profiles(element, "Reference") or d.targets
    options, existing = bundle_candidates(builder, ctx, element, urls)
    if existing:
        return str(d.draw(st.sampled_from(existing)).full_url)
    type_code, profile = d.draw(st.sampled_from(options))
    return plan_entry(builder, ctx, type_code, profile).full_url


def bundle_candidates(
    builder: ProfileBuilder, ctx: BundleContext, element: ElementPlan, urls: tuple[str, ...]
) -> tuple[list[tuple[str, str]], list[Entry]]:
    """(type, profile) a reference of `element` may target, and the planned entries that meet one."""
    avoid = BUNDLE_AVOID.get(element.path)
    options = _options(builder, avoid, urls)
    if not options or any(t in ("Resource", "DomainResource") for t, _ in options):
        # any resource: the patient when there is one (the usual subject), else any entry
        anything = [e for e in ctx.entries if e.type != avoid] or ctx.entries
        return [("Patient", FHIR_SD + "Patient")], [e for e in anything if e.type == "Patient"] or anything
    return options, [e for e in ctx.entries if _meets(e, options)]


def _options(builder: ProfileBuilder, avoid: str | None, urls: tuple[str, ...]) -> list[tuple[str, str]]:
    """(type, profile) of each target profile, less the type to avoid where another will do."""
    options = [(builder.profile_type(u), u) for u in urls]
    if avoid and any(t != avoid for t, _ in options):
        return [(t, u) for t, u in options if t != avoid]
    return options


def _meets(entry: Entry, options: list[tuple[str, str]]) -> bool:
    return any(entry.type == t and (u == FHIR_SD + t or u in entry.conforms) for t, u in options)


def bundle_has_target(builder: ProfileBuilder, d: Draw, child: ElementPlan) -> bool:
    """Whether a planned entry answers a reference of `child` (optional references to resources the
    Bundle does not hold yet are left out: each would add an entry, and its references more)."""
    assert d.bundle is not None
    urls = target_profiles(child, "Reference") + target_profiles(child, "CodeableReference")
    return bool(bundle_candidates(builder, d.bundle, child, urls)[1])


def answers(builder: ProfileBuilder, ctx: BundleContext, element: ElementPlan, entry: Entry) -> bool:
    """Does `entry` meet the target profiles of the references of `element`?"""
    return entry in bundle_candidates(builder, ctx, element, target_profiles(element, "Reference"))[1]


def entry_type(ctx: BundleContext, ref: Any) -> str | None:
    """The resource type of the entry a reference names (None when it names none)."""
    found = ctx.find(str(ref.get("reference"))) if isinstance(ref, dict) else None
    return found.type if found is not None else None


def contained_profiles(d: Draw, element: ElementPlan, slice_ctx: SliceContext | None) -> list[str]:
    """The profiles to build a contained target from, for a reference that a `profile` discriminator
    slices on (the validator resolves the reference and checks the target's profile), or that the
    profile allows only to contained resources (`aggregation: contained`); none for other references."""
    if d.nested:
        return []
    aggregation = {str(m) for t in element.ed.get("type", ()) for m in t.get("aggregation", ())}
    if aggregation != {"contained"} and not _profile_sliced(d, slice_ctx):
        return []
    profiles = [str(u) for t in element.ed.get("type", ()) for u in t.get("targetProfile", ())]
    return [u for u in profiles if not u.startswith(FHIR_SD)] or profiles


def _profile_sliced(d: Draw, slice_ctx: SliceContext | None) -> bool:
    if slice_ctx is None or d.bundle is not None:
        return False
    discriminators = (slice_ctx[0].slicing or {}).get("discriminator", ())
    if not any(isinstance(x, dict) and x.get("type") == "profile" for x in discriminators):
        return False
    # a target built for one slice's profile may conform to another's too (the DICOM SR derivedFrom
    # profiles overlap) and be counted there: only unambiguous slicings get a resolvable target
    return len(slice_ctx[0].slices) <= 1
