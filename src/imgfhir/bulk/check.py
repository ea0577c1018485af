"""Validating one record, the same way in the main process (`-j 1`) and in a worker process.

A `Job` says how to validate (profiles, release, packages, options); it is picklable, so that each
worker builds its own `Validator` from it once (`Checker`) and compiles its plans once. The result
of a record is a `Checked`: its issues with line and column in the record's file (an NDJSON
record's line in the file, the column inside that line), the time it took, and what the summary
counts (resource type, profiles).
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation import limits
from imgfhir.validation.source import Loaded, load, with_positions

from .reader import Record

if TYPE_CHECKING:
    from imgfhir.validation import Validator
    from imgfhir.validation.model import Rule

SKIPPED = "skipped: not a FHIR resource (no resourceType)"


@dataclass(frozen=True, slots=True)
class Job:
    """How to validate every record of a run (picklable: sent once to each worker)."""

    profiles: tuple[str, ...] = ()
    fhir_version: str | None = None
    packages: tuple[str, ...] = ()
    plugins: bool = False
    extension_domains: tuple[str, ...] = ()
    best_practice: str = "warning"
    rules: tuple[str, ...] = ()  # `module:ATTRIBUTE` of extra Rule lists (importable in the workers)
    skip_non_fhir: bool = False
    note_skipped: bool = False  # report a skipped input as information (--verbose)
    keep_text: bool = False  # return the text of records with issues (the HTML report quotes it)
    # resources that references may resolve to (`--cross-references`): loaded into every Validator
    known: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class Checked:
    """The result of one record."""

    label: str
    issues: list[Issue]
    seconds: float = 0.0
    resource_type: str | None = None
    profiles: tuple[str, ...] = ()
    skipped: bool = False
    text: str | None = None
    blank: int = 0  # blank lines skipped before the record
    size: int = 0  # bytes of input the record took (for progress)
    line: int = 1
    empty: bool = False  # no record: only the count of blank lines at the end of a file
    checked: tuple[str, ...] = ()  # url|version of the definitions validated against (Outcome.checked)

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.issues, list(self.checked))


def import_rules(specs: tuple[str, ...]) -> list[Rule]:
    """The rules named `module:ATTRIBUTE` (a Rule, a list of them, a module with RULES, or a
    callable returning one of these, as the `imgfhir.rules` entry points): importable by name in
    every worker process, where Rule objects themselves could not be sent."""
    from imgfhir.validation.plugins import rules_from

    found: list[Rule] = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        module = importlib.import_module(module_name)
        found.extend(rules_from(getattr(module, attribute) if attribute else module))
    return found


class Checker:
    """One Validator for a run (per process): plans compile on first use and are kept."""

    def __init__(self, job: Job, validator: Validator | None = None) -> None:
        self.job = job
        if validator is None:
            from imgfhir.validation import Validator

            validator = Validator(
                packages=list(job.packages),
                rules=import_rules(job.rules),
                plugins=job.plugins,
                extension_domains=job.extension_domains,
                best_practice=job.best_practice,
                issue_limits=limits.RUN_LIMITS,  # read at run time: the run's own setting
            )
        if job.known:
            validator.add_resources(job.known, fhir_version=job.fhir_version)
        self.validator = validator
        self._xml: Any = None

    def load(self, record: Record) -> Loaded:
        source = record.data if record.data is not None else Path(str(record.path))
        return load(source, name=record.label, xml=self.xml)

    def check(self, record: Record, loaded: Loaded | None = None) -> Checked:
        """The record's result (`loaded`: the record already parsed); never raises: an internal
        error is a fatal issue of that record."""
        start = time.perf_counter()
        try:
            checked = self._check(record, loaded)
        except Exception as exc:  # noqa: BLE001 - one bad record never stops a run
            message = f"internal error: {type(exc).__name__}: {exc}"
            checked = Checked(record.label, [Issue("fatal", "exception", message)], line=record.line)
        checked.seconds = time.perf_counter() - start
        checked.blank, checked.size = record.blank, record.size
        return checked

    def _check(self, record: Record, loaded: Loaded | None) -> Checked:
        if record.empty:
            return Checked(record.label, [], line=record.line, empty=True)
        if record.issue is not None:
            return Checked(record.label, [record.issue], line=record.line)
        if loaded is None:
            loaded = self.load(record)
        if self.job.skip_non_fhir and _not_fhir(loaded.resource, loaded.issues, record):
            notes = [Issue("information", "informational", SKIPPED)] if self.job.note_skipped else []
            return Checked(record.label, notes, skipped=True, line=record.line)
        resource = loaded.resource
        checked: tuple[str, ...] = ()
        if resource is None:
            issues = loaded.issues
        else:
            profiles = list(self.job.profiles) or None
            validated = self.validator.validate(resource, profiles, fhir_version=self.job.fhir_version)
            issues, checked = validated.issues, tuple(validated.checked)
            if loaded.positions is not None:  # XML: what the reader said is not said again
                from imgfhir.xml.load import without_xml_duplicates

                issues = without_xml_duplicates(loaded.issues, issues)
            issues = loaded.issues + issues  # what the text itself says (XML reader, duplicate keys) first
        if loaded.positions is not None:
            issues = with_positions(issues, "", lookup=loaded.positions)
        elif loaded.text is not None or record.line != 1:
            issues = with_positions(issues, loaded.text or "", first_line=record.line)
        if record.line != 1:
            issues = [_file_lines(i, record.line) for i in issues]
        text = loaded.text if self.job.keep_text and issues else None
        return Checked(
            record.label,
            issues,
            resource_type=str(resource["resourceType"]) if resource is not None else None,
            profiles=_profiles(resource, self.job.profiles),
            checked=checked,
            text=text,
            line=record.line,
        )

    @property
    def xml(self) -> Any:
        """How XML inputs are read: by the definitions they are validated by (built once)."""
        if self._xml is None:
            from imgfhir.xml.load import XmlScopes

            release = self.job.fhir_version
            self._xml = XmlScopes(self.validator.store, release, list(self.job.profiles))
        return self._xml


_AT_LINE = re.compile(r"\bat line (\d+), column ")


def _file_lines(issue: Issue, first_line: int) -> Issue:
    """A message that names a line inside the record (`invalid JSON at line 1, column 18`) names
    the line in the file, as the issue's own line does: one line-numbering scheme."""
    if "at line " not in issue.message:
        return issue
    message = _AT_LINE.sub(lambda m: f"at line {int(m[1]) + first_line - 1}, column ", issue.message, count=1)
    return replace(issue, message=message)


