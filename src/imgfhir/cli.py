"""The `imgfhir` command line.

Only typer is imported at start-up so that `imgfhir --help` stays fast; the package store,
rich and the snapshot generator are imported inside the commands that need them.
Expected failures (unknown canonical or package, unusable package, snapshot errors) end with
exit code 2 and one `error: ...` line on stderr, never a traceback.
"""

from __future__ import annotations

import difflib
import gc
import itertools
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console

    from imgfhir.outcome import Outcome
    from imgfhir.packages import Package, PackageStore
    from imgfhir.validation import Validator

EXIT_ERROR = 2  # usage errors and every expected failure (see module docstring)
EXIT_FAILURE = 1  # anything else that stops a command (unwritable output, unsupported feature)


# Typer's own click-style exception classes (vendored in newer typer, click's in older ones).
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineErrors(TyperGroup):
    """Report usage errors as one `error: ...` line (exit 2) instead of click's multi-line block."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except _CLICK_ERROR as exc:
            code = int(getattr(exc, "exit_code", EXIT_ERROR))
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `imgfhir` or `imgfhir packages`: show help
                typer.echo(exc.format_message() if hasattr(exc, "format_message") else "", err=True)
            else:
                ctx = getattr(exc, "ctx", None)
                where = ctx.command_path if isinstance(exc, _USAGE_ERROR) and ctx is not None else ""
                hint = f" (see '{where} --help')" if where else ""
                message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                typer.echo(f"error: {_one_line(message)}{hint}", err=True)
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("error: aborted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


def _one_line(text: str) -> str:
    return " ".join(text.split())


app = typer.Typer(
    name="imgfhir",
    cls=_OneLineErrors,
    rich_markup_mode=None,
    help="Offline FHIR profile toolkit for the HL7 imaging Implementation Guides.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
packages_app = typer.Typer(
    help="Inspect the FHIR packages the toolkit can see.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(packages_app, name="packages")


class FhirVersion(StrEnum):
    """What every command's --fhir-version takes: the release or its version number."""

    v401 = "4.0.1"
    v500 = "5.0.0"
    R4 = "R4"
    R5 = "R5"


_RELEASE_OF = {"4.0.1": "R4", "5.0.0": "R5", "R4": "R4", "R5": "R5"}


def _release(version: FhirVersion | None) -> str | None:
    return _RELEASE_OF[version.value] if version is not None else None


PackageOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--package",
        "-p",
        metavar="PATH",
        help="Extra FHIR package (.tgz or folder); repeatable. Also read from $IMGFHIR_PACKAGES.",
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Print package-store warnings (missing dependencies, stand-ins).")
]
FhirVersionOpt = Annotated[
    FhirVersion | None,
    typer.Option(
        "--fhir-version",
        case_sensitive=False,
        metavar="4.0.1|5.0.0|R4|R5",
        help="Resolve in this FHIR release (default: any).",
    ),
]


@dataclass
class Settings:
    packages: list[Path] = field(default_factory=list)
    verbose: bool = False


def _settings(ctx: typer.Context, packages: list[Path] | None, verbose: bool) -> Settings:
    """Merge the global options (before the command) with the command's own."""
    root = ctx.find_object(Settings) or Settings()
    return Settings(packages=[*root.packages, *(packages or [])], verbose=root.verbose or verbose)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"imgfhir {version('imgfhir')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Settings(packages=list(package or []), verbose=verbose)


# -- helpers ------------------------------------------------------------------------


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def _store(settings: Settings) -> Iterator[PackageStore]:
    """The package store, with expected failures turned into one-line errors."""
    from imgfhir.packages import PackageError, UnknownCanonical, load_store

    store: PackageStore | None = None
    try:
        _first_run_notice()
        store = load_store(extra=settings.packages)
        # the command owns the process: the package indexes live until exit, so the collector need not
        # walk them again on every collection (a library leaves this to its caller)
        gc.freeze()
        yield store
    except (PackageError, UnknownCanonical) as exc:
        _fail(str(exc))
    finally:
        if settings.verbose and store is not None:
            for issue in store.diagnostics:
                typer.echo(f"{issue.severity}: {_one_line(issue.message)}", err=True)


