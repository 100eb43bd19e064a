"""Every command with a user's mistake: one line on stderr, no traceback, exit 2 for usage, 1 for a
failed check.

The table is the test: a row per (command line, the exact line it prints, exit code). A new verb
fails `test_every_command_has_a_row_with_bad_input` until it has a row here. In the command
lines and the expected texts, ``{state}`` is the running deployment's state directory,
``{tmp}`` a fresh folder of the test's own, ``{examples}`` examples/onboarding, and
``{url}`` the deployment's broker URL.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest

from samband.cli import cli

from ._support import CommandRunner

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "onboarding"


def row(command: str, line: str, code: int, *, id: str | None = None):
    return pytest.param(command, line, code, id=id or command)


# (what a user types after `samband`, what it prints, its exit code)
TABLE = [
    # the entry point itself
    row("nosuchverb", "Error: No such command 'nosuchverb'. (try `samband -h`)", 2),
    row("--state-dir", "Error: Option '--state-dir' requires an argument. (try `samband -h`)", 2),
    row(
        "--log-level loud creds show polisen",
        "Error: Invalid value for '--log-level': 'loud' is not one of 'debug', 'info', 'warning', 'error'. "
        "(try `samband -h`)",
        2,
    ),
    # up and demo
    row(
        "up --port 0",
        "Error: Invalid value for '--port': 0 is not in the range 1<=x<=65535. (try `samband up -h`)",
        2,
    ),
    row(
        "up --state-dir {state}",
        "Error: Expected the state directory {state} to be free, got it in use by a running deployment "
        "(pid {pid}): stop that one first (`kill -TERM {pid}`), or give this one its own --state-dir",
        1,
        id="up on a state directory in use",
    ),
    row(
        "demo --records 0",
        "Error: Invalid value for '--records': 0 is not in the range 1<=x<=100000. (try `samband demo -h`)",
        2,
    ),
    # status
    row(
        "status --watch abc",
        "Error: Invalid value for '--watch': 'abc' is not a valid float range. (try `samband status -h`)",
        2,
    ),
    row(
        "status --watch 0",
        "Error: Invalid value for '--watch': 0.0 is not in the range 0.5<=x<=3600. (try `samband status -h`)",
        2,
    ),
    row(
        "router run --metrics-port 0",
        "Error: Invalid value for '--metrics-port': 0 is not in the range 1<=x<=65535. (try `samband router run -h`)",
        2,
    ),
    row(
        "status --state-dir {tmp}/none",
        "Error: Expected a deployment in {tmp}/none, found none: start one with "
        "`samband --state-dir {tmp}/none up`, or point --state-dir at it",
        1,
        id="status where no deployment is",
    ),
    # onboarding and credentials
    row(
        "onboard {tmp}/missing.toml",
        "Error: Invalid value for 'FILE': File '{tmp}/missing.toml' does not exist. (try `samband onboard -h`)",
        2,
    ),
    row(
        "onboard {tmp}/csn.toml",
        "Error: Expected a field of benefit.control ('control_id', 'opened_on', 'person', 'benefit', 'finding'), "
        "got `registreringsnummer` - at "
        "`$.fields.registreringsnummer` in {tmp}/mappings/csn.toml; nothing was changed",
        1,
        id="onboard with a mapping naming a field the record type lacks",
    ),
    row(
        "offboard polis",
        "Error: Invalid value for 'AGENCY': Expected an agency on the bus, got `polis`; did you mean `polisen`? "
        "(try `samband offboard -h`)",
        2,
    ),
    row(
        "creds show polis",
        "Error: Invalid value for 'IDENTITY': Expected an identity with credentials, got `polis`; "
        "did you mean `polisen`? (try `samband creds show -h`)",
        2,
    ),
    row(
        "broker render --cluster 0 --out {tmp}/prod",
        "Error: Invalid value for '--cluster': 0 is not in the range x>=1. (try `samband broker render -h`)",
        2,
    ),
    row(
        "broker provision --server {url} --replicas 0",
        "Error: Invalid value for '--replicas': 0 is not in the range x>=1. (try `samband broker provision -h`)",
        2,
    ),
    # the audit trail
    row(
        "audit query --from polis",
        "Error: Invalid value for '--from': Expected an agency, got `polis`; did you mean `polisen`? "
        "(try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --to tullverk",
        "Error: Invalid value for '--to': Expected an agency, got `tullverk`; did you mean `tullverket`? "
        "(try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --region sydd",
        "Error: Invalid value for '--region': Expected a region, got `sydd`; did you mean `syd`? "
        "(try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --since 2017-03-05 --until 2017-03-01",
        "Error: Invalid value for '--since': Expected --since before --until, got --since 2017-03-05T00:00:00+00:00 "
        "after --until 2017-03-01T00:00:00+00:00 (try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --since yesterday",
        "Error: Invalid value for '--since': Expected an ISO 8601 date or time like 2017-03-01 or 2017-03-01T12:00Z, "
        "got 'yesterday' (try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --person 850312-1234",
        "Error: Invalid value for '--person': Invalid personnummer 198503**-****: bad check digit "
        "(try `samband audit query -h`)",
        2,
    ),
    row(
        "audit query --file {tmp}/notes.json",
        "Error: Expected an audit export header (samband-audit-export/2) on line 1 of {tmp}/notes.json: Expected "
        "`object`, got `array`",
        1,
    ),
    row(
        "audit verify --file {tmp}/notes.json",
        "Error: Expected an audit export header (samband-audit-export/2) on line 1 of {tmp}/notes.json: Expected "
        "`object`, got `array`",
        1,
    ),
    row(
        "audit export --out {tmp}/no/such/folder/export.json",
        "Error: Invalid value for '--out': Expected a file in a folder that exists, got "
        "{tmp}/no/such/folder/export.json (no folder {tmp}/no/such/folder) (try `samband audit export -h`)",
        2,
    ),
    row(
        "audit export --since 2017-03-05 --until 2017-03-01 --out {tmp}/export.json",
        "Error: Invalid value for '--since': Expected --since before --until, got --since 2017-03-05T00:00:00+00:00 "
        "after --until 2017-03-01T00:00:00+00:00 (try `samband audit export -h`)",
        2,
    ),
    row(
        "audit reconcile --as nobody",
        "Error: Expected credentials for `nobody` at {state}/creds/nobody.nk, found none: is `nobody` on this "
        "deployment ({state})?",
        1,
    ),
    row(
        "audit provision now",
        "Error: Got unexpected extra argument (now) (try `samband audit provision -h`)",
        2,
    ),
    row(
        "witness polis",
        "Error: Invalid value for 'AGENCY': Expected an agency, got `polis`; did you mean `polisen`? "
        "(try `samband witness -h`)",
        2,
    ),
    row(
        "witness polisen --interval 0",
        "Error: Invalid value for '--interval': 0.0 is not in the range x>=0.1. (try `samband witness -h`)",
        2,
    ),
    # the policy and the router
    row(
        "policy explain --record {tmp}/polisen.jsonl --to tullverk",
        "Error: Invalid value for '--to': Expected an agency the policy knows, got `tullverk`; "
        "did you mean `tullverket`? (try `samband policy explain -h`)",
        2,
    ),
    row(
        "policy explain --record {tmp}/polisen.jsonl --to tullverket",
        "Error: polisen.jsonl: envelope: Object contains unknown field `kontrollId` - at `$`; an agency's native "
        "export is explained with --native AGENCY FILE[:LINE]",
        1,
    ),
    row(
        "policy explain --native polis {tmp}/polisen.jsonl --to tullverket",
        "Error: Invalid value for '--native': Expected an agency the policy knows, got `polis`; "
        "did you mean `polisen`? (try `samband policy explain -h`)",
        2,
    ),
    row(
        "policy explain --native polisen {tmp}/polisen.jsonl:99 --to tullverket",
        "Error: polisen's adapter makes no envelope of it: Expected a record of polisen's export on line 99, got "
        "none (records start on lines 1, 2, 3) - at {tmp}/polisen.jsonl",
        1,
    ),
    row(
        "policy explain --to tullverket",
        "Error: Expected one of --record ENVELOPE or --native AGENCY FILE[:LINE], got neither "
        "(try `samband policy explain -h`)",
        2,
    ),
    row(
        "policy test {tmp}/missing.toml",
        "Error: Invalid value for '[FILES]...': File '{tmp}/missing.toml' does not exist. (try `samband policy test -h`)",
        2,
    ),
    row(
        "policy impact {tmp}/missing.json",
        "Error: Invalid value for 'PROPOSAL': Path '{tmp}/missing.json' does not exist. "
        "(try `samband policy impact -h`)",
        2,
    ),
    row(
        "policy impact {tmp} --since yesterday",
        "Error: Invalid value for '--since': Expected an ISO 8601 date or time like 2017-03-01 or 2017-03-01T12:00Z, "
        "got 'yesterday' (try `samband policy impact -h`)",
        2,
    ),
    row(
        "router run --batch 0",
        "Error: Invalid value for '--batch': 0 is not in the range 1<=x<=10000. (try `samband router run -h`)",
        2,
    ),
    # schemas
    row(
        "schemas export {tmp}/notes.json",
        "Error: Invalid value for 'DIRECTORY': Directory '{tmp}/notes.json' is a file. (try `samband schemas export -h`)",
        2,
    ),
    row(
        "schemas check {tmp}/missing",
        "Error: Invalid value for 'DIRECTORY': Directory '{tmp}/missing' does not exist. "
        "(try `samband schemas check -h`)",
        2,
    ),
    # an agency's adapter
    row(
        "adapter sample polis 3 {tmp}/out",
        "Error: Invalid value for 'AGENCY': Expected an agency with an adapter (a mapping module, an onboarded "
        "mapping, or --mapping FILE), got `polis`; did you mean `polisen`? (try `samband adapter sample -h`)",
        2,
    ),
    row(
        "adapter sample polisen 0 {tmp}/out",
        "Error: Invalid value for 'N': 0 is not in the range x>=1. (try `samband adapter sample -h`)",
        2,
    ),
    row(
        "adapter run polis --source {tmp}/polisen.jsonl",
        "Error: Invalid value for 'AGENCY': Expected an agency with an adapter (a mapping module, an onboarded "
        "mapping, or --mapping FILE), got `polis`; did you mean `polisen`? (try `samband adapter run -h`)",
        2,
    ),
    row(
        "adapter run polisen --follow",
        "Error: Expected --source with --follow (what to follow), got none (try `samband adapter run -h`)",
        2,
    ),
    row(
        "adapter run polisen --mapping {tmp}/notes.json",
        "Error: Expected TOML, got a syntax error (Expected ']' at the end of a table declaration (at line 1, "
        "column 5)) - at {tmp}/notes.json",
        1,
    ),
    row(
        "adapter dlq polis",
        "Error: Invalid value for 'AGENCY': Expected an agency on the bus, got `polis`; did you mean `polisen`? "
        "(try `samband adapter dlq -h`)",
        2,
    ),
    row(
        "adapter dlq polisen --kind sytax",
        "Error: Invalid value for '--kind': Expected a dead-letter kind, got `sytax`; did you mean `syntax`? "
        "(try `samband adapter dlq -h`)",
        2,
    ),
    # a council's decisions (samband decision, #16)
    row(
        "decision create bacchus-2099 --council rsr-sydd",
        "Error: Invalid value for '--council': 'rsr-sydd' is not one of 'rsr-nord', 'rsr-mitt', 'rsr-bergslagen', "
        "'rsr-stockholm', 'rsr-ost', 'rsr-vast', 'rsr-syd', 'operativa-radet'. (try `samband decision create -h`)",
        2,
    ),
    row(
        "decision amend bacchus-2017 --council rsr-syd --name x --key-dir {tmp}",
        "Error: Expected rsr-syd's private key at {tmp}/rsr-syd.key, got no such file (a council's key lives with "
        "its secretariat; point --key-dir at it)",
        1,
    ),
    row(
        "decision close bacchus-2017 --council rsr-syd --key-dir {tmp}",
        "Error: Expected rsr-syd's private key at {tmp}/rsr-syd.key, got no such file (a council's key lives with "
        "its secretariat; point --key-dir at it)",
        1,
    ),
    row(
        "decision grant --agency transportstyrelsen --operation bacchus-2017 --council rsr-syd",
        "Error: Missing argument 'GRANT'. (try `samband decision grant -h`)",
        2,
    ),
    row(
        "decision revoke bacchus-transportstyrelsen --council operativa-radett",
        "Error: Invalid value for '--council': 'operativa-radett' is not one of 'rsr-nord', 'rsr-mitt', "
        "'rsr-bergslagen', 'rsr-stockholm', 'rsr-ost', 'rsr-vast', 'rsr-syd', 'operativa-radet'. "
        "(try `samband decision revoke -h`)",
        2,
    ),
    row(
        "decision list --policy {tmp}/missing",
        "Error: Invalid value for '--policy': Directory '{tmp}/missing' does not exist. (try `samband decision list -h`)",
        2,
    ),
    # the originator's review queue (samband review, #16)
    row(
        "review list --agency polis",
        "Error: Invalid value for '--agency': Expected an agency, got `polis`; did you mean `polisen`? "
        "(try `samband review list -h`)",
        2,
    ),
    row("review show --agency polisen", "Error: Missing argument 'ENVELOPE_ID'. (try `samband review show -h`)", 2),
    row(
        "review release 0190a1b2-0000-7000-8000-000000000000",
        "Error: Missing option '--agency'. (try `samband review release -h`)",
        2,
    ),
    row(
        "review withhold --agency polisen 0190a1b2-0000-7000-8000-000000000000",
        "Error: Expected a reason for withholding (what the balancing test found), got none - at `reason` "
        "(try `samband review withhold -h`)",
        2,
    ),
    # the follow-up's outcomes (samband outcomes, #19)
    row(
        "outcomes report --agency polis",
        "Error: Invalid value for '--agency': Expected an agency, got `polis`; did you mean `polisen`? "
        "(try `samband outcomes report -h`)",
        2,
    ),
    row(
        "outcomes report --year 2017 --from 2017-01-01",
        "Error: Expected --year or --from/--to, got both (try `samband outcomes report -h`)",
        2,
    ),
    # the benchmarks
    row(
        "bench --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=10. (try `samband bench -h`)",
        2,
    ),
    row(
        "bench schemas --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=100. (try `samband bench schemas -h`)",
        2,
    ),
    row(
        "bench policy --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=100. (try `samband bench policy -h`)",
        2,
    ),
    row(
        "bench audit --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=1000. (try `samband bench audit -h`)",
        2,
    ),
    row(
        "bench adapters --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=100. (try `samband bench adapters -h`)",
        2,
    ),
    row(
        "bench shim --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=100. (try `samband bench shim -h`)",
        2,
    ),
    row(
        "bench stores --messages 5",
        "Error: Invalid value for '--messages': 5 is not in the range x>=100. (try `samband bench stores -h`)",
        2,
    ),
    row(
        "bench console --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=1000. (try `samband bench console -h`)",
        2,
    ),
    row(
        "console --port 99999",
        "Error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535. (try `samband console -h`)",
        2,
    ),
    row(
        "bench memory --records 5",
        "Error: Invalid value for '--records': 5 is not in the range x>=1000. (try `samband bench memory -h`)",
        2,
    ),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, deployment) -> dict[str, str]:
    """The files the rows refer to: a note that is no export, a native export, a broken onboarding."""
    tmp = tmp_path_factory.mktemp("bad-input")
    (tmp / "notes.json").write_text("[not, an, export]\n")
    CommandRunner().invoke(cli, ["adapter", "sample", "polisen", "3", str(tmp)], catch_exceptions=False)
    (tmp / "mappings").mkdir()
    mapping = (EXAMPLES / "mappings" / "csn.toml").read_text()
    (tmp / "mappings" / "csn.toml").write_text(mapping + '\n[fields.registreringsnummer]\npath = "regnr"\n')
    (tmp / "csn.toml").write_text((EXAMPLES / "csn.toml").read_text())
    return {
        "tmp": str(tmp),
        "state": str(deployment.state_dir),
        "url": deployment.url,
        "examples": str(EXAMPLES),
        "pid": (deployment.state_dir / "samband.lock").read_text().strip(),
    }


@pytest.mark.parametrize(("command", "line", "code"), TABLE)
def test_a_mistake_is_one_line_and_an_exit_code(bus, scratch, command, line, code):
    argv = ["--state-dir", scratch["state"], *shlex.split(command.format(**scratch))]
    result = CommandRunner().invoke(cli, argv)
    assert isinstance(result.exception, SystemExit), result.exception  # never a traceback
    assert (result.exit_code, result.stderr) == (code, line.format(**scratch) + "\n")


def _leaves(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        if command.invoke_without_command and path:
            yield " ".join(path)
        for name, sub in command.commands.items():
            yield from _leaves(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_command_has_a_row_with_bad_input():
    covered = set()
    for param in TABLE:
        words = param.values[0].split()
        covered |= {" ".join(words[:n]) for n in range(1, len(words) + 1)}
    missing = sorted(set(_leaves(cli)) - covered)
    assert missing == [], f"add a row with bad input to TABLE for: {', '.join(missing)}"
