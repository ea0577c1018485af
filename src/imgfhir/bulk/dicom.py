"""`from-dicom` on many files: conversions (and their validation) on all cores, in input order.

Each worker converts files with `imgfhir.dicom.convert_file` and, with `validate`, validates the
Bundle with its own Validator (built on first use). The results come back in the order of the
inputs, through the same pool as `validate` (a worker that dies loses only its file).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgfhir.outcome import Issue

from .pool import Pool, cores

if TYPE_CHECKING:
    from imgfhir.validation import Validator

AUTO_POOL_FILES = 16  # more files than this are converted on all cores unless -j says otherwise


@dataclass(frozen=True, slots=True)
class DicomJob:
    bundle: str = "collection"
    modality: str | None = None
    validate: bool = False
    packages: tuple[str, ...] = ()


@dataclass(slots=True)
class Converted:
    """One input's conversion: the Bundle, or `error` (why there is none)."""

    path: str
    bundle: dict[str, Any] | None = None
    fhir_version: str | None = None
    issues: list[Issue] = field(default_factory=list)  # what the conversion says
    outcome: list[Issue] | None = None  # the Bundle's validation (with `validate`)
    error: str | None = None
    seconds: float = 0.0


def dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files given, folders expanded to the files they hold (recursively, sorted, hidden left out:
    DICOM files often have no suffix)."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            found.extend(Path(dirpath, f) for f in filenames if not f.startswith("."))
        yield from sorted(found)


class DicomConverter:
    """Converts (and validates) one file at a time; the Validator is built on first use."""

    def __init__(self, job: DicomJob, validator: Validator | None = None) -> None:
        self.job, self._validator = job, validator

    @property
    def validator(self) -> Validator:
        if self._validator is None:
            from imgfhir.validation import Validator

            self._validator = Validator(packages=list(self.job.packages))
        return self._validator

    def convert(self, path: str) -> Converted:
        from imgfhir.dicom import DicomError, convert_file

        start = time.perf_counter()
        done = Converted(path)
        try:
            if not Path(path).is_file():
                done.error = f"no such file: {path}"
                return done
            conversion = convert_file(Path(path), self.job.bundle, modality=self.job.modality)  # type: ignore[arg-type]
            done.bundle, done.fhir_version, done.issues = conversion.bundle, conversion.fhir_version, conversion.issues
            if self.job.validate:
                outcome = self.validator.validate(conversion.bundle, fhir_version=conversion.fhir_version)
                done.outcome = outcome.issues
        except DicomError as exc:
            done.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops a run
            done.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            done.seconds = time.perf_counter() - start
        return done


_CONVERTER: DicomConverter | None = None


def _init(job: DicomJob) -> None:
    global _CONVERTER
    _CONVERTER = DicomConverter(job)


def _work(chunk: list[str]) -> list[Converted]:
    converter = _CONVERTER or DicomConverter(DicomJob())
    return [converter.convert(path) for path in chunk]


def _lost(path: str) -> Converted:
    return Converted(path, error="the worker process converting this file stopped abruptly (crashed or was killed)")


def convert_all(
    paths: list[Path], job: DicomJob, *, workers: int | None = None, validator: Validator | None = None
) -> Iterator[Converted]:
    """The conversions of `paths` in order: here for few files (or `workers=1`), else on a pool."""
    names = [str(p) for p in paths]
    count = workers if workers is not None else (cores() if len(names) > AUTO_POOL_FILES else 1)
    if count <= 1:
        converter = DicomConverter(job, validator)
        yield from (converter.convert(name) for name in names)
        return
    pool: Pool[str, Converted] = Pool(job, count, chunk_records=1, init=_init, work=_work, lost=_lost)
    with pool:
        yield from pool.map(names)
