"""StructureDefinition resources validated as definitions (rules `sd-*`, StructureDefinitionValidator).

Each fixture is a shipped StructureDefinition with one change; the derivations are in
tests/fixtures/validation/structure-definitions/README.md. A name starting `r5-` is validated as FHIR R5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfhir.packages import PackageStore
from imgfhir.validation import Validator
from imgfhir.validation.model import Item
from imgfhir.validation.plan import compile_profile
from imgfhir.validation.rules.structure_definition import definition_issues

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "validation" / "structure-definitions"
CORE = ("hl7.fhir.r4.core", "hl7.fhir.r5.core", "hl7.terminology.r4", "hl7.terminology.r5")

Found = list[tuple[str, str, str | None, int | None, int | None]]


@pytest.fixture(scope="module")
def validator(bundled_store: PackageStore) -> Validator:
    return Validator(bundled_store)


def _found(validator: Validator, name: str) -> Found:
    outcome = validator.validate(FIXTURES / name, fhir_version="R5" if name.startswith("r5-") else "R4")
    assert not [i for i in outcome.issues if i.severity == "fatal"]
    return [
        (str(i.rule), i.severity, i.expression, i.line, i.column)
        for i in outcome.issues
        if i.rule and i.rule.startswith("sd-")
    ]


DIFF = "StructureDefinition.differential.element"
SNAP = "StructureDefinition.snapshot.element"

CASES: list[tuple[str, Found]] = [
    # valid near misses: the shipped definitions as published
    ("observation-finding.json", []),
    ("r5-observation-finding.json", []),
    ("anatomical-region.json", []),
    ("procedure-schedule.json", []),
    # base and derivation: UNABLE_TO_FIND_BASE__FOR_ (warning), SD_MUST_HAVE_DERIVATION,
    # SD_CONSTRAINED_KIND_NO_MATCH, SD_CONSTRAINED_TYPE_NO_MATCH (+ SD_PATH_TYPE_MISMATCH on every element)
    ("anatomical-region-unknown-base.json", [("sd-base", "warning", "StructureDefinition.baseDefinition", 44, 21)]),
    ("observation-finding-unknown-base.json", [("sd-base", "warning", "StructureDefinition.baseDefinition", 34, 21)]),
    ("anatomical-region-no-derivation.json", [("sd-derivation", "error", "StructureDefinition", 1, 1)]),
    ("anatomical-region-kind-resource.json", [("sd-derivation", "error", "StructureDefinition.kind", 31, 11)]),
    (
        "observation-finding-type-procedure.json",
        [
            ("sd-derivation", "error", "StructureDefinition.type", 33, 11),
            ("sd-snapshot", "error", f"{DIFF}[0]", 38, 7),
            *[("sd-path", "error", f"{DIFF}[{i}].path", line, 17) for i, line in enumerate((40, 54, 61, 74, 88, 103))],
        ],
    ),
    # SD_SPECIALIZED_TYPE_MATCHES
    ("anatomical-region-specialization.json", [("sd-derivation", "error", "StructureDefinition.type", 43, 11)]),
    ("observation-finding-specialization.json", [("sd-derivation", "error", "StructureDefinition.type", 33, 11)]),
    # SD_NO_TYPE_CODE_ON_CODE (an empty type also leaves value[x].coding with nothing to unfold)
    (
        "anatomical-region-empty-type-code.json",
        [
            ("sd-snapshot", "error", f"{DIFF}[4]", 77, 7),
            ("sd-type", "error", f"{DIFF}[3].type[0].code", 69, 21),
        ],
    ),
    ("observation-finding-empty-type-code.json", [("sd-type", "error", f"{DIFF}[5].type[0].code", 107, 21)]),
    # ERROR_GENERATING_SNAPSHOT: at the differential element that cannot be placed
    ("observation-finding-unknown-element.json", [("sd-snapshot", "error", f"{DIFF}[2]", 59, 7)]),
    ("observation-finding-unknown-reslice.json", [("sd-snapshot", "error", f"{DIFF}[4]", 86, 7)]),
    # derived min below / max above the base's (ProfileUtilities.updateFromDefinition, errors)
    ("observation-finding-status-optional.json", [("sd-cardinality", "error", f"{DIFF}[6].min", 117, 16)]),
    ("anatomical-region-two-values.json", [("sd-cardinality", "error", f"{DIFF}[3].max", 76, 16)]),
    ("observation-finding-subject-required.json", []),
    # SD_PATH_TYPE_MISMATCH
    ("anatomical-region-path-observation.json", [("sd-path", "error", f"{DIFF}[1].path", 56, 17)]),
    ("observation-finding-path-procedure.json", [("sd-path", "error", f"{DIFF}[1].path", 54, 17)]),
    # SD_NO_SLICING_ON_ROOT, SD_PATH_NO_SLICING, SD_PATH_ERROR, SD_PATH_SLICING_DEPRECATED(_R5)
    ("observation-finding-root-slicing.json", [("sd-slicing", "error", f"{DIFF}[0].slicing", 41, 20)]),
    ("observation-finding-slice-code.json", [("sd-slicing", "error", f"{DIFF}[0].slicing", 41, 20)]),
    (
        "observation-finding-bad-discriminator.json",
        [("sd-slicing", "error", f"{DIFF}[0].slicing.discriminator[0].path", 45, 23)],
    ),
    (
        "observation-finding-pattern-discriminator.json",
        [("sd-slicing", "information", f"{DIFF}[0].slicing.discriminator[0].type", 44, 23)],
    ),
    (
        "r5-observation-finding-pattern-discriminator.json",
        [("sd-slicing", "warning", f"{DIFF}[0].slicing.discriminator[0].type", 44, 23)],
    ),
    # SD_ED_TYPE_PROFILE_WRONG, _WRONG_TARGET, SD_ED_TYPE_NO_TARGET_PROFILE, _UNKNOWN (warning), _IS_MODIFIER
    (
        "observation-finding-identifier-extension-profile.json",
        [("sd-type-profile", "error", f"{DIFF}[5].type[0].profile[0]", 109, 15)],
    ),
    (
        "observation-finding-target-identifier.json",
        [("sd-type-profile", "error", f"{DIFF}[4].type[0].targetProfile[0]", 96, 15)],
    ),
    (
        "anatomical-region-target-on-codeableconcept.json",
        [("sd-type-profile", "error", f"{DIFF}[3].type[0].targetProfile[0]", 71, 15)],
    ),
    (
        "observation-finding-target-unknown.json",
        [("sd-type-profile", "warning", f"{DIFF}[4].type[0].targetProfile[0]", 96, 15)],
    ),
    (
        "observation-finding-region-modifier.json",
        [("sd-type-profile", "error", f"{DIFF}[6].type[0].profile[0]", 122, 15)],
    ),
    (
        "observation-finding-component-region-modifier.json",
        [("sd-type-profile", "error", f"{DIFF}[6].type[0].profile[0]", 122, 15)],
    ),
    ("observation-finding-region-extension.json", []),
    # SD_ED_BIND_NOT_VS, SD_ED_BIND_UNKNOWN_VS (warning)
    ("anatomical-region-binding-codesystem.json", [("sd-binding", "error", f"{DIFF}[3].binding.valueSet", 74, 23)]),
    (
        "anatomical-region-binding-structuredefinition.json",
        [("sd-binding", "error", f"{DIFF}[3].binding.valueSet", 74, 23)],
    ),
    ("anatomical-region-binding-unknown.json", [("sd-binding", "warning", f"{DIFF}[3].binding.valueSet", 74, 23)]),
    # SD_EXTENSION_URL_MISMATCH, SD_EXTENSION_URL_MISSING
    ("anatomical-region-url-mismatch.json", [("sd-extension-url", "error", f"{DIFF}[2].fixedUri", 62, 21)]),
    ("anatomical-region-url-missing.json", [("sd-extension-url", "error", "StructureDefinition", 1, 1)]),
    # SD_NO_CONTEXT_WHEN_NOT_EXTENSION, SD_NO_CONTEXT_INV_WHEN_NOT_EXTENSION, SD_CONTEXT_SHOULD_NOT_BE_ELEMENT (warning)
    ("observation-finding-context.json", [("sd-context", "error", "StructureDefinition.context[0]", 117, 5)]),
    (
        "observation-finding-context-invariant.json",
        [("sd-context", "error", "StructureDefinition.contextInvariant[0]", 117, 5)],
    ),
    ("anatomical-region-context-element.json", [("sd-context", "warning", "StructureDefinition.context[0]", 34, 5)]),
    # SD_CONTEXT_SHOULD_NOT_BE_FHIRPATH (warning)
    ("anatomical-region-fhirpath-series.json", [("sd-context", "warning", "StructureDefinition.context[1]", 38, 5)]),
    ("anatomical-region-fhirpath-report.json", [("sd-context", "warning", "StructureDefinition.context[0]", 34, 5)]),
    ("anatomical-region-fhirpath-where.json", []),
    # ED_INVARIANT_KEY_ALREADY_USED, ED_INVARIANT_DIFF_NO_SOURCE, ED_INVARIANT_NO_KEY (warning),
    # ED_INVARIANT_EXPRESSION_ERROR, ED_INVARIANT_EXPRESSION_CONFLICT
    ("observation-finding-obs6-redefined.json", [("sd-invariant", "error", f"{DIFF}[0].constraint[0]", 52, 11)]),
    ("observation-finding-obs6-restated.json", []),
    (
        "observation-finding-invariant-foreign-source.json",
        [("sd-invariant", "error", f"{DIFF}[0].constraint[0].source", 57, 23)],
    ),
    (
        "observation-finding-invariant-no-key.json",
        [("sd-invariant", "warning", f"{DIFF}[0].constraint[0]", 52, 11)],
    ),
    (
        "procedure-schedule-invariant-no-key.json",
        [("sd-invariant", "warning", f"{SNAP}[2].constraint[0]", 184, 11)],
    ),
    (
        "procedure-schedule-unparsable-invariant.json",
        [("sd-invariant", "error", f"{SNAP}[0].constraint[2]", 118, 11)],
    ),
    (
        "procedure-schedule-invariant-conflict.json",
        [("sd-invariant", "error", f"{SNAP}[4].constraint[0]", 259, 11)],
    ),
    # SD_VALUE_TYPE_IILEGAL, SD_NO_TYPES_OR_CONTENTREF
    ("procedure-schedule-fixed-string.json", [("sd-value-type", "error", f"{SNAP}[3].fixedString", 239, 24)]),
    ("procedure-schedule-pattern-coding.json", [("sd-value-type", "error", f"{SNAP}[4].patternCoding", 276, 26)]),
    # SD_VALUE_COMPLEX_FIXED (warning), SD_VALUE_TYPE_REPEAT_HINT (information), _REPEAT_WARNING_DOTNET (warning)
    ("procedure-schedule-fixed-timing.json", [("sd-value-type", "warning", f"{SNAP}[4].fixedTiming", 276, 24)]),
    (
        "procedure-schedule-repeating-pattern.json",
        [("sd-value-type", "information", f"{SNAP}[4].patternTiming", 276, 26)],
    ),
    (
        "procedure-schedule-repeating-url.json",
        [
            ("sd-value-type", "information", f"{SNAP}[3].fixedUri", 231, 21),
            ("sd-value-type", "warning", f"{SNAP}[3].fixedUri", 231, 21),
        ],
    ),
    ("procedure-schedule-url-no-type.json", [("sd-value-type", "error", f"{SNAP}[3]", 204, 7)]),
    ("procedure-schedule-value-no-type.json", [("sd-value-type", "error", f"{SNAP}[4]", 241, 7)]),
]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_structure_definition_findings(validator: Validator, name: str, expected: Found) -> None:
    assert _found(validator, name) == expected


def test_every_fixture_is_tested() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(name for name, _ in CASES)


def test_the_rule_runs_only_at_the_root_of_structure_definitions(bundled_store: PackageStore) -> None:
    scope = bundled_store.scope(release="R4")
    sd_plan = compile_profile(scope, "http://hl7.org/fhir/StructureDefinition/StructureDefinition")
    names = {r.name for r in sd_plan.root.item_rules}
    assert "structure-definition" in names
    for plan in (compile_profile(scope, "http://hl7.org/fhir/StructureDefinition/Observation"),):
        stack = [plan.root]
        while stack:
            element = stack.pop()
            assert "structure-definition" not in {r.name for r in element.full_item_rules}
            stack.extend(element.children.values())
    for child in sd_plan.root.children.values():
        assert "structure-definition" not in {r.name for r in child.full_item_rules}


# shipped definitions the reference would reject too: (package, file name, rule) → why
PINNED: dict[tuple[str, str, str], str] = {}


def test_shipped_ig_definitions_have_no_errors(bundled_store: PackageStore) -> None:
    """Every StructureDefinition of the shipped IG packages (not the core) passes the `sd-*` rules."""
    errors: set[tuple[str, str, str]] = set()
    count = 0
    for pkg in bundled_store.packages:
        if pkg.id in CORE:
            continue
        scope = bundled_store.scope(pkg)
        for entry in pkg.entries:
            if entry.resource_type != "StructureDefinition":
                continue
            count += 1
            item = Item(pkg.load(entry.filename), "StructureDefinition", (), "StructureDefinition")
            for i in definition_issues(scope, pkg.release, item):
                if i.severity in ("error", "fatal"):
                    errors.add((pkg.id, entry.filename, str(i.rule)))
    assert count > 1000
    assert errors == set(PINNED)
