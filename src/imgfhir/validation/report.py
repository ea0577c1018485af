"""Rendering validation results: text for people, FHIR JSON/NDJSON, and SARIF 2.1.0 for CI tools.

Every renderer takes the results of a run as a list of `(name, Outcome)` pairs, one per input,
where the name is the file as given on the command line (`file.ndjson:LINE` for one line of an
NDJSON file, `<stdin>` for standard input) and returns the whole document as a string.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import quote

import orjson

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation.source import ndjson_line

Format = Literal["text", "compact", "json", "ndjson", "sarif", "html"]
FORMATS: tuple[Format, ...] = ("text", "compact", "json", "ndjson", "sarif", "html")
Results = Sequence[tuple[str, Outcome]]

EXT = "http://hl7.org/fhir/StructureDefinition/"
EXT_FILE = EXT + "operationoutcome-file"  # valueString, on OperationOutcome
EXT_LINE = EXT + "operationoutcome-issue-line"  # valueInteger, on OperationOutcome.issue
EXT_COL = EXT + "operationoutcome-issue-col"  # valueString (sic), on OperationOutcome.issue
EXT_MESSAGE_ID = EXT + "operationoutcome-message-id"  # valueString: the rule that reported it

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"fatal": "error", "error": "error", "warning": "warning", "information": "note"}
_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "information": "cyan"}


def render(
    results: Results, fmt: Format = "text", *, color: bool = False, sources: Mapping[str, str] | None = None
) -> str:
    """The report of a run; `sources` (input name → text) lets the HTML report quote source lines."""
    if fmt == "text":
        return render_text(results, color=color)
    if fmt == "compact":
        return render_compact(results)
    if fmt == "html":
        from imgfhir.validation.report_html import render_html

        return render_html(results, sources)
    if fmt == "json":
        return render_json(results)
    if fmt == "ndjson":
        return render_ndjson(results)
    if fmt == "sarif":
        return render_sarif(results)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# -- counts -------------------------------------------------------------------------------------


def counts(results: Results) -> tuple[int, int, int]:
    """(files, errors, warnings); fatal issues count as errors."""
    errors = sum(1 for _, o in results for i in o if i.severity in ("fatal", "error"))
    warnings = sum(1 for _, o in results for i in o if i.severity == "warning")
    return len(results), errors, warnings


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(results: Results) -> str:
    files, errors, warnings = counts(results)
    return f"{_plural(files, 'file')}, {_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


# -- text ---------------------------------------------------------------------------------------


def _where(issue: Issue) -> str:
    if issue.line is None:
        return "-"
    return f"{issue.line}:{issue.column}" if issue.column is not None else str(issue.line)


def render_text(results: Results, *, color: bool = False) -> str:
    """Issues grouped per input (inputs without issues are not listed), then a summary line.

    One line per issue: `severity location line:col message [rule]`; `-` stands for an unknown
    location or position. With `color`, severities and names are styled with ANSI codes (rich).
    """
    rows: list[tuple[str, list[tuple[str, str, str, str, str]]]] = []
    for name, outcome in results:
        if outcome.issues:
            cells: list[tuple[str, str, str, str, str]] = [
                (
                    str(i.severity),
                    i.expression or "-",
                    _where(i),
                    " ".join(i.message.split()),
                    f" [{i.rule}]" if i.rule else "",
                )
                for i in outcome.issues
            ]
            rows.append((_titled(name, outcome), cells))
    widths = [max((len(c[k]) for _, cells in rows for c in cells), default=0) for k in range(3)]
    if not color:
        out: list[str] = []
        for name, cells in rows:
            out.append(name)
            for sev, loc, pos, msg, rule in cells:
                out.append(f"  {sev:<{widths[0]}}  {loc:<{widths[1]}}  {pos:<{widths[2]}}  {msg}{rule}".rstrip())
        out.append(summary(results))
        return "\n".join(out) + "\n"

    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=100_000, soft_wrap=True)
    for name, cells in rows:
        console.print(Text(name, style="bold"))
        for sev, loc, pos, msg, rule in cells:
            line = Text("  ")
            line.append(f"{sev:<{widths[0]}}", style=_STYLE.get(sev, ""))
            line.append(f"  {loc:<{widths[1]}}  ", style="dim" if loc == "-" else "")
            line.append(f"{pos:<{widths[2]}}", style="dim")
            line.append(f"  {msg}")
            line.append(rule, style="dim")
            console.print(line)
    _, errors, warnings = counts(results)
    console.print(Text(summary(results), style="bold red" if errors else "yellow" if warnings else "green"))
    return buffer.getvalue()


def render_compact(results: Results) -> str:
    """`file:line:col: severity: message [rule]`, one line per issue, for editors and CI problem
    matchers (`file:line:` when the column is unknown, `file:` when the position is); then the summary."""
    out: list[str] = []
    for name, outcome in results:
        one_line = ndjson_line(name)
        file = one_line[0] if one_line else name
        for i in outcome.issues:
            line = i.line if i.line is not None else (one_line[1] if one_line else None)
            where = f"{file}:{line}:" if line is not None else f"{file}:"
            if line is not None and i.column is not None and i.line is not None:
                where += f"{i.column}:"
            rule = f" [{i.rule}]" if i.rule else ""
            location = f" @ {i.expression}" if i.expression else ""
            out.append(f"{where} {i.severity}: {' '.join(i.message.split())}{location}{rule}")
    out.append(summary(results))
    return "\n".join(out) + "\n"


# -- FHIR JSON ----------------------------------------------------------------------------------


def operation_outcome(name: str, outcome: Outcome) -> dict[str, Any]:
    """The outcome as an OperationOutcome naming its input; issues carry line, column and rule
    in the core `operationoutcome-*` extensions."""
    oo = outcome.to_operation_outcome()
    for n, (fhir_issue, issue) in enumerate(zip(oo["issue"], outcome.issues, strict=False)):
        ext: list[dict[str, Any]] = []
        if issue.line is not None:
            ext.append({"url": EXT_LINE, "valueInteger": issue.line})
        if issue.column is not None:
            ext.append({"url": EXT_COL, "valueString": str(issue.column)})
        if issue.rule:
            ext.append({"url": EXT_MESSAGE_ID, "valueString": issue.rule})
        if ext:  # extensions first, as FHIR JSON writes them
            rest = {k: v for k, v in fhir_issue.items() if k != "extension"}
            oo["issue"][n] = {"extension": ext + fhir_issue.get("extension", []), **rest}
    if outcome.checked:  # what was checked, first, as the reference's "Validate ... against ..." line
        note = {"severity": "information", "code": "informational", "diagnostics": validated_against(outcome)}
        kept = [i for i in oo["issue"] if i.get("diagnostics") != "No issues detected"]
        oo["issue"] = [{"extension": [{"url": EXT_MESSAGE_ID, "valueString": CHECKED_RULE}], **note}, *kept]
    body = {k: v for k, v in oo.items() if k != "resourceType"}
    return {"resourceType": "OperationOutcome", "extension": [{"url": EXT_FILE, "valueString": name}], **body}


CHECKED_RULE = "validated-against"


def validated_against(outcome: Outcome) -> str:
    """`validated against http://…/Observation|4.0.1, http://…/radiation-dose-summary|1.0.0`."""
    return "validated against " + ", ".join(outcome.checked)


def _titled(name: str, outcome: Outcome) -> str:
    """An input's heading in the text report: its name and what it was validated against."""
    return f"{name}  ({validated_against(outcome)})" if outcome.checked else name


