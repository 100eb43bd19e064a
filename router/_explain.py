"""`samband policy explain`: the decision for one (record, recipient) and the chain of rules behind it.

The narrative walks the same checks as `Policy.decide`, in the same order, in plain words; the
decision it reports is the one `decide` returns (the explanation never decides by itself).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from samband.schemas import Envelope

from ._legal_time import swedish_date
from ._outcomes import OUTCOME
from ._policy import Decision, Policy
from ._validate import record_fields

__all__ = ["Explanation", "Step", "explain"]


@dataclass(frozen=True)
class Step:
    ok: bool | None  # None: context, not a check
    text: str


@dataclass
class Explanation:
    decision: Decision
    record_type: str
    steps: list[Step] = field(default_factory=list)

    def lines(self) -> list[str]:
        mark = {True: "✓", False: "✗", None: "•"}
        return [f"{mark[s.ok]} {s.text}" for s in self.steps]


def _name(policy: Policy, slug: str | None) -> str:
    a = policy.data.agencies.get(slug or "")
    return f"{slug} ({a.name}, {a.tier} agency)" if a else f"{slug} (not a known agency)"


def _period(start, end) -> str:
    return f"from {start} " + (f"to {end}" if end else "until further notice") + " (Swedish calendar days)"


def explain(policy: Policy, env: Envelope, recipient: str, at: _dt.datetime) -> Explanation:
    d = policy.decide(env, recipient, at)
    ex = Explanation(decision=d, record_type=env.record_type)
    say = ex.steps.append
    rt, origin = env.record_type, env.origin
    say(
        Step(
            None,
            f"The record is a {rt} ({env.id}) sent by {_name(policy, origin)} for operation "
            f"{env.operation} in region {env.region}; the question is whether {_name(policy, recipient)} may "
            f"receive it at {at.isoformat()} under policy version {policy.version}.",
        )
    )
    if recipient == origin:
        say(Step(False, f"{recipient} sent the record itself, and the sender never receives its own record back."))
        return _verdict(ex)
    say(Step(True, f"{recipient} is not the sender."))
    op = policy._ops.get(env.operation)
    if op is None:
        say(
            Step(
                False,
                f"No council has decided an operation called {env.operation!r}. "
                "Nothing is routed outside a decided operation.",
            )
        )
        return _verdict(ex)
    o = op.data
    say(
        Step(
            True,
            f'Operation {op.id} ("{o.name}") was decided by {o.decided_by} for '
            f"{'the whole country' if o.scope == 'national' else 'region ' + o.scope}.",
        )
    )
    if rt == OUTCOME and policy._outcomes is not None:
        if not _outcome_steps(policy, env, recipient, at, op, d, say):
            return _verdict(ex)
        return _restrictions_and_basis(policy, env, recipient, at, d, ex)
    if not op.active:
        say(Step(False, "The operation is closed; records of a closed operation go to no one."))
        return _verdict(ex)
    if not op.start <= at < op.end:
        say(
            Step(
                False,
                f"The operation is in force {_period(o.valid_from, o.valid_to)}, which does not include "
                f"{swedish_date(at)}.",
            )
        )
        return _verdict(ex)
    say(Step(True, f"It is active and in force {_period(o.valid_from, o.valid_to)}."))
    if env.region != op.scope:
        say(
            Step(
                False,
                f"The record is marked for region {env.region}, but the operation belongs to {op.scope}; "
                "a region's operation never carries another region's records.",
            )
        )
        return _verdict(ex)
    if origin not in op.members:
        say(Step(False, f"{origin} does not take part in the operation, so it cannot share records through it."))
        return _verdict(ex)
    if origin in op.outside:
        say(Step(False, d.reason + "."))
        return _verdict(ex)
    say(Step(True, f"The sender {origin} takes part in the operation."))
    if rt not in op.table:
        say(Step(False, f"The operation covers {', '.join(o.record_types)}, not {rt}."))
        return _verdict(ex)
    say(Step(True, f"{rt} is among the record types the operation covers."))
    entry = op.table[rt].get(recipient)
    if entry is None:
        say(Step(False, d.reason + "."))
        return _verdict(ex)
    if entry.need is not None:
        n = entry.need
        say(
            Step(
                True,
                f"{recipient} takes part with the purpose {n.purpose}; the need-to-know matrix gives that purpose "
                f"these fields of {rt}: {', '.join(n.fields)} (rule {n.rule}).",
            )
        )
    for g in entry.grants:
        gd = policy.data.grants[g.id]
        if gd.revoked:
            say(Step(False, f"{recipient}'s co-option grant {g.id} was revoked by {gd.decided_by}."))
            continue
        say(
            Step(
                None,
                f"{recipient} holds co-option grant {g.id} from {gd.decided_by} ({gd.reason}), valid "
                f"{gd.valid_from.isoformat()} to {gd.valid_to.isoformat()}, for {', '.join(gd.record_types)} "
                f"with the fields {', '.join(gd.fields)}, under {gd.legal_basis}.",
            )
        )
    return _restrictions_and_basis(policy, env, recipient, at, d, ex)


def _restrictions_and_basis(
    policy: Policy, env: Envelope, recipient: str, at: _dt.datetime, d: Decision, ex: Explanation
) -> Explanation:
    say = ex.steps.append
    rt, origin = env.record_type, env.origin
    h = env.handling
    standing = policy._standing.get((origin or "", rt))
    marks = []
    if h.named_recipients is not None:
        marks.append(f"only to {', '.join(h.named_recipients)}")
    if h.no_onward_sharing:
        marks.append("no onward sharing")
    if h.foreign_origin:
        marks.append("foreign origin")
    if h.review_required:
        marks.append("held for the originator's balancing test (the router keeps an allowed copy for its officer)")
    if standing is not None:
        marks.append(f"the standing restriction(s) {', '.join(standing.ids)} of {origin}")
    if marks:
        say(Step(None, "The originator restricted the record: " + "; ".join(marks) + ". No rule widens these."))
    else:
        say(Step(True, "The originator put no handling restriction on the record."))
    if d.allow:
        if d.rule.startswith("cooption."):
            say(
                Step(
                    True,
                    f"The grant is valid at {at.isoformat()}, the record is not handling-restricted, and "
                    f"{d.legal_basis} covers both {origin} and {recipient} on {swedish_date(at)} (Swedish time).",
                )
            )
        else:
            say(
                Step(
                    True, f"{d.legal_basis} covers both {origin} and {recipient} on {swedish_date(at)} (Swedish time)."
                )
            )
    else:
        say(Step(False, d.reason + "."))
    return _verdict(ex)


def _outcome_steps(policy: Policy, env: Envelope, recipient: str, at: _dt.datetime, op, d: Decision, say) -> bool:
    """An outcome's path (outcomes.toml): the reporting window, scope and sender, the outcome's own
    claims, then whether the recipient follows up the operation's region. False once one fails."""
    routes = policy._outcomes
    assert routes is not None
    o, origin = op.data, env.origin
    window = f"{routes.rules.report_within_days} days after it ends"
    if d.rule == "deny.operation-not-in-force":
        say(
            Step(
                False,
                f"The operation is in force {_period(o.valid_from, o.valid_to)}; its outcomes reach the "
                f"follow-up up to {window}, which does not include {at.date()}.",
            )
        )
        return False
    say(
        Step(
            True,
            f"Its outcomes reach the follow-up while it is in force {_period(o.valid_from, o.valid_to)} "
            f"and up to {window}, closed or not.",
        )
    )
    if d.rule in ("deny.outside-scope", "deny.sender-not-participant"):
        say(Step(False, d.reason + "."))
        return False
    say(Step(True, f"The sender {origin} takes part in the operation, for region {op.scope}."))
    if d.rule.startswith("deny.outcome-"):
        say(Step(False, f"The outcome itself is refused: {d.reason}."))
        return False
    say(
        Step(
            True,
            "The outcome is the sender's own, for its envelope's region and operation, in a known "
            "category, with a plausible amount and period.",
        )
    )
    entry = op.table[OUTCOME].get(recipient)
    if entry is None or entry.need is None:
        followers = ", ".join(routes.recipients(op.scope)) or "no one"
        say(Step(False, f"Outcomes of region {op.scope} go to {followers} (outcomes.toml); {d.reason}."))
        return False
    n = entry.need
    say(Step(True, f"{n.reason} (outcomes.toml, rule {n.rule}): the fields {', '.join(n.fields)}."))
    return True


def _verdict(ex: Explanation) -> Explanation:
    d = ex.decision
    if d.allow:
        withheld = [f for f in record_fields(ex.record_type) if f not in d.fields]
        text = (
            f"ALLOW by rule {d.rule}: purpose {d.purpose}, legal basis {d.legal_basis}, "
            f"fields {', '.join(d.fields)}"
            + (f"; withheld: {', '.join(withheld)}" if withheld else "")
            + ("; delivered marked no onward sharing" if d.no_onward_sharing else "")
            + "."
        )
    else:
        text = f"DENY by rule {d.rule}: {d.reason}."
    ex.steps.append(Step(d.allow, text))
    return ex