def _first_run_notice() -> None:
    """Say what happens while the bundled packages are unpacked into the cache the first time (about
    10 s and a few hundred MB): a silent first run looks like a hang."""
    from imgfhir.packages import bundled_dir
    from imgfhir.packages.lock import LOCK_NAME, read_lock
    from imgfhir.packages.package import default_cache_dir

    try:
        lock = read_lock(bundled_dir() / LOCK_NAME)
    except Exception:  # noqa: BLE001 - load_store reports a broken lock itself
        return
    cache = default_cache_dir()
    missing = [e for e in lock if not (cache / "packages" / e.sha256 / "package" / "package.json").is_file()]
    if missing:
        size = sum((bundled_dir() / e.file).stat().st_size for e in missing if (bundled_dir() / e.file).is_file())
        typer.echo(
            f"note: first run: unpacking {len(missing)} FHIR packages ({size / 2**20:.0f} MB compressed) "
            f"into {cache} (once; set IMGFHIR_CACHE_DIR to choose the folder)",
            err=True,
        )


def _package(store: PackageStore, wanted: str) -> Package:
    pkg = store.get(wanted)
    if pkg is None:
        known = [p.id for p in store.packages] + [p.key for p in store.packages]
        close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see `imgfhir packages list`)"
        _fail(f"unknown package {wanted}{hint}")
    return pkg


def _console() -> Console:
    from rich.console import Console

    # Piped output is not wrapped at 80 columns: long canonicals stay on one line.
    return Console() if sys.stdout.isatty() else Console(width=400, no_color=True)


# -- commands -----------------------------------------------------------------------


@packages_app.command("list")
def packages_list(ctx: typer.Context, package: PackageOpt = None, verbose: VerboseOpt = False) -> None:
    """List loaded packages with their FHIR version, origin and resource counts."""
    from rich.table import Table

    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        if settings.verbose:
            for pkg in store.packages:  # wire dependencies so that their problems are reported
                store.closure(pkg)
        table = Table(box=None, header_style="bold", pad_edge=False)
        for title in ("id", "version", "FHIR", "origin"):
            table.add_column(title, no_wrap=True)
        for title in ("SD", "VS", "CS", "total"):
            table.add_column(title, justify="right")
        for pkg in store.packages:
            counts = pkg.counts()
            table.add_row(
                pkg.id,
                pkg.version,
                f"{pkg.fhir_version} ({pkg.release})",
                pkg.origin,
                str(counts["StructureDefinition"]),
                str(counts["ValueSet"]),
                str(counts["CodeSystem"]),
                str(sum(counts.values())),
            )
        _console().print(table)


