"""The wording of the denials that depend on the tables only: of a record as such (its operation
is unknown, closed, not in force, or the record is outside it) and of a recipient with no entry
in the operation's table. `Policy` builds each once and keeps it; the time of a decision is in
the audit record, not in the reason.
"""

from __future__ import annotations

from ._compile import Decision, Tables, _Op

__all__ = ["no_entry", "outside_regions", "record_denial"]


def record_denial(tables: Tables, why: str, op_id: str, detail: str | None) -> Decision:
    """The denial of a record as such: ``why`` is the check of `Policy._gate` it failed."""
    v = tables.version
    op = tables.ops.get(op_id)
    if why == "unknown":
        return Decision(
            allow=False,
            rule="deny.unknown-operation",
            policy_version=v,
            reason=f"no operation {op_id!r} has been decided; nothing is routed outside an operation",
        )
    if why == "closed":
        return Decision(
            allow=False,
            rule="deny.operation-closed",
            policy_version=v,
            reason=f"operation {op_id} is closed",
            authority=tables.cite("operation", op_id),  # the decision that closed it
        )
    if why == "not-in-force":
        assert op is not None  # _gate found it
        return Decision(
            allow=False,
            rule="deny.operation-not-in-force",
            policy_version=v,
            reason=f"operation {op_id} is in force from {op.data.valid_from} "
            f"to {op.data.valid_to or 'further notice'} only (Swedish calendar days)",
            authority=tables.cite("operation", op_id),
        )
    if why == "scope":
        assert op is not None  # _gate found it
        return Decision(
            allow=False,
            rule="deny.outside-scope",
            policy_version=v,
            reason=f"the record is marked for region {detail}, operation {op_id} belongs to {op.scope}",
        )
    if why == "sender":
        return Decision(
            allow=False,
            rule="deny.sender-not-participant",
            policy_version=v,
            reason=f"{detail} does not take part in operation {op_id}",
        )
    if why == "sender-regions":
        return outside_regions(tables, op, detail)  # type: ignore[arg-type]
    return Decision(
        allow=False,
        rule="deny.record-type-not-in-operation",
        policy_version=v,
        reason=f"{detail} is not among the record types of operation {op_id}",
    )


def outside_regions(tables: Tables, op: _Op, agency: str) -> Decision:
    declared = tables.data.agencies[agency].regions or ()
    return Decision(
        allow=False,
        rule="deny.outside-agency-regions",
        policy_version=tables.version,
        reason=f"{agency} declared the regions {', '.join(declared)}; operation {op.id} belongs to {op.scope}, "
        f"and no co-option grant names {op.scope}",
    )


def no_entry(tables: Tables, op: _Op, rt: str, recipient: str) -> Decision:
    """The denial for a recipient the operation's table has no entry for, by what it is to the operation."""
    v = tables.version
    if recipient in op.outside:
        return outside_regions(tables, op, recipient)
    if recipient in op.members:
        purpose = op.data.purposes.get(recipient)
        return Decision(
            allow=False,
            rule="deny.no-need-to-know",
            policy_version=v,
            reason=f"{recipient} takes part in operation {op.id} "
            + (
                f"for {purpose}, which the need-to-know matrix does not give {rt}"
                if purpose
                else "with no purpose decided"
            ),
        )
    if recipient in op.coopted:
        return Decision(
            allow=False,
            rule="deny.outside-grant",
            policy_version=v,
            reason=f"{recipient} is co-opted to operation {op.id} for {', '.join(op.coopted[recipient])} only, "
            f"not {rt}",
        )
    if recipient not in tables.tiers:
        return Decision(
            allow=False,
            rule="deny.unknown-recipient",
            policy_version=v,
            reason=f"{recipient} is not a known agency",
        )
    return Decision(
        allow=False,
        rule="deny.not-participant",
        policy_version=v,
        reason=f"{recipient} neither takes part in operation {op.id} nor holds a co-option grant for it",
    )
