"""Profiles → JSON Schema documents → pydantic v2 modules (datamodel-code-generator).

Output layout (the root is a Python package, `imgfhir_models` for the shipped models):

    schemas/r4/datatypes.json      shared datatypes of a release (primitives, complex types, Element)
    schemas/r4/resources.json      base resources of the types the IGs profile
    schemas/<module>.json          one document per IG package, a $defs entry per profile
    r4/datatypes.py, r4/resources.py, <module>.py
                                   the pydantic models generated from the schemas above

datamodel-code-generator is a codegen-time dependency (`imgfhir[codegen]`); it is imported lazily.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgfhir.codegen.jsonschema import SchemaBuilder, model_schema
from imgfhir.packages.store import PackageStore

DMCG_VERSION = "0.89.0"
BASE_CLASS = "imgfhir.models.base.FhirModel"
# Base resources generated per release besides the profiled types (the IG examples' other types).
_COMMON_TYPES = [
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Device", "Encounter", "ImagingStudy",
    "DiagnosticReport", "Observation", "Composition", "ServiceRequest", "BodyStructure", "Bundle", "Procedure",
    "Binary",
]  # fmt: skip
BASE_TYPES = {"R4": set(_COMMON_TYPES), "R5": {*_COMMON_TYPES, "ImagingSelection"}}


@dataclass
class Target:
    """One generated module: the profiles of one package."""

    module: str
    package_id: str
    release: str = ""
    canonicals: list[str] = field(default_factory=list)
    package_version: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (canonical, snapshot error) left out


# The shipped models: module name → package id.
IMAGING_TARGETS = {
    "rds": "hl7.fhir.uv.radiation-dose-summary",
    "dicom_sr": "hl7.fhir.uv.dicom-sr",
    "eu_imaging": "hl7.fhir.eu.imaging",
    "eu_imaging_r5": "hl7.fhir.eu.imaging-r5",
}


def module_name(package_id: str) -> str:
    """A Python module name for a package id (hl7.fhir.uv.my-ig → my_ig)."""
    for module, pid in IMAGING_TARGETS.items():
        if pid == package_id:
            return module
    parts = package_id.split(".")
    tail = parts[3:] if len(parts) > 3 and parts[:2] == ["hl7", "fhir"] else parts
    name = re.sub(r"[^0-9a-zA-Z]+", "_", "_".join(tail)).strip("_").lower()
    return name if name and not name[0].isdigit() else f"ig_{name}"


def profile_canonicals(store: PackageStore, package_id: str) -> tuple[str, list[str], str]:
    """(release, profile canonicals, package version) of a package: resource and datatype profiles."""
    scope = store.scope(package_id)
    urls = sorted(
        e.url
        for e in scope.root.entries
        if e.resource_type == "StructureDefinition"
        and e.url
        and e.kind in ("resource", "complex-type")
        and e.derivation == "constraint"
    )
    return scope.release, urls, scope.root.version


def build_schemas(store: PackageStore, targets: list[Target]) -> dict[str, dict[str, Any]]:
    """Schema documents by relative path (`r4/datatypes.json`, `rds.json`, ...)."""
    for target in targets:
        if not target.canonicals:
            target.release, target.canonicals, target.package_version = profile_canonicals(store, target.package_id)
    docs: dict[str, dict[str, Any]] = {}
    needed: dict[str, set[str]] = {}
    builders: dict[str, SchemaBuilder] = {}
    profiled: dict[str, set[str]] = {}
    for target in targets:
        scope = store.scope(target.package_id)
        rel = scope.release.lower()
        builder = SchemaBuilder(scope, datatypes_ref=f"{rel}/datatypes.json")
        builder.needed_types = needed.setdefault(scope.release, set())
        builders.setdefault(scope.release, builder)
        docs[f"{target.module}.json"] = builder.profiles_document(
            target.canonicals, title=f"{target.package_id}#{target.package_version}"
        )
        target.skipped = list(builder.skipped)
        for canonical in target.canonicals:
            entry = scope.entry(canonical)
            if entry and entry[1].kind == "resource" and entry[1].type:
                profiled.setdefault(scope.release, set()).add(entry[1].type)
    for release, builder in sorted(builders.items()):
        rel = release.lower()
        base = SchemaBuilder(builder.scope, datatypes_ref="datatypes.json")
        base.needed_types = needed[release]
        types = (profiled.get(release, set()) | BASE_TYPES.get(release, set())) & base.resource_types()
        docs[f"{rel}/resources.json"] = base.base_document(types, title=f"FHIR {release} base resources")
        dt = SchemaBuilder(builder.scope, datatypes_ref="datatypes.json")
        dt.needed_types = needed[release]
        docs[f"{rel}/datatypes.json"] = dt.datatypes_document(title=f"FHIR {release} datatypes")
    return docs


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def write_schemas(docs: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write schema documents (from build_schemas) under out_dir; returns the files written."""
    written = []
    for rel, doc in docs.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dump(doc), encoding="utf-8")
        written.append(path)
    return written


