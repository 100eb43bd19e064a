"""Synthetic policies and matching records: the walking skeleton's one rule, and a large policy for
`samband bench policy` and the property tests.

``synthetic_policy(operations=100, grants=50)`` has the 21 agencies, the 8 scopes, LUS with its
dated coverage, ``operations`` operations spread over the scopes and ``grants`` co-option grants,
all seeded and deterministic. ``synthetic_envelopes(policy, n)`` makes records that belong to its
operations (origin a participant, region the scope), so decisions walk the full path.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Mapping

from samband.adapters import CORE_AGENCIES
from samband.router import (
    AgencyEntry,
    Coverage,
    Grant,
    LegalBasis,
    Need,
    Operation,
    Policy,
    PolicyData,
    RegionEntry,
    record_fields,
    required_fields,
)
from samband.schemas import (
    REGIONS,
    CustomsSeizure,
    Envelope,
    OrganisationRef,
    OverloadReport,
    PersonRef,
    RecoveryClaim,
    TaxReassessment,
    VehicleControl,
    VehicleRef,
    synthetic_orgnr,
    synthetic_personnummer,
    synthetic_plate,
)
from samband.schemas.layout import LUS

__all__ = [
    "NETWORK_AGENCIES",
    "SYNTHETIC_AT",
    "operation_in_syd",
    "skeleton_policy",
    "small_policy",
    "synthetic_data",
    "synthetic_envelopes",
    "synthetic_policy",
]

SYNTHETIC_AT = _dt.datetime(2024, 6, 1, 12, 0, tzinfo=_dt.UTC)
CORE = CORE_AGENCIES  # the same order: the synthetic policy is seeded
NETWORK_AGENCIES = NETWORK = (  # the nine that join by onboarding (examples/onboarding)
    "arbetsmiljoverket",
    "bolagsverket",
    "csn",
    "finansinspektionen",
    "ivo",
    "pensionsmyndigheten",
    "sis",
    "transportstyrelsen",
    "lansstyrelsen",
)
PURPOSES = (
    "policing",
    "customs_control",
    "tax_control",
    "benefit_control",
    "enforcement",
    "migration_control",
    "economic_crime",
    "supervision",
)
OSL = "OSL 2009:400 10 kap. 27 §"


def _person(rng: random.Random) -> PersonRef:
    return PersonRef(pnr=synthetic_personnummer(rng))


def _vehicle(rng: random.Random) -> VehicleRef:
    return VehicleRef(plate=synthetic_plate(rng))


def _org(rng: random.Random) -> OrganisationRef:
    return OrganisationRef(orgnr=synthetic_orgnr(rng))


def _vc(rng, i):
    v, p = _vehicle(rng), _person(rng)
    return VehicleControl(
        control_id=f"VC-{i}",
        controlled_at=SYNTHETIC_AT,
        location="Helsingborg",
        vehicle=v,
        vehicle_kind="buss",
        driver=p,
        passengers=rng.randrange(60),
        remark="överlast",
    ), (v, p)


def _ol(rng, i):
    v, o = _vehicle(rng), _org(rng)
    return OverloadReport(
        report_id=f"OL-{i}",
        weighed_at=SYNTHETIC_AT,
        location="Malmö",
        vehicle=v,
        operator=o,
        measured_kg=21_000,
        permitted_kg=18_000,
    ), (v, o)


def _cs(rng, i):
    v, p, o = _vehicle(rng), _person(rng), _org(rng)
    return CustomsSeizure(
        seizure_id=f"CS-{i}",
        seized_at=SYNTHETIC_AT,
        location="Trelleborg",
        goods="sprit",
        quantity=480.0,
        unit="l",
        vehicle=v,
        holder=p,
        company=o,
    ), (v, p, o)


def _tr(rng, i):
    p = _person(rng)
    return TaxReassessment(
        decision_id=f"TR-{i}",
        decided_on=SYNTHETIC_AT.date(),
        taxpayer=p,
        tax_year=2023,
        increase_ore=1_000_00,
        surcharge_ore=400_00,
    ), (p,)


def _rc(rng, i):
    p = _person(rng)
    return RecoveryClaim(
        claim_id=f"RC-{i}", decided_on=SYNTHETIC_AT.date(), person=p, benefit="aktivitetsstöd", amount_ore=81_000_00
    ), (p,)


BUILDERS = {
    "police.vehicle_control": _vc,
    "police.overload_report": _ol,
    "customs.seizure": _cs,
    "tax.reassessment": _tr,
    "benefit.recovery_claim": _rc,
}


def synthetic_data(operations: int = 100, grants: int = 50, *, seed: int = 774) -> PolicyData:
    rng = random.Random(seed)
    agencies = {a: AgencyEntry(name=a.title(), tier="core") for a in CORE} | {
        a: AgencyEntry(name=a.title(), tier="network") for a in NETWORK
    }
    types = tuple(BUILDERS)
    need: dict[str, dict[str, Need]] = {}
    for rt in types:
        optional = [f for f in record_fields(rt) if f not in required_fields(rt)]
        need[rt] = {
            p: Need(
                recipients=tuple(sorted(rng.sample(CORE + NETWORK[:4], 6))),
                fields=required_fields(rt) + tuple(f for f in optional if rng.random() < 0.6),
                id=f"{rt}.{p}",
            )
            for p in PURPOSES
        }
    ops: dict[str, Operation] = {}
    for i in range(operations):
        scope = REGIONS[i % len(REGIONS)]
        participants = tuple(
            sorted(rng.sample(CORE, rng.randrange(4, 10)) + rng.sample(NETWORK[:4], rng.randrange(0, 3)))
        )
        ops[f"op-{i:03d}"] = Operation(
            name=f"Synthetic operation {i}",
            scope=scope,
            decided_by="Operativa rådet" if scope == "national" else f"RSR {scope}",
            participants=participants,
            record_types=tuple(sorted(rng.sample(types, rng.randrange(2, len(types) + 1)))),
            legal_basis=LUS,
            purposes={p: rng.choice(PURPOSES) for p in participants},
            valid_from=_dt.date(2023, 1, 1),
        )
    op_ids = sorted(ops)
    gs: dict[str, Grant] = {}
    for i in range(grants):
        op_id = rng.choice(op_ids)
        rt = rng.choice(ops[op_id].record_types)
        gs[f"grant-{i:03d}"] = Grant(
            agency=rng.choice(NETWORK),
            operation=op_id,
            record_types=(rt,),
            fields=required_fields(rt),
            # about one grant in four has expired by SYNTHETIC_AT
            valid_from=SYNTHETIC_AT - _dt.timedelta(days=rng.randrange(31, 120)),
            valid_to=SYNTHETIC_AT + _dt.timedelta(days=rng.randrange(-30, 90)),
            decided_by=ops[op_id].decided_by,
            reason="synthetic",
            legal_basis=OSL,
        )
    return PolicyData(
        agencies=agencies,
        regions={r: RegionEntry(name=r, council="Operativa rådet" if r == "national" else f"RSR {r}") for r in REGIONS},
        legal_bases={
            LUS: LegalBasis(
                title="LUS",
                coverage=(
                    Coverage(agencies=CORE, valid_from=_dt.date(2016, 8, 15)),
                    Coverage(agencies=NETWORK[:4], valid_from=_dt.date(2022, 5, 1)),
                ),
            ),
            OSL: LegalBasis(title="OSL", coverage=(Coverage(agencies=("*",), valid_from=_dt.date(2009, 6, 30)),)),
        },
        operations=ops,
        need_to_know=need,
        grants=gs,
    )


def synthetic_policy(operations: int = 100, grants: int = 50, *, seed: int = 774) -> Policy:
    """A compiled policy of the size the performance target names (21 agencies, 8 scopes)."""
    return Policy(synthetic_data(operations, grants, seed=seed))


def synthetic_envelopes(policy: Policy, n: int, *, seed: int = 2016) -> list[Envelope]:
    """``n`` records in the policy's operations, sent by a participant, in the operation's scope."""
    rng = random.Random(seed)
    ops = sorted(policy.data.operations.items())
    out = []
    for i in range(n):
        op_id, op = ops[i % len(ops)]
        rt = rng.choice([t for t in op.record_types if t in BUILDERS])
        record, subjects = BUILDERS[rt](rng, i)
        out.append(
            Envelope(
                id=f"synthetic-{seed}-{i}",
                record=record,
                origin=rng.choice(op.participants),
                region=op.scope,
                operation=op_id,
                produced_at=SYNTHETIC_AT,
                subjects=subjects,
            )
        )
    return out


def small_policy(
    agencies: Mapping[str, str],
    operations: Mapping[str, Operation],
    need_to_know: Mapping[str, Mapping[str, Need]],
    *,
    lus_from: _dt.date = _dt.date(2016, 8, 15),
) -> Policy:
    """A hand-written policy for a story: ``agencies`` (slug -> name, all core and covered by LUS
    from ``lus_from``), every region with its RSR, and the given operations and needs."""
    return Policy(
        PolicyData(
            agencies={slug: AgencyEntry(name=name, tier="core") for slug, name in agencies.items()},
            regions={r: RegionEntry(name=r, council=f"RSR {r}") for r in REGIONS},
            legal_bases={
                LUS: LegalBasis(title="LUS", coverage=(Coverage(agencies=tuple(agencies), valid_from=lus_from),))
            },
            operations=dict(operations),
            need_to_know={rt: dict(needs) for rt, needs in need_to_know.items()},
        )
    )


def operation_in_syd(
    name: str,
    participants: tuple[str, ...],
    record_types: tuple[str, ...],
    purposes: dict[str, str],
    *,
    valid_from: _dt.date = _dt.date(2016, 11, 1),
) -> Operation:
    """An operation RSR Syd decided under LUS (the Bacchus setting of the story tests)."""
    return Operation(
        name=name,
        scope="syd",
        decided_by="RSR syd",
        participants=participants,
        record_types=record_types,
        legal_basis=LUS,
        purposes=purposes,
        valid_from=valid_from,
    )


def skeleton_policy() -> Policy:
    """The walking skeleton's one rule: Polisen's vehicle controls to Skatteverket (tax control)."""
    rt = "police.vehicle_control"
    return small_policy(
        {"polisen": "Polismyndigheten", "skatteverket": "Skatteverket"},
        {
            "bacchus-2017": operation_in_syd(
                "Operation Bacchus", ("polisen", "skatteverket"), (rt,), {"skatteverket": "tax_control"}
            )
        },
        {
            rt: {
                "tax_control": Need(
                    recipients=("skatteverket",), fields=record_fields(rt), id="skeleton.vehicle-control.skatteverket"
                )
            }
        },
    )
