"""Generated models and JSON Schemas (generated/imgfhir_models): IG examples as the oracle."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import imgfhir.models.dicom_sr
import imgfhir.models.eu_imaging
import imgfhir.models.eu_imaging_r5
import imgfhir.models.r4
import imgfhir.models.r5
import imgfhir.models.rds
from imgfhir.codegen.models import IMAGING_TARGETS, Target, build_schemas, generate, profile_canonicals
from imgfhir.models import FhirModel, schema_path
from imgfhir.models.rds import RadiationDoseSummary
from imgfhir.packages import PackageStore, load_store
from tests.support import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "generated" / "imgfhir_models"
SCHEMAS = GENERATED / "schemas"
EXAMPLES = FIXTURES / "ig-examples"
INVALID = FIXTURES / "validation" / "invalid"
CORE = "http://hl7.org/fhir/StructureDefinition/"
RELEASE = {"rds": "r4", "eu_imaging": "r4", "dicom_sr": "r5", "eu_imaging_r5": "r5"}
MODULES = {
    "rds": imgfhir.models.rds,
    "dicom_sr": imgfhir.models.dicom_sr,
    "eu_imaging": imgfhir.models.eu_imaging,
    "eu_imaging_r5": imgfhir.models.eu_imaging_r5,
    "r4": imgfhir.models.r4,
    "r5": imgfhir.models.r5,
}


def _profile_classes(module: Any) -> dict[str, type[FhirModel]]:
    return {
        c.fhir_profile: c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, FhirModel) and c.fhir_profile
    }


def _examples() -> list[tuple[str, Path]]:
    return [
        (module, path)
        for module, package_id in IMAGING_TARGETS.items()
        for path in sorted((EXAMPLES / package_id).glob("*.json"))
        if "resourceType" in json.loads(path.read_bytes())
    ]


def _declared(data: dict[str, Any]) -> str:
    profiles = data.get("meta", {}).get("profile") or [CORE + data["resourceType"]]
    return str(profiles[0]).split("|")[0]


def _model_for(module: str, data: dict[str, Any]) -> type[FhirModel]:
    """The model of the instance's declared profile; the base resource model when the IG has no such profile."""
    own = _profile_classes(MODULES[module])
    base = _profile_classes(MODULES[RELEASE[module]])
    found = own.get(_declared(data)) or base.get(CORE + data["resourceType"])
    assert found is not None, f"no model for {data['resourceType']}"
    return found


EXAMPLE_CASES = _examples()
EXPECTED_BY_PROFILE = {"rds": 7, "dicom_sr": 23, "eu_imaging": 19, "eu_imaging_r5": 19}


def test_every_imaging_ig_example_is_covered() -> None:
    counts = {m: sum(1 for mm, _ in EXAMPLE_CASES if mm == m) for m in IMAGING_TARGETS}
    assert counts == {"rds": 14, "dicom_sr": 28, "eu_imaging": 73, "eu_imaging_r5": 73}


@pytest.mark.parametrize(("module", "path"), EXAMPLE_CASES, ids=[f"{m}/{p.name}" for m, p in EXAMPLE_CASES])
def test_ig_example_round_trips(module: str, path: Path) -> None:
    data = json.loads(path.read_bytes())
    model = _model_for(module, data)
    instance = model.model_validate(data)
    assert instance.model_dump(by_alias=True, exclude_none=True) == data


def test_ig_examples_use_their_declared_profile_models() -> None:
    """Examples that declare an IG profile load into that profile's model, not a base model."""
    by_profile = dict.fromkeys(IMAGING_TARGETS, 0)
    for module, path in EXAMPLE_CASES:
        if _declared(json.loads(path.read_bytes())) in _profile_classes(MODULES[module]):
            by_profile[module] += 1
    # the others declare no profile, an EU base or IPS profile: they load into the base resource models
    assert by_profile == EXPECTED_BY_PROFILE


CORE_CASES = sorted((FIXTURES / "core-examples").glob("r*/*.json"))


@pytest.mark.parametrize("path", CORE_CASES, ids=[f"{p.parent.name}/{p.name}" for p in CORE_CASES])
def test_core_example_round_trips_through_base_model(path: Path) -> None:
    data = json.loads(path.read_bytes())
    model = getattr(MODULES[path.parent.name], data["resourceType"])
    assert model.fhir_profile == CORE + data["resourceType"]
    assert model.model_validate(data).model_dump(by_alias=True, exclude_none=True) == data