def _datamodel_codegen(schema_dir: Path, out_dir: Path) -> None:
    try:
        import datamodel_code_generator  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("model generation needs datamodel-code-generator: pip install 'imgfhir[codegen]'") from exc
    cmd = [
        sys.executable, "-m", "datamodel_code_generator",
        "--input", str(schema_dir), "--input-file-type", "jsonschema", "--output", str(out_dir),
        "--output-model-type", "pydantic_v2.BaseModel", "--base-class", BASE_CLASS,
        "--collapse-root-models", "--use-standard-collections", "--use-union-operator",
        "--target-python-version", "3.11", "--disable-timestamp", "--enum-field-as-literal", "all",
        "--use-schema-description", "--use-field-description", "--field-constraints",
        "--allow-population-by-field-name", "--extra-fields", "forbid", "--use-annotated",
        "--formatters", "builtin", "--use-exact-imports",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"datamodel-codegen failed: {proc.stderr.strip().splitlines()[-1:]}")


_ROOT_MODEL = re.compile(r"\nclass Model\(RootModel\[Any\]\):\n    root: Any\n\n*", re.M)


def _slice_methods(text: str, defs: dict[str, Any]) -> tuple[str, list[str]]:
    """Typed slice accessors (`slice_radiationSRUID()`) added to the class bodies; the `fhir_slices` assignments."""
    assignments: list[str] = []
    for cls, d in defs.items():
        slices = d.get("x-fhir-slices")
        if not slices:
            continue
        start = re.search(rf"^class {re.escape(cls)}\(", text, flags=re.M)
        if start is None:
            continue
        methods: list[str] = []
        seen: set[str] = set()
        for element, by_name in slices.items():
            ref = str(d["properties"][element].get("items", {}).get("$ref", ""))
            item = ref.rsplit("/", 1)[-1]
            if not item or item == "Resource" or not re.search(rf"\b{re.escape(item)}\b", text):
                continue
            for name in by_name:
                method = "slice_" + re.sub(r"\W+", "_", name).strip("_")
                if method in seen:
                    method = "slice_" + re.sub(r"\W+", "_", f"{element}_{name}").strip("_")
                seen.add(method)
                methods.append(
                    f"\n    def {method}(self) -> list[{item}]:\n"
                    f'        """The `{element}` items in the slice {name} (matched by the slicing discriminator)."""\n'
                    f'        return self.fhir_slice("{element}", "{name}")\n'
                )
        if not methods:
            continue
        header_end = text.index("\n", start.end()) + 1
        nxt = re.search(r"^\S", text[header_end:], flags=re.M)
        end = header_end + nxt.start() if nxt else len(text)
        body = text[:end].rstrip("\n") + "\n" + "".join(methods)
        text = body + "\n\n" + text[end:] if nxt else body
        assignments.append(f"{cls}.fhir_slices = {slices!r}")
    return text, assignments


def _eager_annotations(text: str) -> str:
    """Drop `from __future__ import annotations`, quoting only the annotations that name a later class.

    Pydantic then evaluates few annotation strings at import (compiling every annotation string is most of
    the import time of a large module)."""
    import ast

    tree = ast.parse(text)
    order = {node.name: i for i, node in enumerate(tree.body) if isinstance(node, ast.ClassDef)}
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    for i, node in enumerate(tree.body):
        if not isinstance(node, ast.ClassDef):
            continue
        annotations = [n.annotation for n in node.body if isinstance(n, ast.AnnAssign)]
        annotations += [n.returns for n in node.body if isinstance(n, ast.FunctionDef) and n.returns is not None]
        for ann in annotations:
            names = {n.id for n in ast.walk(ann) if isinstance(n, ast.Name)}
            if any(order.get(name, -1) >= i for name in names):
                start = offsets[ann.lineno - 1] + ann.col_offset
                end = offsets[ann.end_lineno - 1] + ann.end_col_offset  # type: ignore[operator]
                source = " ".join(text[start:end].split())
                edits.append((start, end, repr(source)))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text.replace("from __future__ import annotations\n\n", "", 1)


