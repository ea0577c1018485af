"""The HL7 Java validator's single-dash options, for users switching from `validator_cli.jar`.

Click reads `-output oo.json` as `-o utput oo.json` (a short option with its value glued on), so a
Java user's command line would silently do something else. `translate()` rewrites the Java options
imgfhir has an equivalent for and refuses the others with a one-line error naming the imgfhir option;
it runs on the raw argument list before the command line is parsed.

The Java options are listed in the validator's `org.hl7.fhir.validation.cli.param.Params` and its
help text (`validator_cli.jar -help`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

# a single dash followed by a word: Java's long options (imgfhir's short options are one letter)
_JAVA_STYLE = re.compile(r"^-[a-zA-Z][a-zA-Z0-9-]+$")


class JavaOptionError(ValueError):
    """A Java validator option imgfhir does not take; the message names what to use instead."""


def _ig(value: str) -> list[str]:
    # -ig takes a package id (id#version) or a folder/file of definitions; imgfhir splits the two
    return ["--package", value] if os.path.exists(value) else ["--ig", value]


def _output(value: str) -> list[str]:
    if value.lower().endswith(".xml"):
        raise JavaOptionError("-output with an .xml file: imgfhir writes the OperationOutcome as JSON (-o FILE.json)")
    return ["--format", "json", "--output", value]


def _tx(value: str) -> list[str]:
    if value.lower() == "n/a":
        return []  # imgfhir never uses a terminology server
    raise JavaOptionError(f"-tx {value}: imgfhir is offline and uses no terminology server (drop -tx, or -tx n/a)")


def _html(_value: str) -> list[str]:
    raise JavaOptionError("-html-output: not supported yet; use --format sarif|json|text -o FILE")


# Java option → (takes a value, translation)
_WITH_VALUE: dict[str, Callable[[str], list[str]]] = {
    "-ig": _ig,
    "-profile": lambda v: ["--profile", v],
    "-version": lambda v: ["--fhir-version", v],
    "-output": _output,
    "-tx": _tx,
    "-html-output": _html,
}
_FLAGS: dict[str, list[str]] = {"-h": ["--help"], "-help": ["--help"], "-?": ["--help"]}
# Java options without an imgfhir equivalent, with what to use instead
_INSTEAD: dict[str, str] = {
    "-extension": "--extension-domain URL-PREFIX",
    "-sct": "nothing (offline: SNOMED CT codes are not checked against an edition)",
    "-txLog": "nothing (imgfhir uses no terminology server)",
    "-output-style": "--format text|json|ndjson|sarif",
    "-level": "--fail-on error|warning",
    "-best-practice": "--fail-on (best-practice invariants are warnings)",
}


def translate(args: list[str]) -> list[str]:
    """`args` with the Java validator's options rewritten to imgfhir's; raises JavaOptionError for one
    imgfhir cannot honour. Arguments after `--` are left alone."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        if arg in _FLAGS:
            out += _FLAGS[arg]
        elif arg in _WITH_VALUE:
            if i + 1 >= len(args):
                raise JavaOptionError(f"{arg} needs a value")
            out += _WITH_VALUE[arg](args[i + 1])
            i += 1
        elif _JAVA_STYLE.match(arg):
            instead = _INSTEAD.get(arg)
            hint = f"; use {instead}" if instead else "; see imgfhir validate --help"
            raise JavaOptionError(f"unknown option {arg} (a Java validator option?){hint}")
        else:
            out.append(arg)
        i += 1
    return out