# ---- JSON Schemas ------------------------------------------------------------------------------------------------


def _registry(root: Path, docs: dict[str, Any] | None = None) -> Registry:
    registry: Registry = Registry()
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root).as_posix()
        doc = docs[rel] if docs is not None else json.loads(path.read_bytes())
        registry = registry.with_resource(path.resolve().as_uri(), DRAFT202012.create_resource(doc))
    return registry


@pytest.fixture(scope="module")
def shipped_registry() -> Registry:
    return _registry(SCHEMAS)


def _schema_validator(registry: Registry, root: Path, module: str, profile: str) -> Draft202012Validator:
    doc = json.loads((root / f"{module}.json").read_bytes())
    names = [name for name, d in doc["$defs"].items() if d.get("x-fhir-profile") == profile]
    assert names, f"{profile} not in {module}.json"
    return Draft202012Validator(
        {"$ref": f"{(root / module).resolve().as_uri()}.json#/$defs/{names[0]}"}, registry=registry
    )


def _validator_for(registry: Registry, module: str, data: dict[str, Any]) -> Draft202012Validator:
    doc = json.loads((SCHEMAS / f"{module}.json").read_bytes())
    declared = _declared(data)
    if any(d.get("x-fhir-profile") == declared for d in doc["$defs"].values()):
        return _schema_validator(registry, SCHEMAS, module, declared)
    return _schema_validator(registry, SCHEMAS, f"{RELEASE[module]}/resources", CORE + data["resourceType"])


def test_schemas_are_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(json.loads((SCHEMAS / "rds.json").read_bytes()))  # the others: same builder
    for path in SCHEMAS.rglob("*.json"):
        doc = json.loads(path.read_bytes())
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema" and doc["$defs"]


@pytest.mark.parametrize("module", list(IMAGING_TARGETS))
def test_schemas_accept_the_ig_examples(shipped_registry: Registry, module: str) -> None:
    failures = []
    for mod, path in EXAMPLE_CASES:
        if mod != module:
            continue
        data = json.loads(path.read_bytes())
        errors = list(_validator_for(shipped_registry, module, data).iter_errors(data))
        failures += [f"{path.name}: {e.json_path}: {e.message[:200]}" for e in errors[:3]]
    assert not failures, "\n".join(failures)


# Structural invalid fixtures of the validator (tests/fixtures/validation/invalid/expected.json) the schemas reject.
SCHEMA_REJECTS = [
    "cardinality-missing-status.json",
    "cardinality-missing-partof.json",
    "cardinality-two-performers.json",
    "json-shape-performer-object.json",
    "json-shape-status-array.json",
    "json-shape-empty-object.json",
    "type-value-choice.json",
    "type-component-value.json",
    "fixed-code.json",
    "fixed-uri.json",
    "fixed-string.json",
    "pattern-code.json",
    "pattern-identifier-system.json",
    "pattern-identifier-type.json",
    "pattern-coding-image-region.json",
    "slice-value-observation-uid.json",
    "slice-type-reference.json",
    "slice-type-value.json",
    "slice-closed-performer.json",
    "primitive-datetime.json",
    "primitive-decimal-as-string.json",
    "unknown-element-root.json",
    "unknown-element-reference.json",
    "unknown-element-coding.json",
]
CASES = {c["file"]: c for c in json.loads((INVALID / "expected.json").read_bytes())["cases"]}


@pytest.fixture(scope="module")
def local_profiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Registry]:
    """Schemas for the fixture package with the fixed-value profile (what `imgfhir codegen --package` builds)."""
    package = FIXTURES / "snapshot" / "local-profiles"
    store = load_store(extra=[package], env=False, entry_points=False)
    package_id = json.loads((package / "package" / "package.json").read_bytes())["name"]
    target = Target("local", package_id)
    target.release, target.canonicals, target.package_version = profile_canonicals(store, package_id)
    docs = build_schemas(store, [target])
    root = tmp_path_factory.mktemp("local-schemas")
    for rel, doc in docs.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(doc))
    return root, _registry(root, docs)


