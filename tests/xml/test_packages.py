"""XML conformance resources in folder packages (`--package DIR`), as the reference loads XML profiles
from an `-ig` folder: indexed and used like the JSON ones; a file that cannot be read is a package
warning. The fixture packages are in tests/fixtures/xml/packages (README.md there: how each file was
derived, by imgfhir's writer, from a definition the SDK ships)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from imgfhir.cli import app
from imgfhir.packages import Package, PackageError, PackageStore, load_store
from imgfhir.validation import Validator
from imgfhir.xml.writer import write_xml
from tests.support import FIXTURES

runner = CliRunner()
PACKAGES = FIXTURES / "xml" / "packages"
GOOD = PACKAGES / "example.imaging.xml"
BROKEN = PACKAGES / "example.imaging.xml-broken"
RDS = "http://hl7.org/fhir/uv/radiation-dose-summary"
JSON_PROFILE = f"{RDS}/StructureDefinition/modality-device"
XML_PROFILE = "http://example.org/fhir/imaging-xml/StructureDefinition/modality-device-xml"
XML_VALUE_SET = "http://example.org/fhir/imaging-xml/ValueSet/isotope-rds-vs-xml"
EXAMPLES = FIXTURES / "ig-examples" / "hl7.fhir.uv.radiation-dose-summary"


@pytest.fixture(scope="module")
def store() -> PackageStore:
    return load_store([GOOD], env=False, entry_points=False)


@pytest.fixture(scope="module")
def validator(store: PackageStore) -> Validator:
    return Validator(store)


def _device(name: str) -> dict[str, Any]:
    """A real example of the profile, without its declared profile (so that only the one asked for counts)."""
    device: dict[str, Any] = orjson.loads((EXAMPLES / name).read_bytes())
    device.pop("meta", None)
    return device


def _found(outcome: Any) -> list[tuple[str, str | None, str | None]]:
    return sorted((i.severity, i.rule, i.expression) for i in outcome.issues)


def test_xml_resources_are_indexed(store: PackageStore) -> None:
    pkg = store.get("example.imaging.xml")
    assert pkg is not None
    assert pkg.counts() == {"StructureDefinition": 1, "ValueSet": 1}
    entry = next(e for e in pkg.entries if e.resource_type == "StructureDefinition")
    assert (entry.url, entry.type, entry.kind, entry.derivation, entry.abstract) == (
        XML_PROFILE,
        "Device",
        "resource",
        "constraint",
        False,
    )
    assert entry.base_definition == "http://hl7.org/fhir/StructureDefinition/Device"
    assert not [i for i in store.diagnostics if "example.imaging.xml" in i.message]


def test_xml_resources_read_back_as_the_json_they_were_written_from(store: PackageStore) -> None:
    """The oracle is the shipped JSON: what the package's XML holds is it, but for id, url and name."""
    rds = store.get("hl7.fhir.uv.radiation-dose-summary")
    assert rds is not None
    for url, original in [
        (XML_PROFILE, "StructureDefinition-modality-device.json"),
        (XML_VALUE_SET, "ValueSet-isotope-rds-vs.json"),
    ]:
        read = store.scope("example.imaging.xml").resolve(url)
        shipped = {k: v for k, v in rds.load(original).items() if k != "text"}
        assert {k: v for k, v in read.items() if k not in ("id", "url", "name")} == {
            k: v for k, v in shipped.items() if k not in ("id", "url", "name")
        }
        assert read["url"] == url


@pytest.mark.parametrize("name", ["Device-12.json", "Device-539.json"])
def test_an_xml_profile_validates_as_its_json_original(validator: Validator, name: str) -> None:
    device = _device(name)
    by_json = validator.validate(device, JSON_PROFILE)
    by_xml = validator.validate(device, XML_PROFILE)
    assert by_xml.ok and _found(by_xml) == _found(by_json)
    as_xml = write_xml(device, validator.store.scope(release="R4")).text  # the example in XML too
    assert _found(validator.validate(as_xml, XML_PROFILE)) == _found(by_json)


