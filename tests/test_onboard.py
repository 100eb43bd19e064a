"""`samband onboard`: the mapping is tried on its own sample records before anything changes, and the
deployment remembers it, so the new agency's adapter runs by its name alone."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from samband.cli import cli

from ._support import CommandRunner

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "onboarding"


def _samband(dep, *args: str):
    result = CommandRunner().invoke(cli, ["--state-dir", str(dep.state_dir), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _csn_with(tmp_path: Path, mapping_text: str) -> tuple[Path, Path]:
    (tmp_path / "mappings").mkdir(exist_ok=True)
    mapping = tmp_path / "mappings" / "csn.toml"
    mapping.write_text(mapping_text, encoding="utf-8")
    agency = tmp_path / "csn.toml"
    shutil.copyfile(EXAMPLES / "csn.toml", agency)
    return agency, mapping


def _nothing_changed(dep, config_before: str) -> None:
    assert dep.config_file.read_text() == config_before
    assert not dep.seed("csn").exists()
    assert not (dep.state_dir / "mappings" / "csn.toml").exists()
    assert "csn" not in {a["slug"] for a in json.loads((dep.state_dir / "deployment.json").read_text())["agencies"]}


@pytest.fixture
def running(fresh_deployment):
    asyncio.run(fresh_deployment.provision())
    return fresh_deployment


def test_a_mapping_that_cannot_map_its_own_samples_is_refused_before_any_credential(running, tmp_path):
    text = (EXAMPLES / "mappings" / "csn.toml").read_text(encoding="utf-8")
    agency, mapping = _csn_with(tmp_path, text.replace('format = "%Y-%m-%d"', 'format = "%d/%m/%Y"', 1))
    before = running.config_file.read_text()
    result = _samband(running, "onboard", str(agency))
    assert result.exit_code == 1
    line = result.stderr
    assert line.startswith("Error: Expected a date (%d/%m/%Y), got '20") and line.count("\n") == 1
    assert ": not in the form %d/%m/%Y (the mapping's own sample record 1, native `Datum`, value '20" in line
    assert line.endswith(f"- at `$.fields.opened_on` in {mapping}; nothing was changed\n")
    _nothing_changed(running, before)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("agency = 'csn'\nrecord_type = [", "Expected TOML, got a syntax error ("),
        (None, "Expected a field of benefit.control ("),
    ],
    ids=["not TOML", "a field the record type lacks"],
)
def test_a_mapping_that_is_not_toml_or_names_an_unknown_field_is_refused(running, tmp_path, broken, expected):
    text = (EXAMPLES / "mappings" / "csn.toml").read_text(encoding="utf-8")
    agency, mapping = _csn_with(tmp_path, broken if broken is not None else text + '\n[fields.plate]\npath = "Regnr"\n')
    before = running.config_file.read_text()
    result = _samband(running, "onboard", str(agency))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {expected}")
    assert str(mapping) in result.stderr and result.stderr.endswith("; nothing was changed\n")
    _nothing_changed(running, before)


def test_an_onboarded_agencys_adapter_runs_by_its_name_without_the_mapping_file(running, tmp_path):
    agency, _ = _csn_with(tmp_path, (EXAMPLES / "mappings" / "csn.toml").read_text(encoding="utf-8"))
    done = _samband(running, "onboard", str(agency), "--json")
    assert done.exit_code == 0, done.output
    kept = json.loads(done.stdout)["mapping"]
    assert kept == str((running.state_dir / "mappings" / "csn.toml").resolve())
    shutil.rmtree(tmp_path / "mappings")  # the agency file's folder is gone: the deployment kept its copy
    sample = _samband(running, "adapter", "sample", "csn", "5", str(tmp_path / "export"), "--operation", "tests")
    assert sample.exit_code == 0, sample.output
    export = sample.stdout.strip()
    run = _samband(running, "adapter", "run", "csn", "--source", export, "--no-inbox", "--once", "--json")
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert (summary["agency"], summary["read"], summary["published"], summary["dead_lettered"]) == ("csn", 5, 5, 0)
