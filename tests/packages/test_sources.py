"""Where packages come from: bundled profiles/, explicit paths, $IMGFHIR_PACKAGES, entry points."""

from __future__ import annotations

import os
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest

from imgfhir.packages import ENTRY_POINT_GROUP, ENV_VAR, PackageError, bundled_dir, load_store, sources
from imgfhir.packages.lock import LOCK_NAME
from tests.support import BASE_FIXTURE, BUNDLED_IDS, FIXTURE_CANONICAL, PROFILES_FIXTURE


def test_bundled_dir_is_the_checkout_profiles_folder() -> None:
    assert (bundled_dir() / LOCK_NAME).is_file()
    assert bundled_dir().name in ("profiles", "_profiles")


def test_explicit_paths_load_first_with_option_origin() -> None:
    store = load_store([PROFILES_FIXTURE, str(BASE_FIXTURE)], bundled=False, env=False, entry_points=False)
    assert [(p.id, p.origin) for p in store.packages] == [
        ("example.imaging.profiles", "option"),
        ("example.imaging.base", "option"),
    ]


def test_explicit_bad_path_raises(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no such package file or folder"):
        load_store([tmp_path / "missing.tgz"], env=False, entry_points=False)


def test_env_var_adds_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(PROFILES_FIXTURE), "", str(BASE_FIXTURE)]))
    store = load_store(entry_points=False)
    assert [(p.id, p.origin) for p in store.packages[:2]] == [
        ("example.imaging.profiles", f"env:{ENV_VAR}"),
        ("example.imaging.base", f"env:{ENV_VAR}"),
    ]
    assert len(store.packages) == len(BUNDLED_IDS) + 2
    assert store.scope_for_canonical(FIXTURE_CANONICAL).root.id == "example.imaging.profiles"


def test_env_var_ignored_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(BASE_FIXTURE))
    assert load_store(bundled=False, env=False, entry_points=False).packages == []


def test_env_var_with_a_bad_path_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(PackageError, match="nowhere: no such package file or folder"):
        load_store(bundled=False, entry_points=False)


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """An importable module standing in for a third-party distribution that ships packages."""
    module = types.ModuleType("imgfhir_fixture_plugin")
    module.package_paths = lambda: [PROFILES_FIXTURE, BASE_FIXTURE]  # type: ignore[attr-defined]
    module.single_path = str(BASE_FIXTURE)  # type: ignore[attr-defined]
    module.missing_path = lambda: "/nonexistent/imgfhir-fixture.tgz"  # type: ignore[attr-defined]
    module.raises = lambda: 1 / 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _entry_points(monkeypatch: pytest.MonkeyPatch, **points: str) -> None:
    eps = [metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in points.items()]

    def fake(**kwargs: str) -> list[metadata.EntryPoint]:
        assert kwargs == {"group": ENTRY_POINT_GROUP}
        return eps

    monkeypatch.setattr(sources.metadata, "entry_points", fake)


def test_entry_point_adds_packages(monkeypatch: pytest.MonkeyPatch, plugin_module: types.ModuleType) -> None:
    _entry_points(monkeypatch, fixtures="imgfhir_fixture_plugin:package_paths")
    store = load_store(bundled=False, env=False)
    assert [(p.id, p.origin) for p in store.packages] == [
        ("example.imaging.profiles", "entry-point:fixtures"),
        ("example.imaging.base", "entry-point:fixtures"),
    ]
    assert store.diagnostics == []


def test_entry_point_may_be_a_plain_path(monkeypatch: pytest.MonkeyPatch, plugin_module: types.ModuleType) -> None:
    _entry_points(monkeypatch, single="imgfhir_fixture_plugin:single_path")
    assert [p.id for p in load_store(bundled=False, env=False).packages] == ["example.imaging.base"]


def test_broken_entry_points_become_warnings(monkeypatch: pytest.MonkeyPatch, plugin_module: types.ModuleType) -> None:
    _entry_points(
        monkeypatch,
        good="imgfhir_fixture_plugin:single_path",
        unimportable="imgfhir_no_such_plugin:paths",
        failing="imgfhir_fixture_plugin:raises",
        dangling="imgfhir_fixture_plugin:missing_path",
    )
    store = load_store(env=False)
    assert store.packages[0].id == "example.imaging.base"
    assert len(store.packages) == len(BUNDLED_IDS) + 1
    messages = [i.message for i in store.diagnostics]
    assert all(i.severity == "warning" for i in store.diagnostics)
    assert any(m.startswith("package entry point 'unimportable' failed") for m in messages)
    assert any(m.startswith("package entry point 'failing' failed: division by zero") for m in messages)
    assert "entry-point:dangling: cannot load /nonexistent/imgfhir-fixture.tgz" in messages
    assert len(messages) == 3
    assert store.scope(release="R4").resolve("http://hl7.org/fhir/StructureDefinition/Observation")


def test_entry_points_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**kwargs: str) -> list[metadata.EntryPoint]:
        raise AssertionError("entry points must not be consulted")

    monkeypatch.setattr(sources.metadata, "entry_points", boom)
    assert load_store(bundled=False, env=False, entry_points=False).packages == []