@app.command()
def profiles(
    ctx: typer.Context,
    ig: Annotated[
        str | None,
        typer.Option("--ig", metavar="ID", help="Package id (or id#version); default: all non-core packages."),
    ] = None,
    fhir_version: Annotated[
        FhirVersion | None,
        typer.Option(
            "--fhir-version",
            case_sensitive=False,
            metavar="4.0.1|5.0.0|R4|R5",
            help="Only packages of this FHIR release.",
        ),
    ] = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List the profiles (StructureDefinitions with derivation=constraint) of a package."""
    from rich.table import Table

    from imgfhir.packages.package import core_package_id

    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        selected = [_package(store, ig)] if ig else [p for p in store.packages if p.id != core_package_id(p.release)]
        if fhir_version:
            selected = [p for p in selected if p.release == _release(fhir_version)]
        table = Table(box=None, header_style="bold", pad_edge=False)
        if not ig:
            table.add_column("package", no_wrap=True)
        for title in ("canonical", "name", "type", "base"):
            table.add_column(title, no_wrap=True)
        rows = 0
        for pkg in selected:
            found = [e for e in pkg.entries if e.resource_type == "StructureDefinition"]
            for e in sorted((e for e in found if e.derivation == "constraint"), key=lambda e: e.url or ""):
                cells = [e.url or "", e.name or "", e.type or "", e.base_definition or ""]
                table.add_row(*([pkg.key, *cells] if not ig else cells))
                rows += 1
        if rows:
            _console().print(table)
        else:
            typer.echo(f"no profiles in {', '.join(p.key for p in selected) or 'the selected packages'}", err=True)


@app.command()
def snapshot(
    ctx: typer.Context,
    canonical: Annotated[
        str,
        typer.Argument(help="Canonical URL of a StructureDefinition (optionally url|version), or its id or name."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")
    ] = None,
    fhir_version: FhirVersionOpt = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Print a StructureDefinition with its snapshot generated from the differential (JSON)."""
    import orjson

    from imgfhir.snapshot import SnapshotError, snapshot_of

    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        try:
            # an id or name (RadiationDoseSummary) is looked up as validate --profile does
            is_url = "/" in canonical or ":" in canonical
            url = canonical if is_url else _profile_url(store, canonical, None, _release(fhir_version))
            sd = snapshot_of(store, url, _release(fhir_version))
        except SnapshotError as exc:
            _fail(f"{canonical}: {exc}")
    data = orjson.dumps(sd, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None or str(output) == "-":
        typer.echo(data.decode(), nl=False)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILURE)


class OutputFormat(StrEnum):
    text = "text"
    compact = "compact"
    json = "json"
    ndjson = "ndjson"
    sarif = "sarif"
    html = "html"


class Level(StrEnum):
    error = "error"
    warning = "warning"
    information = "information"


class BestPractice(StrEnum):
    ignore = "ignore"
    hint = "hint"
    warning = "warning"
    error = "error"


class InputFormat(StrEnum):
    auto = "auto"
    json = "json"
    ndjson = "ndjson"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"


@app.command()
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            show_default=False,
            help="JSON or XML files, folders (their *.json, *.xml, *.ndjson, *.jsonl and *.ndjson.gz files, "
            "recursively), NDJSON / JSON Lines files (.ndjson, .jsonl, .ndjson.gz: one resource per line, "
            "streamed), or - for standard input (JSON, XML or NDJSON, told apart by content).",
        ),
    ],
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            metavar="CANONICAL",
            help="Also validate every input against this profile (repeatable). With --ig, the profile's "
            "id or name is enough.",
        ),
    ] = None,
    ig: Annotated[
        str | None,
        typer.Option(
            "--ig",
            metavar="ID",
            help="Resolve --profile in this IG package (id or id#version) and default --fhir-version to its "
            "release. It adds no profiles: each resource is checked against its base definition, the "
            "profiles in its meta.profile and the --profile ones, never against profiles guessed from "
            "its type (many profiles of an IG share a type).",
        ),
    ] = None,
    fhir_version: Annotated[
        FhirVersion | None,
        typer.Option(
            "--fhir-version",
            case_sensitive=False,
            metavar="4.0.1|5.0.0|R4|R5",
            help="FHIR version of the inputs (default: told from each resource: its profiles, resource type "
            "and elements; else R4, with a notice).",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="text: one line per issue; compact: file:line:col: severity: message [rule]; json: an "
            "OperationOutcome (a Bundle of them for several inputs); ndjson: one OperationOutcome per line; "
            "sarif: SARIF 2.1.0; html: one self-contained page (with -o FILE).",
        ),
    ] = OutputFormat.text,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", case_sensitive=False, help="Exit 1 when an issue this severe or worse is found."),
    ] = FailOn.error,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
    ] = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
    plugins: Annotated[
        bool,
        typer.Option(
            "--plugins",
            help="Also run the rules installed distributions publish in the imgfhir.rules entry-point group "
            "(e.g. imgfhir's own dose-plausibility checks).",
        ),
    ] = False,
    extension_domain: Annotated[
        list[str] | None,
        typer.Option(
            "--extension-domain",
            metavar="URL-PREFIX",
            help="Accept extensions whose URL starts with this prefix without a definition (information "
            "instead of an error), as the reference validator's -extension; 'any' accepts all (repeatable).",
        ),
    ] = None,
    level: Annotated[
        Level,
        typer.Option("--level", case_sensitive=False, help="Print issues this severe or worse (the verdict is kept)."),
    ] = Level.information,
    best_practice: Annotated[
        BestPractice,
        typer.Option(
            "--best-practice",
            case_sensitive=False,
            help="How best-practice invariants (dom-6, ...) are reported, as the reference validator's option.",
        ),
    ] = BestPractice.warning,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="FILE",
            help="Accept the issues this JSON file lists (rule, location and file patterns): they are not "
            "reported and do not fail the run; new ones do.",
        ),
    ] = None,
    write_baseline: Annotated[
        Path | None,
        typer.Option("--write-baseline", metavar="FILE", help="Write a baseline accepting every issue of this run."),
    ] = None,
    skip_non_fhir: Annotated[
        bool,
        typer.Option(
            "--skip-non-fhir",
            help="Skip JSON that is not a FHIR resource (no resourceType: package.json, tsconfig.json, ...) "
            "instead of reporting it fatal; listed as information with --verbose. The pre-commit hook sets it.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            min=1,
            metavar="N",
            help="Validate on N processes (default: all cores for inputs of more than 500 records, else 1).",
        ),
    ] = None,
    input_format: Annotated[
        InputFormat,
        typer.Option(
            "--input-format",
            case_sensitive=False,
            help="auto: NDJSON for .ndjson/.jsonl(.gz) files, standard input sniffed; ndjson: every input is "
            "one resource per line; json: every input is one resource (JSON or XML).",
        ),
    ] = InputFormat.auto,
    cross_references: Annotated[
        bool | None,
        typer.Option(
            "--cross-references/--no-cross-references",
            help="Load every input first so that references between them resolve (default: for folders of "
            "files under 32 MB; NDJSON and larger inputs are streamed, each record validated on its own).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary on standard error.")
    ] = False,
) -> None:
    """Validate FHIR resources (JSON or XML) against their base definitions and profiles, offline.

    Exit codes: 0 when no issue reaches --fail-on, 1 when one does, 2 for usage errors (unknown
    profile, package or file).
    """
    import os

    from imgfhir import bulk
    from imgfhir.validation.filters import at_level
    from imgfhir.validation.report import render
    from imgfhir.validation.source import STDIN

    missing = [p for p in paths if p != STDIN and not os.path.exists(p)]
    if missing:
        _fail(f"no such file or directory: {missing[0]}")
    settings = _settings(ctx, package, verbose)
    release = _release(fhir_version)
    color = (
        output_format == OutputFormat.text and output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    with _store(settings) as store:
        scope_pkg = _package(store, ig) if ig else None
        if scope_pkg is not None:
            if fhir_version and release != scope_pkg.release:
                _fail(f"--fhir-version {fhir_version.value} does not match {scope_pkg.key} (FHIR {scope_pkg.release})")
            release = scope_pkg.release
        profiles = [_profile_url(store, p, scope_pkg, release) for p in profile or []]
        job = bulk.Job(
            profiles=tuple(profiles),
            fhir_version=release,
            packages=tuple(str(p) for p in settings.packages),
            plugins=plugins,
            extension_domains=tuple(extension_domain or ()),
            best_practice=best_practice.value,
            skip_non_fhir=skip_non_fhir,
            note_skipped=verbose,
            keep_text=output_format == OutputFormat.html,
        )
        # small folders of files are loaded first, so references between the inputs resolve (as in an
        # IG build); NDJSON and large inputs are streamed, each record on its own (imgfhir.bulk)
        records = bulk.iter_records(paths, input_format=input_format.value)
        batch, rest = bulk.split(records, cross_references)
        if batch is None:
            streamed = bulk.StreamOptions(
                output_format.value, level.value, fail_on.value, color, quiet, workers, output, baseline,
                write_baseline, tuple(paths),
            )
            try:
                code = bulk.stream(rest, job, streamed, store=store)
            except bulk.BulkError as exc:
                _fail(str(exc), exc.code)
            raise typer.Exit(code)
        if not batch:
            _fail(f"no JSON or XML files in {', '.join(paths)}")
        checked, sources = bulk.check_batch(batch, job, store=store, workers=workers, quiet=quiet)
        results = [(c.label, c.outcome) for c in checked if not c.empty and not (c.skipped and not c.issues)]
    _one_release_notice(results)
    results = _filtered(results, baseline, write_baseline)
    shown = at_level(results, level.value) if level != Level.information else results
    text = render(shown, output_format.value, color=color, sources=sources)
    if output is None or str(output) == "-":
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILURE)
    if any(outcome.at_least(fail_on.value) for _, outcome in results):
        raise typer.Exit(EXIT_FAILURE)


