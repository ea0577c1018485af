"""One self-contained HTML page per run, for people who do not read validator output for a living.

A summary (inputs, errors, warnings, the rules that fired most), then one section per input with its
issues; each issue shows the source line it points at, with the column marked. No scripts, no
external styles or fonts: the file can be mailed or archived as it is.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from imgfhir.outcome import Issue, Outcome
from imgfhir.validation.source import ndjson_line

Results = Sequence[tuple[str, Outcome]]
_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
MAX_SHOWN_LINE = 240  # characters of a source line shown around the column

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#1d2330}
h1{font-size:1.5rem;margin-bottom:.2rem}.meta{color:#5b6475;margin-top:0}
.cards{display:flex;gap:1rem;margin:1.2rem 0}.card{border:1px solid #d7dce5;border-radius:8px;padding:.6rem 1rem}
.card b{display:block;font-size:1.6rem}.ok{color:#18794e}.bad{color:#c4291c}.warn{color:#a35c00}
section{border-top:1px solid #d7dce5;margin-top:1.4rem}h2{font-size:1.1rem;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{text-align:left;vertical-align:top;padding:.35rem .5rem;
border-bottom:1px solid #eef0f4}th{font-weight:600;color:#5b6475}
.sev{font-weight:600;text-transform:uppercase;font-size:.8rem}.fatal,.error{color:#c4291c}.warning{color:#a35c00}
.information{color:#2b5fb3}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f5f6f9;padding:.4rem .6rem;margin:.3rem 0 0;white-space:pre-wrap;word-break:break-all}
mark{background:#ffd7d2}.rule{color:#5b6475}
"""


def render_html(results: Results, sources: Mapping[str, str] | None = None, *, title: str = "") -> str:
    """The page for a run; `sources` maps an input's name to its text, for the quoted source lines."""
    sources = sources or {}
    errors = sum(1 for _, o in results for i in o if i.severity in ("fatal", "error"))
    warnings = sum(1 for _, o in results for i in o if i.severity == "warning")
    with_issues = [(name, o) for name, o in results if o.issues]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title or 'imgfhir validation report')}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title or 'Validation report')}</h1>",
        f'<p class="meta">imgfhir · {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}</p>',
        _cards(len(results), errors, warnings),
        _top_rules(results),
    ]
    if not with_issues:
        parts.append('<p class="ok">No issues found in any input.</p>')
    for name, outcome in with_issues:
        parts.append(_section(name, outcome, sources.get(name)))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cards(files: int, errors: int, warnings: int) -> str:
    verdict = "bad" if errors else "warn" if warnings else "ok"
    word = "Invalid" if errors else "Valid, with warnings" if warnings else "Valid"
    return (
        '<div class="cards">'
        f'<div class="card"><b class="{verdict}">{word}</b> verdict</div>'
        f'<div class="card"><b>{files}</b> inputs</div>'
        f'<div class="card"><b class="{"bad" if errors else "ok"}">{errors}</b> errors</div>'
        f'<div class="card"><b class="{"warn" if warnings else "ok"}">{warnings}</b> warnings</div>'
        "</div>"
    )


def _top_rules(results: Results) -> str:
    found = Counter(i.rule or i.code for _, o in results for i in o if i.severity != "information")
    if not found:
        return ""
    rows = "".join(f"<tr><td><code>{_e(rule)}</code></td><td>{n}</td></tr>" for rule, n in found.most_common(10))
    return f"<h2>Most frequent rules</h2><table><tr><th>rule</th><th>issues</th></tr>{rows}</table>"


def _section(name: str, outcome: Outcome, text: str | None) -> str:
    lines = text.splitlines() if text is not None else []
    one_line = ndjson_line(name)  # one record of an NDJSON file: issue lines count in the whole file
    offset = one_line[1] - 1 if one_line else 0
    issues = sorted(outcome.issues, key=lambda i: (_ORDER.get(i.severity, 9), i.line or 0, i.column or 0))
    rows = "".join(_row(i, lines, offset) for i in issues)
    head = "<tr><th>severity</th><th>where</th><th>message</th></tr>"
    return f"<section><h2>{_e(name)}</h2><table>{head}{rows}</table></section>"


def _row(issue: Issue, lines: list[str], offset: int) -> str:
    where = _e(issue.expression or "")
    if issue.line is not None:
        where += f"<br><span class=rule>line {issue.line}" + (
            f", column {issue.column}</span>" if issue.column is not None else "</span>"
        )
    rule = f' <span class="rule">[{_e(issue.rule)}]</span>' if issue.rule else ""
    return (
        f'<tr><td class="sev {_e(issue.severity)}">{_e(issue.severity)}</td><td><code>{where}</code></td>'
        f"<td>{_e(issue.message)}{rule}{_quote(issue, lines, offset)}</td></tr>"
    )


def _quote(issue: Issue, lines: list[str], offset: int) -> str:
    """The source line the issue points at, the character at its column marked."""
    if issue.line is None or not 0 < issue.line - offset <= len(lines):
        return ""
    line = lines[issue.line - offset - 1]
    col = (issue.column or 1) - 1
    start = max(0, col - MAX_SHOWN_LINE // 2)
    shown = line[start : start + MAX_SHOWN_LINE]
    at = col - start
    if not 0 <= at < len(shown):
        return f"<pre>{_e(shown)}</pre>"
    return f"<pre>{_e(shown[:at])}<mark>{_e(shown[at])}</mark>{_e(shown[at + 1 :])}</pre>"