def _profiles(resource: dict[str, Any] | None, explicit: tuple[str, ...]) -> tuple[str, ...]:
    """The profiles a record was validated against: the ones asked for, then its meta.profile."""
    meta = resource.get("meta") if resource is not None else None
    declared = meta.get("profile") if isinstance(meta, dict) else None
    found = [p for p in declared if isinstance(p, str)] if isinstance(declared, list) else []
    return tuple(dict.fromkeys([*explicit, *found]))


def _not_fhir(resource: dict[str, Any] | None, issues: list[Issue], record: Record) -> bool:
    """JSON that is no FHIR resource (`--skip-non-fhir`): an object or array without resourceType,
    or text that does not parse and never mentions resourceType (JSON with comments)."""
    if resource is not None or not issues:
        return False
    message = issues[0].message
    if message == "missing resourceType" or message.startswith("expected a JSON object"):
        return True
    return message.startswith("invalid JSON") and not _mentions_resource_type(record)


def _mentions_resource_type(record: Record) -> bool:
    from imgfhir.validation.source import DEFAULT_MAX_BYTES

    if record.data is not None:
        return b'"resourceType"' in record.data
    try:
        with open(str(record.path), "rb") as fh:
            return b'"resourceType"' in fh.read(DEFAULT_MAX_BYTES)
    except OSError:
        return True  # cannot tell: report it