def _filtered(
    results: list[tuple[str, Outcome]], baseline: Path | None, write_to: Path | None
) -> list[tuple[str, Outcome]]:
    """Write the run's baseline if asked, then drop what the given baseline accepts (said on stderr)."""
    from imgfhir.validation.filters import BaselineError, apply_baseline, baseline_of, read_baseline

    if write_to is not None:
        import orjson

        try:
            write_to.write_bytes(orjson.dumps({"accept": baseline_of(results)}, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            _fail(f"cannot write {write_to}: {exc.strerror or exc}", EXIT_FAILURE)
    if baseline is None:
        return results
    try:
        accepted = read_baseline(baseline)
    except BaselineError as exc:
        _fail(str(exc))
    kept, dropped = apply_baseline(results, accepted)
    if dropped:
        typer.echo(f"note: {dropped} known issue(s) accepted by the baseline {baseline}", err=True)
    return kept


def _one_release_notice(results: list[tuple[str, Outcome]]) -> None:
    """The inputs whose FHIR release could not be told and were validated as R4: one notice per run on
    stderr, not one information issue per resource."""
    from imgfhir.validation.validator import AMBIGUOUS

    guessed = 0
    for _, outcome in results:
        kept = [i for i in outcome.issues if i.rule != AMBIGUOUS]
        guessed += len(kept) != len(outcome.issues)
        outcome.issues[:] = kept
    if guessed:
        typer.echo(
            f"note: the FHIR release of {guessed} input(s) could not be told from their profiles, resource "
            "types or elements: validated as FHIR R4 (--fhir-version R4|R5 to choose)",
            err=True,
        )


def _profile_url(store: PackageStore, wanted: str, ig: Package | None, release: str | None) -> str:
    """The canonical of a --profile value, or a one-line error with close matches (exit 2)."""
    url, _, version = wanted.partition("|")
    candidates = [ig] if ig is not None else [p for p in store.packages if release is None or p.release == release]
    known: dict[str, str] = {}  # url, id or name -> url
    aliases: dict[str, set[str]] = {}  # id or name -> the urls it names (without --ig: used when only one)
    for pkg in candidates:
        for e in pkg.entries:
            if e.resource_type == "StructureDefinition" and e.url:
                known.setdefault(e.url, e.url)
                for alias in (e.id, e.name):
                    if alias:
                        aliases.setdefault(alias, set()).add(e.url)
    for alias, urls in aliases.items():
        if ig is not None or len(urls) == 1:
            known.setdefault(alias, min(urls))
    if ig is not None and url not in known:  # a canonical from a dependency of the IG
        scope = store.scope(ig)
        hit = scope.entry(url)
        if hit is not None and hit[1].resource_type == "StructureDefinition":
            known[url] = url
    if url in known:
        return known[url] + (f"|{version}" if version else "")
    where = f" in {ig.key}" if ig is not None else f" in FHIR {release}" if release else ""
    close = difflib.get_close_matches(url, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else " (see `imgfhir profiles`)"
    _fail(f"unknown profile {wanted}{where}{hint}")


class Format(StrEnum):
    xml = "xml"
    json = "json"


@app.command()
def convert(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            show_default=False,
            help="JSON or XML files, folders (recursively), .ndjson files (one resource per line), or - for stdin.",
        ),
    ],
    to: Annotated[Format, typer.Option("--to", case_sensitive=False, help="The format to write.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Write each input to DIR/<name>.<format> (needed for several), in the sub-folders it has in a folder"
            " given; each record of an NDJSON file to DIR/<name>-<line>.<format>.",
        ),
    ] = None,
    fhir_version: Annotated[
        FhirVersion | None,
        typer.Option(
            "--fhir-version",
            case_sensitive=False,
            metavar="4.0.1|5.0.0|R4|R5",
            help="FHIR version of the inputs (default: from their declared profiles, else R4).",
        ),
    ] = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Convert FHIR resources between JSON and XML, element order and shapes from the definitions.

    Exit codes: 0 when every input was converted whole, 1 when one could not be (or lost a value the
    target format cannot hold; the reasons go to stderr), 2 for usage errors.
    """
    import os

    from imgfhir.validation.source import STDIN
    from imgfhir.xml.convert import convert as run_convert

    missing = [p for p in paths if p != STDIN and not os.path.exists(p)]
    if missing:
        _fail(f"no such file or directory: {missing[0]}")
    if output is not None and output.exists() and not output.is_dir():
        _fail(f"--output must be a directory: {output}")
    settings = _settings(ctx, package, verbose)
    failed = False
    written: set[Path] = set()
    with _store(settings) as store:
        results = run_convert(paths, to.value, store, _RELEASE_OF[fhir_version.value] if fhir_version else None)
        first = next(results, None)
        if first is None:
            _fail(f"no JSON or XML files in {', '.join(paths)}")
        for done in itertools.chain([first], results):
            for problem in done.problems:
                typer.echo(f"{done.name}: {problem}", err=True)
            failed = failed or bool(done.problems) or done.text is None
            if done.text is None:
                continue
            if output is None:
                if done is not first:
                    _fail("several inputs: give --output DIR")
                typer.echo(done.text, nl=False)
                continue
            target = done.target(output, to.value)
            if target in written:  # two inputs of one name (given apart, or `x.json` and `x.xml`)
                typer.echo(f"{done.name}: not written: {target} was written from another input", err=True)
                failed = True
                continue
            written.add(target)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(done.text, encoding="utf-8")
            except OSError as exc:
                _fail(f"cannot write to {output}: {exc.strerror or exc}", EXIT_FAILURE)
    if failed:
        raise typer.Exit(EXIT_FAILURE)


class BundleKind(StrEnum):
    collection = "collection"
    transaction = "transaction"


@app.command("from-dicom")
def from_dicom(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE|DIR",
            show_default=False,
            help="X-Ray Radiation Dose SRs and TID 1500 measurement reports (DICOM Part 10, or DICOM JSON for"
            " measurement reports); folders: every file in them, recursively.",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="DIR|-",
            help="Write one FILE-stem.json Bundle per input into DIR; - or none: standard output (the Bundle "
            "as JSON, one Bundle per line for several inputs).",
        ),
    ] = None,
    bundle: Annotated[
        BundleKind, typer.Option("--bundle", case_sensitive=False, help="Bundle type to build.")
    ] = BundleKind.collection,
    validate_result: Annotated[
        bool,
        typer.Option("--validate", help="Validate each Bundle against the IG profiles; exit 1 on errors."),
    ] = False,
    modality: Annotated[
        str | None,
        typer.Option(
            "--modality",
            metavar="CODE",
            help="Irradiating modality (DX, RF, XA, CR, MG, CT...): projection X-ray RDSRs do not state it.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            min=1,
            metavar="N",
            help="Convert on N processes (default: all cores for more than 16 files, else 1).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar on standard error.")] = False,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Convert DICOM SRs to IG Bundles: RDSRs (CT, projection X-ray) to Radiation Dose Summary (R4),
    TID 1500 measurement reports to DICOM SR IG resources (R5); told apart by the root concept.

    Conversion warnings (what the RDSR does not hold, what was left out) go to stderr, information
    too with --verbose. Exit codes: 0 converted (and valid with --validate), 1 validation errors or
    unwritable output, 2 for usage errors and files that cannot be converted (the others still are).
    """
    import orjson

    try:
        import imgfhir.dicom  # noqa: F401 - pydicom is needed
    except ImportError as exc:  # pragma: no cover - only without pydicom
        _fail(f"from-dicom needs pydicom: pip install 'imgfhir[dicom]' ({exc})")
    settings = _settings(ctx, package, verbose)
    to_stdout = out is None or out == "-"
    out_dir = None if to_stdout else Path(str(out))
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot create {out_dir}: {exc.strerror or exc}", EXIT_FAILURE)
    from imgfhir.bulk.dicom import DicomJob, convert_all, dicom_files
    from imgfhir.bulk.progress import Progress, wanted
    from imgfhir.outcome import Outcome

    inputs = list(dicom_files(files))
    validator: Validator | None = None
    if validate_result:
        from imgfhir.validation import Validator

        with _store(settings) as store:  # package problems: one line before any conversion
            validator = Validator(store)
    job = DicomJob(bundle.value, modality, validate_result, tuple(str(p) for p in settings.packages))
    code = 0
    bundles: list[dict[str, Any]] = []
    sizes = {str(p): p.stat().st_size if p.is_file() else 0 for p in inputs}
    bar = Progress(sum(sizes.values()), shown=wanted(quiet), label=f"{len(inputs)} DICOM files")
    with bar:
        for done in convert_all(inputs, job, workers=workers, validator=validator):
            path = Path(done.path)
            if done.error is not None or done.bundle is None:
                typer.echo(f"error: {_one_line(done.error or 'not converted')}", err=True)
                code = max(code, EXIT_ERROR)
                bar.advance(sizes.get(done.path, 0), 1)
                continue
            for issue in done.issues:
                if issue.severity != "information" or settings.verbose:
                    typer.echo(f"{issue.severity}: {path.name}: {_one_line(issue.message)}", err=True)
            errors = 0
            if done.outcome is not None:
                outcome = Outcome(done.outcome)
                problems = outcome.at_least("error")
                counted = outcome.at_least("information" if settings.verbose else "warning")
                for issue in counted:  # every issue the summary line counts is shown
                    typer.echo(f"{path.name}: {_one_line(str(issue))}", err=True)
                warnings = len(outcome.at_least("warning")) - len(problems)
                typer.echo(f"{path.name}: {len(problems)} validation errors, {warnings} warnings", err=True)
                errors = len(problems)
                if problems:
                    code = max(code, EXIT_FAILURE)
            bar.advance(sizes.get(done.path, 0), errors)
            if out_dir is not None:
                target = out_dir / f"{path.stem}.json"
                try:
                    target.write_bytes(orjson.dumps(done.bundle, option=orjson.OPT_INDENT_2) + b"\n")
                except OSError as exc:
                    _fail(f"cannot write {target}: {exc.strerror or exc}", EXIT_FAILURE)
            else:
                bundles.append(done.bundle)
    if to_stdout and bundles:
        if len(inputs) == 1:
            typer.echo(orjson.dumps(bundles[0], option=orjson.OPT_INDENT_2).decode())
        else:
            for item in bundles:
                typer.echo(orjson.dumps(item).decode())
    if code:
        raise typer.Exit(code)


@app.command()
def example(
    ctx: typer.Context,
    canonical: Annotated[str, typer.Argument(help="Canonical URL of the profile to generate instances of.")],
    n: Annotated[int, typer.Option("-n", min=1, help="How many instances (more than one: NDJSON).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same instances.")] = 0,
    fhir_version: FhirVersionOpt = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Write generated instances that are valid against a profile (sample data)."""
    import orjson

    from imgfhir.snapshot import SnapshotError

    example_instances = _strategies().example_instances
    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        try:
            found = example_instances(canonical, n, seed, store=store, release=_release(fhir_version))
        except SnapshotError as exc:
            _fail(f"{canonical}: {exc}")
    found = [_labelled(instance, canonical, seed, i) for i, instance in enumerate(found)]
    if n == 1 and found:
        typer.echo(orjson.dumps(found[0], option=orjson.OPT_INDENT_2).decode())
        return
    for instance in found:
        typer.echo(orjson.dumps(instance).decode())


def _strategies() -> Any:
    """imgfhir.strategies, or a one-line error when hypothesis (the strategies extra) is not installed."""
    try:
        import imgfhir.strategies as strategies
    except ImportError as exc:
        _fail(f"this command needs hypothesis: pip install 'imgfhir[strategies]' ({exc})", EXIT_FAILURE)
    return strategies


def _labelled(instance: Any, canonical: str, seed: int, index: int) -> Any:
    """A generated resource with an id and its profile in meta.profile, so that `validate` checks it
    against that profile and references can name it."""
    if not isinstance(instance, dict) or "resourceType" not in instance:
        return instance  # a datatype profile's instance: no id, no meta
    labelled = dict(instance)
    labelled.setdefault("id", f"example-{seed}-{index}")
    meta = dict(labelled.get("meta") or {})
    profiles = [p for p in meta.get("profile", []) if p != canonical.split("|", 1)[0]]
    meta["profile"] = [canonical.split("|", 1)[0], *profiles]
    labelled["meta"] = meta
    return {"resourceType": labelled.pop("resourceType"), **labelled}


@app.command()
def fuzz(
    ctx: typer.Context,
    canonical: Annotated[str, typer.Argument(help="Canonical URL of the profile to fuzz the validator with.")],
    max_examples: Annotated[
        int, typer.Option("--max-examples", min=1, help="Generated instances, and mutants per kind.")
    ] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed for reproducible runs.")] = 0,
    fhir_version: FhirVersionOpt = None,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Validate generated instances and mutants of a profile; print examples and mutants caught/missed by kind.

    Exit 1 when a generated instance is invalid or a mutant is missed."""
    from rich.table import Table

    from imgfhir.snapshot import SnapshotError
    strategies = _strategies()
    MUTATION_KINDS, run_fuzz = strategies.MUTATION_KINDS, strategies.fuzz

    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        try:
            report = run_fuzz(
                canonical, max_examples, seed, store=store, release=_release(fhir_version)
            )
        except SnapshotError as exc:
            _fail(f"{canonical}: {exc}")
    table = Table(title=report.canonical)
    for column in ("check", "examples", "ok", "failed"):
        table.add_column(column, justify="left" if column == "check" else "right")
    table.add_row(
        "valid instances", str(report.examples), str(report.examples - len(report.invalid)), str(len(report.invalid))
    )
    for kind in MUTATION_KINDS:
        caught, missed = report.caught.get(kind, 0), len(report.missed.get(kind, []))
        table.add_row(f"mutant: {kind}", str(caught + missed), str(caught), str(missed))
    console = _console()
    console.print(table)
    for _instance, errors in report.invalid[:3]:
        console.print(f"invalid generated instance: {errors[0]}", markup=False, highlight=False)
    for misses in report.missed.values():
        expected, _ = misses[0]
        console.print(
            f"missed: {expected.kind}: expected {expected.rule} at {expected.expression} ({expected.change})",
            markup=False,
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def codegen(
    ctx: typer.Context,
    ig: Annotated[
        list[str] | None,
        typer.Option(
            "--ig",
            metavar="ID",
            help="Package id to generate models for; repeatable (default: the --package packages, "
            "else the imaging IGs).",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="DIR", help="Output folder, a Python package (created).")
    ] = Path("fhir_models"),
    schemas_only: Annotated[
        bool, typer.Option("--schemas-only", help="Write the JSON Schemas only (no datamodel-code-generator needed).")
    ] = False,
    package: PackageOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Generate JSON Schemas (draft 2020-12) and pydantic v2 models for the profiles of IG packages.

    Models need the codegen extra: pip install 'imgfhir[codegen]'."""
    from imgfhir.codegen.models import IMAGING_TARGETS, Target, build_schemas, generate, module_name, write_schemas

    settings = _settings(ctx, package, verbose)
    with _store(settings) as store:
        if ig:
            ids = [_package(store, wanted).id for wanted in ig]
        else:
            added = [p.id for p in store.packages if p.origin == "option"]
            ids = added or list(IMAGING_TARGETS.values())
        targets = [Target(module_name(pid), pid) for pid in dict.fromkeys(ids)]
        try:
            if schemas_only:
                files = write_schemas(build_schemas(store, targets), output / "schemas")
            else:
                files = generate(store, targets, output, package=output.name)
        except RuntimeError as exc:
            _fail(str(exc), EXIT_FAILURE)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILURE)
    for target in targets:
        done = len(target.canonicals) - len(target.skipped)
        typer.echo(f"{target.package_id}: {done} profiles → {target.module}", err=True)
        for canonical, reason in target.skipped:
            typer.echo(f"warning: {canonical} left out: {_one_line(reason)}", err=True)
    typer.echo(f"{len(files)} files written to {output}", err=True)


def main() -> None:
    from imgfhir.java_options import JavaOptionError, translate

    try:
        args = translate(sys.argv[1:])
    except JavaOptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    app(args=args, prog_name="imgfhir")