def _postprocess(
    text: str,
    header: str,
    profiles: dict[str, str],
    release: str,
    choices: dict[str, list[list[str]]],
    defs: dict[str, Any],
    required: dict[str, list[list[str]]],
) -> str:
    text = _ROOT_MODEL.sub("\n", text)
    # models build on first use (FhirModel sets defer_build): no eager rebuilds at import time
    text = re.sub(r"^\w+\.model_rebuild\(\)\n", "", text, flags=re.M)
    text, slice_assignments = _slice_methods(text, defs)
    text = _eager_annotations(text)
    lines = text.splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    body = "\n".join(lines).strip("\n")
    if "RootModel" not in body.replace("from pydantic import", ""):
        body = re.sub(r"(from pydantic import [^\n]*?)RootModel, ", r"\1", body)
        body = re.sub(r"(from pydantic import [^\n]*?), RootModel\b", r"\1", body)
    if not re.search(r"\bAny\b", body.split("\n", 8)[-1]):
        body = body.replace("from typing import Annotated, Any, ", "from typing import Annotated, ")
    out = [header, "# ruff: noqa", '# mypy: disable-error-code="assignment"', "", body, ""]
    if profiles or choices or slice_assignments or required:
        out.append("")
        for cls, url in sorted(profiles.items()):
            out.append(f'{cls}.fhir_profile = "{url}"')
            out.append(f'{cls}.fhir_version = "{release}"')
        for cls, groups in sorted(choices.items()):
            out.append(f"{cls}.fhir_choice_groups = {tuple(tuple(g) for g in groups)!r}")
        for cls, groups in sorted(required.items()):
            out.append(f"{cls}.fhir_required_choices = {tuple(tuple(g) for g in groups)!r}")
        out.extend(slice_assignments)
        out.append("")
    return "\n".join(out)


def generate(
    store: PackageStore, targets: list[Target], out_dir: Path, *, package: str = "imgfhir_models"
) -> list[Path]:
    """Write schemas and models for the targets into out_dir (a package folder); returns the files written."""
    docs = build_schemas(store, targets)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="imgfhir-codegen-") as tmp:
        schema_in = Path(tmp) / "in"
        model_out = Path(tmp) / "out"
        for rel, doc in docs.items():
            path = schema_in / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_dump({k: v for k, v in model_schema(doc).items() if k != "title"}), encoding="utf-8")
        _datamodel_codegen(schema_in, model_out)
        if out_dir.exists():
            for old in [*out_dir.rglob("*.py"), *out_dir.rglob("*.json")]:
                old.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)
        sources = {t.module: f"{t.package_id}#{t.package_version}" for t in targets}
        for rel, doc in docs.items():
            path = out_dir / "schemas" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_dump(doc), encoding="utf-8")
            written.append(path)
            py_rel = rel.removesuffix(".json") + ".py"
            generated = model_out / py_rel
            stem = rel.removesuffix(".json")
            source = sources.get(stem, doc.get("title", ""))
            header = (
                f"# Generated by imgfhir codegen from {source} (JSON Schema: schemas/{rel}).\n"
                f"# Do not edit: regenerate with `python codegen/models.py` or `imgfhir codegen`."
            )
            profiles = {name: d["x-fhir-profile"] for name, d in doc.get("$defs", {}).items() if "x-fhir-profile" in d}
            choices = {
                name: d["x-fhir-choice-groups"]
                for name, d in doc.get("$defs", {}).items()
                if "x-fhir-choice-groups" in d
            }
            required_choices = {
                name: d["x-fhir-required-choices"]
                for name, d in doc.get("$defs", {}).items()
                if "x-fhir-required-choices" in d
            }
            target_path = out_dir / py_rel
            target_path.parent.mkdir(parents=True, exist_ok=True)
            text = generated.read_text(encoding="utf-8")
            release = doc.get("x-fhir-release", "")
            defs = doc.get("$defs", {})
            text = _postprocess(text, header, profiles, release, choices, defs, required_choices)
            target_path.write_text(text, "utf-8")
            written.append(target_path)
        for init in [out_dir, *sorted({p.parent for p in written if p.suffix == ".py"})]:
            init_file = init / "__init__.py"
            if not init_file.exists():
                init_file.write_text(f'"""Generated models ({package})."""\n', encoding="utf-8")
                written.append(init_file)
        marker = out_dir / "py.typed"  # PEP 561: the models' annotations are for users' type checkers too
        marker.write_text("", encoding="utf-8")
        written.append(marker)
    shutil.rmtree(out_dir / "__pycache__", ignore_errors=True)
    return sorted(written)