def _dumps(value: Any, indent: bool) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()


def render_json(results: Results) -> str:
    """One OperationOutcome for one input; a Bundle (type collection) of them for several."""
    outcomes = [operation_outcome(name, outcome) for name, outcome in results]
    if len(outcomes) == 1:
        return _dumps(outcomes[0], True) + "\n"
    # fullUrl is required in R5 (bdl-15); derived from the input names so that reruns give the same output
    entries = [
        {"fullUrl": uuid.uuid5(uuid.NAMESPACE_URL, f"imgfhir:{index}:{name}").urn, "resource": oo}
        for index, ((name, _), oo) in enumerate(zip(results, outcomes, strict=True))
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return _dumps(bundle, True) + "\n"


def render_ndjson(results: Results) -> str:
    """One OperationOutcome per line, in input order."""
    return "".join(_dumps(operation_outcome(name, outcome), False) + "\n" for name, outcome in results)


# -- SARIF --------------------------------------------------------------------------------------


def _artifact(name: str) -> tuple[dict[str, Any], int | None]:
    """The artifactLocation of an input name, and the line it starts on for an NDJSON line."""
    first_line = None
    found = ndjson_line(name)
    if found is not None:
        name, first_line = found
    path = PurePath(name)
    if path.is_absolute():
        return {"uri": path.as_uri()}, first_line
    return {"uri": quote(path.as_posix(), safe="/"), "uriBaseId": "%SRCROOT%"}, first_line


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imgfhir")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def sarif_log(results: Results) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run; rule ids are Issue.rule (or the issue code without one)."""
    rule_index: dict[str, int] = {}
    sarif_results: list[dict[str, Any]] = []
    for name, outcome in results:
        artifact, first_line = _artifact(name)
        for issue in outcome.issues:
            rule_id = issue.rule or issue.code
            index = rule_index.setdefault(rule_id, len(rule_index))
            location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact}}
            line = issue.line if issue.line is not None else first_line
            if line is not None:
                region: dict[str, Any] = {"startLine": line}
                if issue.line is not None and issue.column is not None:
                    region["startColumn"] = issue.column
                location["physicalLocation"]["region"] = region
            if issue.expression:
                location["logicalLocations"] = [{"fullyQualifiedName": issue.expression, "kind": "element"}]
            sarif_results.append(
                {
                    "ruleId": rule_id,
                    "ruleIndex": index,
                    "level": _SARIF_LEVEL.get(issue.severity, "error"),
                    "message": {"text": issue.message},
                    "locations": [location],
                    "properties": {"severity": issue.severity, "code": issue.code},
                }
            )
    driver = {
        "name": "imgfhir",
        "version": _version(),
        "rules": [{"id": rule_id} for rule_id in rule_index],
    }
    run = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": sarif_results}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(results: Results) -> str:
    return _dumps(sarif_log(results), True) + "\n"