def _line_column(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


@pytest.mark.parametrize(
    ("name", "change", "rule", "expression", "needle", "message"),
    [
        # Device.type min 1 in the profile: the example without it
        ("Device-12.json", lambda d: d.pop("type"), "cardinality", "Device", "{", "Device.type: minimum required = 1"),
        # the aeTitle identifier slice min 1: the example with that identifier's type changed
        (
            "Device-539.json",
            lambda d: d["identifier"][0]["type"]["coding"][0].update(code="device-id"),
            "cardinality",
            "Device",
            "{",
            "Device.identifier:aeTitle: minimum required = 1",
        ),
    ],
)
def test_an_xml_profile_finds_what_its_json_original_finds(
    validator: Validator, name: str, change: Any, rule: str, expression: str, needle: str, message: str
) -> None:
    device = _device(name)
    change(device)
    text = orjson.dumps(device, option=orjson.OPT_INDENT_2).decode()
    by_json = validator.validate(text, JSON_PROFILE)
    by_xml = validator.validate(text, XML_PROFILE)
    assert _found(by_xml) == _found(by_json)
    errors = [i for i in by_xml.issues if i.severity == "error"]
    assert [(i.rule, i.expression) for i in errors] == [(rule, expression)], [str(i) for i in errors]
    assert message in errors[0].message
    assert (errors[0].line, errors[0].column) == _line_column(text, needle)


def test_the_command_line_validates_with_an_xml_profile_from_a_package_folder(tmp_path: Path) -> None:
    device = _device("Device-12.json")
    (tmp_path / "device.json").write_bytes(orjson.dumps(device))
    del device["type"]
    (tmp_path / "no-type.json").write_bytes(orjson.dumps(device))
    ok = runner.invoke(
        app, ["validate", str(tmp_path / "device.json"), "--package", str(GOOD), "--profile", XML_PROFILE]
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(
        app, ["validate", str(tmp_path / "no-type.json"), "--package", str(GOOD), "--profile", XML_PROFILE]
    )
    assert bad.exit_code == 1 and "Device.type: minimum required = 1" in bad.stdout, bad.output
    listed = runner.invoke(app, ["packages", "list", "--package", str(GOOD)])
    row = next(line for line in listed.stdout.splitlines() if line.startswith("example.imaging.xml "))
    assert row.split()[-4:] == ["1", "1", "0", "2"]  # SD, VS, CS, total


def test_files_a_package_cannot_read_are_warnings_not_crashes() -> None:
    store = load_store([BROKEN, GOOD], env=False, entry_points=False)
    pkg = store.get("example.imaging.xml-broken")
    assert pkg is not None and pkg.entries == ()
    warnings = {i.message for i in store.diagnostics if "example.imaging.xml-broken" in i.message}
    assert all(i.severity == "warning" for i in store.diagnostics)
    assert len(warnings) == 3, warnings
    assert any("StructureDefinition-truncated.xml" in m and "not well-formed" in m for m in warnings)
    assert any("ValueSet-doctype.xml 2:1" in m and "DOCTYPE" in m for m in warnings)
    assert any("notes.xml is not a FHIR resource" in m for m in warnings)
    assert Validator(store).validate(_device("Device-12.json"), XML_PROFILE).ok  # the rest still works


def test_the_command_line_prints_the_package_warnings_with_verbose() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "Device-12.json"), "--package", str(BROKEN), "--verbose"])
    assert result.exit_code == 0, result.output
    assert "warning: example.imaging.xml-broken#0.1.0: notes.xml is not a FHIR resource" in result.stderr


def test_an_xml_file_beside_its_json_twin_is_not_indexed_twice(tmp_path: Path) -> None:
    """An IG publisher's output holds each resource in both formats."""
    folder = tmp_path / "package"
    shutil.copytree(GOOD / "package", folder)
    rds = load_store(env=False, entry_points=False).get("hl7.fhir.uv.radiation-dose-summary")
    assert rds is not None
    shipped = dict(rds.load("ValueSet-isotope-rds-vs.json"), id="isotope-rds-vs-xml", url=XML_VALUE_SET)
    (folder / "ValueSet-isotope-rds-vs-xml.json").write_bytes(orjson.dumps(shipped))
    store = load_store([tmp_path], env=False, entry_points=False)
    pkg = store.get("example.imaging.xml")
    assert pkg is not None
    assert sorted(e.filename for e in pkg.entries) == [
        "StructureDefinition-modality-device-xml.xml",
        "ValueSet-isotope-rds-vs-xml.json",
    ]


def test_an_xml_resource_needs_a_store_to_be_read() -> None:
    """A package opened on its own has no definitions to read XML by: a clear error, not a crash."""
    pkg = Package.open(GOOD, "option")
    with pytest.raises(PackageError, match="read in a package store"):
        pkg.load("ValueSet-isotope-rds-vs-xml.xml")
