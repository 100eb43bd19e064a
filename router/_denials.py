"""The wording of the denials that depend on the tables only: of a record as such (its operation
is unknown, closed, not in force, or the record is outside it) and of a recipient with no entry
in the operation's table. `Policy` builds each once and keeps it; the time of a decision is in
the audit record, not in the reason.
"""

from __future__ import annotations

from samband.observability.audit import Authority

from ._compile import Decision, Tables, _Op

__all__ = ["no_entry", "outside_regions", "record_denial"]


def _deny(tables: Tables, rule: str, reason: str, authority: Authority | None = None) -> Decision:
    return Decision(allow=False, rule=rule, policy_version=tables.version, reason=reason, authority=authority)


def record_denial(tables: Tables, why: str, op_id: str, detail: str | None) -> Decision:
    """The denial of a record as such: ``why`` is the check of `Policy._gate` it failed."""
    op = tables.ops.get(op_id)
    if why == "unknown":
        return _deny(
            tables,
            "deny.unknown-operation",
            f"no operation {op_id!r} has been decided; nothing is routed outside an operation",
        )
    if why == "closed":
        # cites the decision that closed it
        return _deny(tables, "deny.operation-closed", f"operation {op_id} is closed", tables.cite("operation", op_id))
    if why == "not-in-force":
        assert op is not None  # _gate found it
        return _deny(
            tables,
            "deny.operation-not-in-force",
            f"operation {op_id} is in force from {op.data.valid_from} "
            f"to {op.data.valid_to or 'further notice'} only (Swedish calendar days)",
            tables.cite("operation", op_id),
        )
    if why == "scope":
        assert op is not None  # _gate found it
        return _deny(
            tables,
            "deny.outside-scope",
            f"the record is marked for region {detail}, operation {op_id} belongs to {op.scope}",
        )
    if why == "sender":
        return _deny(tables, "deny.sender-not-participant", f"{detail} does not take part in operation {op_id}")
    if why == "sender-regions":
        return outside_regions(tables, op, detail)  # type: ignore[arg-type]
    return _deny(
        tables,
        "deny.record-type-not-in-operation",
        f"{detail} is not among the record types of operation {op_id}",
    )


def outside_regions(tables: Tables, op: _Op, agency: str) -> Decision:
    declared = tables.data.agencies[agency].regions or ()
    return _deny(
        tables,
        "deny.outside-agency-regions",
        f"{agency} declared the regions {', '.join(declared)}; operation {op.id} belongs to {op.scope}, "
        f"and no co-option grant names {op.scope}",
    )


def no_entry(tables: Tables, op: _Op, rt: str, recipient: str) -> Decision:
    """The denial for a recipient the operation's table has no entry for, by what it is to the operation."""
    if recipient in op.outside:
        return outside_regions(tables, op, recipient)
    if recipient in op.members:
        purpose = op.data.purposes.get(recipient)
        return _deny(
            tables,
            "deny.no-need-to-know",
            f"{recipient} takes part in operation {op.id} "
            + (
                f"for {purpose}, which the need-to-know matrix does not give {rt}"
                if purpose
                else "with no purpose decided"
            ),
        )
    if recipient in op.coopted:
        return _deny(
            tables,
            "deny.outside-grant",
            f"{recipient} is co-opted to operation {op.id} for {', '.join(op.coopted[recipient])} only, not {rt}",
        )
    if recipient not in tables.tiers:
        return _deny(tables, "deny.unknown-recipient", f"{recipient} is not a known agency")
    return _deny(
        tables,
        "deny.not-participant",
        f"{recipient} neither takes part in operation {op.id} nor holds a co-option grant for it",
    )
