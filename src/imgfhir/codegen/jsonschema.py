"""StructureDefinition snapshots → JSON Schema (draft 2020-12).

One schema document per module: a shared datatypes document per FHIR release (primitives with their
regexes, complex datatypes, `Element` for `_x` primitive extension siblings) and one document per
profile set (an IG package, or the base resources of a release) whose `$defs` hold one object schema
per profile plus one per backbone element or constrained datatype element, named
`<ProfileName><PathInCamelCase>`. Profile documents refer to the datatypes document by a relative
`$ref`.

What a schema carries: element types, cardinality (`required`, arrays with `minItems`/`maxItems`,
`max = 0` elements left out under `additionalProperties: false`), choice types as their concrete
properties, fixed values as `const`, patterns as partial schemas, slices with value/pattern
discriminators as `contains` with `minContains`/`maxContains` and `if`/`then` on the slice's
constraints, `resourceType` as a `const`.

Checks that a typed model cannot express (patterns, slices, at-most-one-choice, complex fixed values)
sit in `allOf` entries tagged with `"$comment": "imgfhir:check"`; `model_schema()` strips them for
model generation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from imgfhir.choices import upper_first
from imgfhir.fhir_regex import to_python
from imgfhir.packages.store import Scope
from imgfhir.snapshot import SnapshotError, generator_for

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CHECK = "imgfhir:check"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
_PRIMITIVE_JSON = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}
_RESOURCE_PLACEHOLDER = {
    "type": "object",
    "description": "A FHIR resource (validated by its own profile, not by this schema)",
    "properties": {"resourceType": {"type": "string"}},
    "required": ["resourceType"],
    "additionalProperties": True,
}

Schema = dict[str, Any]
Element = dict[str, Any]


def _camel(segment: str) -> str:
    return "".join(upper_first(part) for part in re.split(r"[^A-Za-z0-9]+", segment) if part)


def _check(schema: Schema) -> Schema:
    return {"$comment": CHECK, **schema}


def _add_checks(schema: Schema, checks: list[Schema]) -> Schema:
    if checks:
        schema.setdefault("allOf", []).extend(_check(c) for c in checks)
    return schema


def _fixed_or_pattern(el: Element) -> tuple[str, Any] | None:
    for key, value in el.items():
        if key.startswith("fixed") and key != "fixed":
            return "fixed", value
        if key.startswith("pattern") and key != "pattern":
            return "pattern", value
    return None


def partial_schema(value: Any) -> Schema:
    """The schema of 'matches this pattern value': named properties present and matching, lists containing."""
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {k: partial_schema(v) for k, v in value.items()},
            "required": list(value),
        }
    if isinstance(value, list):
        contains = [{"contains": partial_schema(item)} for item in value]
        return {"type": "array", "allOf": contains} if len(contains) > 1 else {"type": "array", **contains[0]}
    return {"const": value}


def model_schema(schema: Any) -> Any:
    """A copy of a schema without the `imgfhir:check` parts (the input of model generation)."""
    if isinstance(schema, list):
        return [model_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if str(schema.get("$ref", "")).endswith("/$defs/Resource"):
        return {"type": "object", **{k: v for k, v in schema.items() if k == "description"}}
    out: Schema = {}
    for key, value in schema.items():
        if key == "required" and schema.get("properties", {}).get("resourceType", {}).get("const"):
            value = [v for v in value if v != "resourceType"]
            if not value:
                continue
        if key == "properties" and "const" in value.get("resourceType", {}):
            value = {**value, "resourceType": {**value["resourceType"], "default": value["resourceType"]["const"]}}
        if key == "allOf":
            kept = [model_schema(v) for v in value if not (isinstance(v, dict) and v.get("$comment") == CHECK)]
            if kept:
                out[key] = kept
        elif key in ("properties", "$defs"):
            out[key] = {k: model_schema(v) for k, v in value.items() if not (key == "$defs" and k == "Resource")}
        else:
            out[key] = model_schema(value)
    return out


class _Tree:
    """Snapshot elements by id: ordered children and slices."""

    def __init__(self, sd: dict[str, Any]) -> None:
        self.sd = sd
        self.elements: dict[str, Element] = {}
        self.children: dict[str, list[str]] = {}
        self.slices: dict[str, list[str]] = {}
        elements = sd.get("snapshot", {}).get("element", [])
        self.root_id = elements[0]["id"] if elements else sd["type"]
        for el in elements:
            eid = el.get("id") or el["path"]
            self.elements[eid] = el
            if eid == self.root_id:
                continue
            head, _, last = eid.rpartition(".")
            if ":" in last:
                name = last.split(":", 1)[0]
                self.slices.setdefault(f"{head}.{name}" if head else name, []).append(eid)
            else:
                self.children.setdefault(head, []).append(eid)
        self.by_path = {el["path"]: eid for eid, el in self.elements.items() if ":" not in eid}


class SchemaBuilder:
    """Builds the schema documents of one FHIR release (one Scope)."""

    def __init__(self, scope: Scope, *, datatypes_ref: str = "datatypes.schema.json") -> None:
        self.scope = scope
        self.release = scope.release
        self.datatypes_ref = datatypes_ref
        self.generator = generator_for(scope)
        self.needed_types: set[str] = set()
        self.skipped: list[tuple[str, str]] = []  # (canonical, snapshot error) of profiles left out
        self._primitives: dict[str, Schema] | None = None
        self._resource_types: set[str] | None = None

    # ---- type knowledge -------------------------------------------------------------------------
    def _core_sds(self) -> Iterable[dict[str, Any]]:
        for _pkg, entry in self.scope.entries("StructureDefinition"):
            if entry.url and entry.url.startswith(SD_BASE) and entry.derivation == "specialization":
                yield {"kind": entry.kind, "type": entry.type, "url": entry.url, "abstract": entry.abstract}

    def primitives(self) -> dict[str, Schema]:
        if self._primitives is None:
            prims: dict[str, Schema] = {}
            for info in self._core_sds():
                if info["kind"] != "primitive-type":
                    continue
                sd = self.scope.resolve(info["url"])
                value = next((e for e in sd["snapshot"]["element"] if e["path"] == f"{sd['type']}.value"), None)
                schema: Schema = {"type": _PRIMITIVE_JSON.get(info["type"], "string")}
                types = value.get("type", []) if value else []
                regex = next(
                    (x.get("valueString") for t in types for x in t.get("extension", []) if x["url"] == REGEX_EXT), None
                )
                if regex and schema["type"] == "string":
                    schema["pattern"] = f"^(?:{to_python(regex)})$"  # \s as the reference validator reads it
                if info["type"] in ("positiveInt",):
                    schema["minimum"] = 1
                if info["type"] in ("unsignedInt",):
                    schema["minimum"] = 0
                if sd.get("description"):
                    schema["description"] = sd["description"].split("\n")[0]
                prims[info["type"]] = schema
            self._primitives = prims
        return self._primitives

    def resource_types(self) -> set[str]:
        if self._resource_types is None:
            self._resource_types = {i["type"] for i in self._core_sds() if i["kind"] == "resource"}
        return self._resource_types

    def _type_code(self, t: dict[str, Any]) -> str:
        code: str = t.get("code", "")
        if code.startswith("http://hl7.org/fhirpath/System."):
            fhir_type = next(
                (x.get("valueUrl") or x.get("valueUri") for x in t.get("extension", []) if x["url"] == FHIR_TYPE_EXT),
                None,
            )
            if fhir_type in self.primitives():
                return str(fhir_type)
            return "string"
        return code.rsplit("/", 1)[-1]

    def _is_primitive(self, code: str) -> bool:
        return code in self.primitives()

    def _dt(self, name: str) -> Schema:
        return {"$ref": f"{self.datatypes_ref}#/$defs/{name}"}

    # ---- documents ------------------------------------------------------------------------------
    def profiles_document(self, canonicals: Iterable[str], *, title: str) -> Schema:
        """One document with a $defs entry per profile (and its inline parts)."""
        defs: dict[str, Schema] = {}
        for canonical in canonicals:
            try:
                sd = self.generator.snapshot(canonical)
            except SnapshotError as exc:
                self.skipped.append((canonical, str(exc)))
                continue
            self._profile(sd, defs, local=False)
        return {"$schema": SCHEMA_DIALECT, "title": title, "x-fhir-release": self.release, "$defs": defs}

    def base_document(self, types: Iterable[str], *, title: str) -> Schema:
        """Base resource definitions (published core snapshots)."""
        defs: dict[str, Schema] = {}
        for t in sorted(types):
            self._profile(self.scope.resolve(SD_BASE + t), defs, local=False)
        return {"$schema": SCHEMA_DIALECT, "title": title, "x-fhir-release": self.release, "$defs": defs}

    def datatypes_document(self, *, title: str) -> Schema:
        """Primitives, Element, Resource and every complex datatype reached so far (and what they reach)."""
        defs: dict[str, Schema] = {}
        for name, schema in sorted(self.primitives().items()):
            defs[name] = dict(schema)
        defs["Resource"] = copy.deepcopy(_RESOURCE_PLACEHOLDER)
        self.needed_types |= {"Element", "Extension"}
        done: set[str] = set()
        while self.needed_types - done:
            name = sorted(self.needed_types - done)[0]
            done.add(name)
            sd = self.scope.find(SD_BASE + name)
            if sd is None or name in defs:
                continue
            self._profile(sd, defs, local=True)
        return {"$schema": SCHEMA_DIALECT, "title": title, "$defs": dict(sorted(defs.items()))}

    # ---- elements -------------------------------------------------------------------------------
    def _profile(self, sd: dict[str, Any], defs: dict[str, Schema], *, local: bool) -> None:
        tree = _Tree(sd)
        name = _camel(sd.get("name") or sd["type"])
        _Emitter(self, tree, defs, name, local=local).root()


class _Emitter:
    def __init__(self, builder: SchemaBuilder, tree: _Tree, defs: dict[str, Schema], name: str, *, local: bool):
        self.b = builder
        self.tree = tree
        self.defs = defs
        self.name = name
        self.local = local  # emitting into the datatypes document itself
        self.required_choices: list[list[str]] = []  # of the object being emitted

    def ref_type(self, code: str) -> Schema:
        if code in self.b.resource_types() or code in ("Resource", "DomainResource"):
            code = "Resource"
        elif not self.b._is_primitive(code):
            self.b.needed_types.add(code)
        return {"$ref": f"#/$defs/{code}"} if self.local else self.b._dt(code)

    def def_name(self, eid: str) -> str:
        path = eid.split(".", 1)[1] if "." in eid else ""
        return self.name + "".join(_camel(seg.replace("[x]", "")) for seg in path.split(".") if seg)

    def root(self) -> None:
        sd = self.tree.sd
        rid = self.tree.root_id
        schema = self.object_schema(rid)
        if sd.get("kind") == "resource":
            schema["properties"] = {"resourceType": {"const": sd["type"]}, **schema["properties"]}
            schema["required"] = ["resourceType", *schema.get("required", [])]
        header = [f"{sd.get('title') or sd.get('name')}"]
        if sd.get("url"):
            header.append(f"Profile: {sd['url']}" + (f"|{sd['version']}" if sd.get("version") else ""))
        schema = {"description": "\n".join(header), **schema}
        if sd.get("url") and not self.local:
            schema["x-fhir-profile"] = sd["url"]
        self.defs[self.name] = schema

    def object_schema(self, eid: str) -> Schema:
        props: Schema = {}
        required: list[str] = []
        checks: list[Schema] = []
        choices: list[list[str]] = []
        outer, self.required_choices = self.required_choices, []
        for cid in self.tree.children.get(eid, []):
            self.add_element(cid, props, required, checks, choices)
        required_choices, self.required_choices = self.required_choices, outer
        schema: Schema = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        if choices:
            schema["x-fhir-choice-groups"] = choices
        if required_choices:
            schema["x-fhir-required-choices"] = required_choices
        slices = {}
        for cid in self.tree.children.get(eid, []):
            name = cid.rsplit(".", 1)[-1]
            if name in props and props[name].get("type") == "array":
                found = self.slice_matches(cid)
                if found:
                    slices[name] = found
        if slices:
            schema["x-fhir-slices"] = slices
        return _add_checks(schema, checks)

    def slice_matches(self, eid: str) -> dict[str, Schema]:
        """Slice name → the schema an item matches to belong to it (slices with expressible discriminators)."""
        discriminators = (self.tree.elements[eid].get("slicing") or {}).get("discriminator", [])
        if not discriminators or any(d.get("type") not in ("value", "pattern", "type") for d in discriminators):
            return {}
        found: dict[str, Schema] = {}
        for sid in self.tree.slices.get(eid, []):
            name = self.tree.elements[sid].get("sliceName")
            match = self.discriminator_schema(sid, discriminators, lenient=False)
            if name and match is not None:
                found[name] = match
        return found

    def add_element(
        self, cid: str, props: Schema, required: list[str], checks: list[Schema], choices: list[list[str]]
    ) -> None:
        el = self.tree.elements[cid]
        if el.get("max") == "0":
            return
        required_choices = self.required_choices
        name = cid.rsplit(".", 1)[-1]
        is_array = el.get("base", {}).get("max", el.get("max")) != "1"
        types = el.get("type", [])
        if name.endswith("[x]"):
            stem = name[:-3]
            type_slices = {self.tree.elements[s].get("sliceName"): s for s in self.tree.slices.get(cid, [])}
            names = []
            for t in types:
                code = self.b._type_code(t)
                concrete = stem + upper_first(code)
                target = type_slices.get(concrete, cid)
                if self.tree.elements[target].get("max") == "0":
                    continue
                props[concrete] = self.value_schema(target, [t], False, cid_name=cid.rsplit(".", 1)[0] + "." + concrete)
                if self.b._is_primitive(code):
                    props["_" + concrete] = self.ref_type("Element")
                names.append(concrete)
                if self.tree.elements[target].get("min", 0) >= 1 and target != cid:
                    checks.append({"required": [concrete]})
                    required_choices.append([concrete])
            if len(names) > 1:
                choices.append(names)
                checks.append(
                    {"not": {"anyOf": [{"required": [a, b]} for i, a in enumerate(names) for b in names[i + 1 :]]}}
                    if len(names) <= 8
                    else {"dependentSchemas": {n: {"properties": {m: False for m in names if m != n}} for n in names}}
                )
            if el.get("min", 0) >= 1 and names:
                checks.append({"anyOf": [{"required": [n]} for n in names]} if len(names) > 1 else {"required": names})
                required_choices.append(names)
            return
        props[name] = self.value_schema(cid, types, is_array)
        if (
            len(types) == 1
            and self.b._is_primitive(self.b._type_code(types[0]))
            and not types[0].get("code", "").startswith("http://hl7.org/fhirpath/System.")
        ):
            element = self.ref_type("Element")
            props["_" + name] = (
                {"type": "array", "items": {"anyOf": [element, {"type": "null"}]}} if is_array else element
            )
        if el.get("min", 0) >= 1:
            required.append(name)

    def value_schema(
        self, eid: str, types: list[dict[str, Any]], is_array: bool, cid_name: str | None = None
    ) -> Schema:
        el = self.tree.elements[eid]
        item = self.item_schema(eid, types, cid_name or eid)
        schema: Schema
        if is_array:
            schema = {"type": "array", "items": item}
            if el.get("min", 0) >= 1:
                schema["minItems"] = el["min"]
            if el.get("max", "*") != "*":
                schema["maxItems"] = int(el["max"])
            _add_checks(schema, self.slice_checks(eid))
        else:
            schema = item
        if el.get("short"):
            schema = {"description": el["short"], **schema}
        return schema

    def item_schema(self, eid: str, types: list[dict[str, Any]], name_id: str) -> Schema:
        el = self.tree.elements[eid]
        if "contentReference" in el:
            return self.content_reference(str(el["contentReference"]))
        codes = [self.b._type_code(t) for t in types]
        if len(codes) != 1:
            return {"anyOf": [self.ref_type(c) for c in codes]} if codes else {}
        code = codes[0]
        fp = _fixed_or_pattern(el)
        if self.b._is_primitive(code):
            if fp is not None:
                return {"const": fp[1]}
            return self.ref_type(code)
        schema: Schema
        children = self.tree.children.get(eid, [])
        if children and (code in ("BackboneElement", "Element") or self.structural(eid)):
            dname = self.def_name(name_id)
            self.defs[dname] = self.object_schema(eid)
            schema = {"$ref": f"#/$defs/{dname}"}
        else:
            schema = self.ref_type(code)
        if fp is not None:
            schema = {**schema, "allOf": [_check({"const": fp[1]} if fp[0] == "fixed" else partial_schema(fp[1]))]}
        return schema

    def content_reference(self, ref: str) -> Schema:
        """The element a content reference names. In a profile, `#Composition.section` is the base
        definition's element, not the profile's: the constraints a profile puts on Composition.section
        do not reach Composition.section.section (the contentReferenceProfile extension exists to say
        when they should). The validator and the instance generator read it the same way."""
        url, _, path = ref.partition("#")
        emitter: _Emitter = self
        sd = self.tree.sd
        if url or sd.get("derivation") == "constraint":
            base = self.b.scope.find(url or SD_BASE + path.split(".", 1)[0])
            if isinstance(base, dict) and base.get("url") != sd.get("url"):
                emitter = _Emitter(self.b, _Tree(base), self.defs, "Base" + _camel(base["type"]), local=self.local)
        target = emitter.tree.by_path.get(path)
        if target is None:
            return {"type": "object"}
        dname = emitter.def_name(target)
        if dname not in self.defs:
            self.defs[dname] = {}  # placeholder against recursion
            self.defs[dname] = emitter.object_schema(target)
        return {"$ref": f"#/$defs/{dname}"}

    def structural(self, eid: str) -> bool:
        """Whether the subtree under eid constrains what the datatype allows (worth its own definition)."""
        for cid in self.tree.children.get(eid, []):
            el = self.tree.elements[cid]
            base = el.get("base", {})
            if el.get("min", 0) != base.get("min", 0) or el.get("max") != base.get("max", el.get("max")):
                return True
            if _fixed_or_pattern(el) is not None or self.tree.slices.get(cid) or "contentReference" in el:
                return True
            if self.structural(cid):
                return True
        return False

    # ---- slices -----------------------------------------------------------------------------------
    def slice_checks(self, eid: str) -> list[Schema]:
        """contains/minContains/maxContains per slice, and the slice's own constraints on the items it matches."""
        el = self.tree.elements[eid]
        slicing = el.get("slicing") or {}
        discriminators = slicing.get("discriminator", [])
        if not discriminators or any(d.get("type") not in ("value", "pattern", "type") for d in discriminators):
            return []
        checks: list[Schema] = []
        for sid in self.tree.slices.get(eid, []):
            strict = self.discriminator_schema(sid, discriminators, lenient=False)
            lenient = self.discriminator_schema(sid, discriminators, lenient=True)
            if strict is None or lenient is None:
                continue
            s = self.tree.elements[sid]
            lo, hi = s.get("min", 0), s.get("max", "*")
            if lo:
                checks.append({"contains": lenient, "minContains": lo})
            if hi != "*":
                checks.append({"contains": strict, "minContains": 0, "maxContains": int(hi)})
            content = self.constraint_partial(sid)
            if content:
                checks.append({"items": {"if": strict, "then": content}})
            values = self.extension_values(sid)
            if values is not None:
                checks.append({"items": {"if": strict, "then": values}})
        return checks

    def extension_values(self, sid: str) -> Schema | None:
        """For an extension slice: the value[x] types its definition allows (none for complex extensions)."""
        types = self.tree.elements[sid].get("type", [])
        profiles = [p for t in types if t.get("code") == "Extension" for p in t.get("profile", [])]
        if len(profiles) != 1:
            return None
        try:
            sd = self.b.generator.snapshot(profiles[0])
        except (SnapshotError, LookupError, ValueError):
            return None
        value = next(
            (e for e in sd.get("snapshot", {}).get("element", []) if e.get("id") == "Extension.value[x]"), None
        )
        if value is None:
            return None
        allowed = (
            []
            if value.get("max") == "0"
            else ["value" + upper_first(self.b._type_code(t)) for t in value.get("type", [])]
        )
        return {"propertyNames": {"anyOf": [{"not": {"pattern": "^value[A-Z]"}}, {"enum": allowed}]}}

    def discriminator_schema(self, sid: str, discriminators: list[dict[str, Any]], *, lenient: bool) -> Schema | None:
        """What an item must look like to belong to the slice (None: not expressible).

        Type discriminators are expressed for references only, by the target type in `type` or in the literal
        reference; `lenient` also lets references whose type cannot be told (urn:uuid, contained, identifier
        only) match, for the minimum counts.
        """
        parts: list[Schema] = []
        for disc in discriminators:
            path = disc["path"].removeprefix("$this.").strip()
            if disc.get("type") == "type":
                ref = self.reference_type_schema(sid, path, lenient=lenient)
                if ref is None:
                    return None
                parts.append(ref)
                continue
            if path == "$this":
                fp = _fixed_or_pattern(self.tree.elements[sid])
                if fp is None:
                    return None
                parts.append(partial_schema(fp[1]))
                continue
            found = self.value_at(sid, path.split("."))
            if found is None:
                return None
            value, arrays = found
            schema: Schema = partial_schema(value)
            for seg, is_array in reversed(list(zip(path.split("."), arrays, strict=True))):
                if is_array:
                    schema = {"type": "array", "contains": schema}
                schema = {"type": "object", "properties": {seg: schema}, "required": [seg]}
            parts.append(schema)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"allOf": parts}

    def reference_type_schema(self, sid: str, path: str, *, lenient: bool) -> Schema | None:
        if path not in ("reference", "resolve()", "$this", "$this.resolve()", "reference.resolve()"):
            return None
        el = self.tree.elements[sid]
        types = el.get("type", [])
        if [t.get("code") for t in types] != ["Reference"]:
            return None
        targets = [p for t in types for p in t.get("targetProfile", [])]
        if not targets or any(not p.startswith(SD_BASE) for p in targets):
            return None
        names = sorted({p.rsplit("/", 1)[-1] for p in targets})
        alternatives: list[Schema] = []
        for name in names:
            alternatives.append({"properties": {"type": {"const": name}}, "required": ["type"]})
            literal = {"type": "string", "pattern": f"^(?:.*/)?{name}/[A-Za-z0-9\\-\\.]{{1,64}}(?:/_history/.*)?$"}
            alternatives.append({"properties": {"reference": literal}, "required": ["reference"]})
        if lenient:
            typed = {"type": "string", "pattern": "^(?:.*/)?[A-Z][A-Za-z]+/[A-Za-z0-9\\-\\.]{1,64}(?:/_history/.*)?$"}
            alternatives.append(
                {
                    "not": {
                        "anyOf": [
                            {"required": ["type"]},
                            {"properties": {"reference": typed}, "required": ["reference"]},
                        ]
                    }
                }
            )
        return {"type": "object", "anyOf": alternatives}

    def value_at(self, sid: str, segs: list[str]) -> tuple[Any, list[bool]] | None:
        """The fixed/pattern value at a discriminator path under a slice, and which path steps repeat."""
        eid = sid
        arrays: list[bool] = []
        for i, seg in enumerate(segs):
            nxt = next((c for c in self.tree.children.get(eid, []) if c.rsplit(".", 1)[-1] == seg), None)
            if nxt is None:
                if seg == "url" and i == len(segs) - 1:
                    el = self.tree.elements[eid]
                    profiles = [p for t in el.get("type", []) for p in t.get("profile", [])]
                    return (profiles[0], [*arrays, False]) if profiles else None
                return None
            eid = nxt
            el = self.tree.elements[eid]
            arrays.append(el.get("base", {}).get("max", el.get("max")) != "1")
        fp = _fixed_or_pattern(self.tree.elements[eid])
        return (fp[1], arrays) if fp else None

    def constraint_partial(self, eid: str) -> Schema | None:
        """Fixed/pattern values and required children within a slice, as a partial schema."""
        el = self.tree.elements[eid]
        parts: list[Schema] = []
        fp = _fixed_or_pattern(el)
        if fp is not None:
            parts.append({"const": fp[1]} if fp[0] == "fixed" else partial_schema(fp[1]))
        props: Schema = {}
        required: list[str] = []
        for cid in self.tree.children.get(eid, []):
            c = self.tree.elements[cid]
            name = cid.rsplit(".", 1)[-1]
            if name.endswith("[x]"):
                continue
            if c.get("max") == "0":
                props[name] = False
                continue
            sub = self.constraint_partial(cid)
            if sub:
                is_array = c.get("base", {}).get("max", c.get("max")) != "1"
                props[name] = {"items": sub} if is_array else sub
            if c.get("min", 0) >= 1:
                required.append(name)
        if props or required:
            obj: Schema = {"type": "object"}
            if props:
                obj["properties"] = props
            if required:
                obj["required"] = required
            parts.append(obj)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"allOf": parts}