def test_structural_invalid_fixtures_are_rejected_by_the_schemas(
    shipped_registry: Registry, local_profiles: tuple[Path, Registry]
) -> None:
    assert set(SCHEMA_REJECTS) <= set(CASES)
    kinds = {e["rule"] for f in SCHEMA_REJECTS for e in CASES[f]["expected"]}
    assert {"cardinality", "json-shape", "fixed", "type", "pattern"} <= kinds
    accepted = []
    for name in SCHEMA_REJECTS:
        case = CASES[name]
        data = json.loads((INVALID / name).read_bytes())
        if case.get("profile"):
            validator = _schema_validator(local_profiles[1], local_profiles[0], "local", case["profile"])
        else:
            validator = _validator_for(shipped_registry, "rds" if case["fhirVersion"] == "R4" else "dicom_sr", data)
        if validator.is_valid(data):
            accepted.append(name)
    assert not accepted
    # ... and the instances they were derived from are accepted
    for name in SCHEMA_REJECTS:
        source = CASES[name]["derived_from"]
        if CASES[name].get("profile"):
            continue
        data = json.loads((EXAMPLES / source).read_bytes())
        module = "rds" if CASES[name]["fhirVersion"] == "R4" else "dicom_sr"
        assert _validator_for(shipped_registry, module, data).is_valid(data), source


def test_choice_types_at_most_one(shipped_registry: Registry) -> None:
    data = json.loads((EXAMPLES / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json").read_bytes())
    both = {**data, "component": [{**data["component"][0], "valueString": "x"}]}
    assert "valueQuantity" in data["component"][0] or "valueCodeableConcept" in data["component"][0]
    assert not _validator_for(shipped_registry, "rds", both).is_valid(both)
    with pytest.raises(ValidationError, match="at most one of"):
        RadiationDoseSummary.model_validate(both)


# ---- models ------------------------------------------------------------------------------------------------------


def _observation_122() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (EXAMPLES / "hl7.fhir.uv.radiation-dose-summary" / "Observation-122.json").read_bytes()
    )
    return data


@pytest.mark.parametrize(
    "name", ["cardinality-missing-status.json", "json-shape-performer-object.json", "json-shape-status-array.json",
             "type-value-choice.json", "unknown-element-root.json", "unknown-element-coding.json",
             "cardinality-two-performers.json", "primitive-datetime.json"]
)  # fmt: skip
def test_models_reject_structural_errors(name: str) -> None:
    with pytest.raises(ValidationError):
        RadiationDoseSummary.model_validate(json.loads((INVALID / name).read_bytes()))


def test_fhir_names_are_aliases() -> None:
    birth_time = {"url": CORE + "patient-birthTime", "valueDateTime": "1970-01-01T10:00:00Z"}
    patient = imgfhir.models.r4.Patient.model_validate(
        {"resourceType": "Patient", "birthDate": "1970-01-01", "_birthDate": {"extension": [birth_time]}}
    )
    assert patient.field_birthDate is not None and patient.field_birthDate.extension
    assert "_birthDate" in patient.to_fhir()
    assert imgfhir.models.r4.Patient().resourceType == "Patient"
    # reserved words: the Python name carries a trailing underscore, the FHIR name is the alias
    assert imgfhir.models.r4.Encounter.model_fields["class_"].alias == "class"
    encounter = imgfhir.models.r4.Encounter(
        status="finished", class_=imgfhir.models.r4.Coding(code="AMB"), period=imgfhir.models.r4.Period(start="2024")
    )
    assert encounter.to_fhir() == {
        "resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "period": {"start": "2024"}
    }  # fmt: skip


def test_validate_profile_runs_the_validator() -> None:
    instance = RadiationDoseSummary.model_validate(_observation_122())
    assert instance.fhir_profile and instance.fhir_version == "R4"
    assert not [i for i in instance.validate_profile().issues if i.severity in ("error", "fatal")]
    broken = instance.model_copy(update={"valueString": None})
    assert any(i.rule == "cardinality" for i in broken.validate_profile().issues)


def test_typed_usage_passes_mypy_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    from mypy import api

    monkeypatch.chdir(ROOT)  # mypy_path in pyproject.toml is relative to the checkout
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml"),
         str(Path(__file__).with_name("typed_usage.py"))]
    )  # fmt: skip
    assert status == 0, stdout + stderr
    from tests.codegen import typed_usage

    assert typed_usage.dose_summary().to_fhir()["resourceType"] == "Observation"
    assert typed_usage.measurement().valueQuantity is not None


def test_schema_path_names_the_shipped_schemas() -> None:
    assert schema_path("rds") == SCHEMAS / "rds.json" or schema_path("rds").is_file()
    assert json.loads(schema_path("r5/datatypes").read_bytes())["$defs"]["CodeableReference"]


# ---- freshness ---------------------------------------------------------------------------------------------------


def _files(root: Path) -> list[str]:
    files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(p.relative_to(root).as_posix() for p in files)


def test_generated_is_fresh(tmp_path: Path, bundled_store: PackageStore) -> None:
    """generated/ is what the generators write today (regenerate with `python codegen/models.py`)."""
    pytest.importorskip("datamodel_code_generator")
    out = tmp_path / "imgfhir_models"
    generate(bundled_store, [Target(m, p) for m, p in IMAGING_TARGETS.items()], out)
    fresh = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    committed = sorted(
        p.relative_to(GENERATED).as_posix()
        for p in GENERATED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed
    stale = [rel for rel in fresh if not filecmp.cmp(out / rel, GENERATED / rel, shallow=False)]
    assert not stale, f"stale generated files (run python codegen/models.py): {stale}"


# ---- imgfhir codegen ---------------------------------------------------------------------------------------------


def test_cli_codegen_schemas_for_a_user_package(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from imgfhir.cli import app

    package = FIXTURES / "snapshot" / "local-profiles"
    out = tmp_path / "local_models"
    result = CliRunner().invoke(app, ["codegen", "--package", str(package), "--schemas-only", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "example.imgfhir.local-profiles: 5 profiles" in result.stderr
    assert "warning: http://example.org/fhir/StructureDefinition/circular-a left out" in result.stderr
    doc = json.loads((out / "schemas" / "example_imgfhir_local_profiles.json").read_bytes())
    assert "FixedValuesObservation" in doc["$defs"]
    assert (out / "schemas" / "r4" / "datatypes.json").is_file()
    unknown = CliRunner().invoke(app, ["codegen", "--ig", "no.such.ig", "-o", str(out)])
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: unknown package no.such.ig")


def test_slice_accessors() -> None:
    rds = EXAMPLES / "hl7.fhir.uv.radiation-dose-summary"
    summary = RadiationDoseSummary.model_validate(json.loads((rds / "Observation-139.json").read_bytes()))
    assert [i.value for i in summary.slice_radiationSRUID()] == ["urn:oid:1.2.840.121.3.32.0.1.1323423.122"]
    assert [r.reference for r in summary.slice_imagingStudyRef()] == [summary.partOf[0].reference]
    other = RadiationDoseSummary.model_validate(_observation_122())
    assert other.slice_radiationSRUID() == []
    device = imgfhir.models.rds.ModalityDevice.model_validate(json.loads((rds / "Device-12.json").read_bytes()))
    assert [i.value for i in device.slice_aeTitle()] == ["XA01"]
    assert [n.name for n in device.slice_manufacturer()] == ["Manufacturer-1"]
    assert {"slice_observationUID", "slice_imagingStudyRef"} <= set(dir(imgfhir.models.dicom_sr.ImagingMeasurement))


def test_models_require_required_choices() -> None:
    data = json.loads((INVALID / "slice-type-value.json").read_bytes())  # valueQuantity (required) → valueString
    model = _model_for("dicom_sr", data)
    with pytest.raises(ValidationError, match="valueQuantity is required"):
        model.model_validate(data)
    without = {k: v for k, v in _observation_122().items() if k != "valueString"}
    with pytest.raises(ValidationError, match="valueString is required"):
        RadiationDoseSummary.model_validate(without)


def test_schemas_check_extension_slice_value_types(shipped_registry: Registry) -> None:
    path = EXAMPLES / "hl7.fhir.eu.imaging-r5" / "Composition-CompositionStructured.json"
    data = json.loads(path.read_bytes())
    validator = _validator_for(shipped_registry, "eu_imaging_r5", data)
    assert validator.is_valid(data)
    based_on = "http://hl7.org/fhir/StructureDefinition/event-basedOn"  # valueReference only
    changed = [{"url": e["url"], "valueString": "x"} if e["url"] == based_on else e for e in data["extension"]]
    assert changed != data["extension"]
    assert not validator.is_valid({**data, "extension": changed})
