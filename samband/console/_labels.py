"""Swedish and English words for what the console shows: agencies, regions, decisions, rules, the pages.

Agency names are the glossary's (`GLOSSARY.md`: the Swedish name and the English one), regions the
seven police regions, rules are read from their id: ``<operation>/<need-to-know cell>``,
``cooption.<grant>`` or ``deny.<reason>``, each reason with its words. A word not known is shown as
its id, never guessed.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["LANGS", "Labels", "Lang"]

Lang = Literal["sv", "en"]
LANGS: tuple[Lang, ...] = ("sv", "en")

# slug -> (Swedish, English)
_AGENCIES: dict[str, tuple[str, str]] = {
    "polisen": ("Polismyndigheten", "Swedish Police Authority"),
    "sakerhetspolisen": ("Säkerhetspolisen", "Swedish Security Service"),
    "aklagarmyndigheten": ("Åklagarmyndigheten", "Swedish Prosecution Authority"),
    "ekobrottsmyndigheten": ("Ekobrottsmyndigheten", "Swedish Economic Crime Authority"),
    "skatteverket": ("Skatteverket", "Swedish Tax Agency"),
    "kriminalvarden": ("Kriminalvården", "Swedish Prison and Probation Service"),
    "kronofogden": ("Kronofogdemyndigheten", "Swedish Enforcement Authority"),
    "kustbevakningen": ("Kustbevakningen", "Swedish Coast Guard"),
    "tullverket": ("Tullverket", "Swedish Customs"),
    "forsakringskassan": ("Försäkringskassan", "Swedish Social Insurance Agency"),
    "migrationsverket": ("Migrationsverket", "Swedish Migration Agency"),
    "arbetsformedlingen": ("Arbetsförmedlingen", "Swedish Public Employment Service"),
    "arbetsmiljoverket": ("Arbetsmiljöverket", "Swedish Work Environment Authority"),
    "bolagsverket": ("Bolagsverket", "Swedish Companies Registration Office"),
    "csn": ("Centrala studiestödsnämnden", "Swedish Board of Student Finance"),
    "finansinspektionen": ("Finansinspektionen", "Swedish Financial Supervisory Authority"),
    "ivo": ("Inspektionen för vård och omsorg", "Health and Social Care Inspectorate"),
    "pensionsmyndigheten": ("Pensionsmyndigheten", "Swedish Pensions Agency"),
    "sis": ("Statens institutionsstyrelse", "National Board of Institutional Care"),
    "transportstyrelsen": ("Transportstyrelsen", "Swedish Transport Agency"),
    "lansstyrelsen": ("Länsstyrelsen", "County Administrative Board"),
    "nuc": ("Nationellt underrättelsecentrum (Nuc)", "National Intelligence Centre (Nuc)"),
    "uppfoljning": ("Operativa rådets uppföljning", "The national operational council's follow-up"),
    **{
        f"ruc_{r}": (
            f"Regionalt underrättelsecentrum {r.capitalize()}",
            f"Regional Intelligence Centre {r.capitalize()}",
        )
        for r in ("nord", "mitt", "bergslagen", "stockholm", "ost", "vast", "syd")
    },
}
_REGIONS: dict[str, tuple[str, str]] = {
    "nord": ("Nord", "North"),
    "mitt": ("Mitt", "Central"),
    "bergslagen": ("Bergslagen", "Bergslagen"),
    "stockholm": ("Stockholm", "Stockholm"),
    "ost": ("Öst", "East"),
    "vast": ("Väst", "West"),
    "syd": ("Syd", "South"),
    "national": ("Nationell", "National"),
}
_DENY: dict[str, tuple[str, str]] = {
    "no-need-to-know": ("inget behov av uppgifterna", "no need to know"),
    "no-legal-basis": (
        "ingen rättslig grund täcker avsändare och mottagare",
        "no legal basis covers sender and recipient",
    ),
    "not-participant": ("mottagaren deltar inte i insatsen", "recipient takes no part in the operation"),
    "sender-not-participant": ("avsändaren deltar inte i insatsen", "sender takes no part in the operation"),
    "operation-not-in-force": ("insatsen gäller inte", "operation not in force"),
    "operation-closed": ("insatsen är avslutad", "operation closed"),
    "unknown-operation": ("okänd insats", "unknown operation"),
    "unknown-recipient": ("okänd mottagare", "unknown recipient"),
    "record-type-not-in-operation": ("uppgiftstypen ingår inte i insatsen", "record type not in the operation"),
    "own-record": ("egen uppgift", "the sender's own record"),
    "outside-scope": ("utanför insatsens område", "outside the operation's scope"),
    "outside-agency-regions": ("utanför myndighetens regioner", "outside the agency's regions"),
    "outside-grant": ("utanför adjungeringen", "outside the co-option grant"),
    "cooption-restricted": ("adjungerad: begränsad uppgift", "co-opted: restricted record"),
    "cooption-not-started": ("adjungeringen har inte börjat", "co-option not started"),
    "cooption-expired": ("adjungeringen har upphört", "co-option expired"),
    "named-recipients-only": ("endast namngivna mottagare", "named recipients only"),
    "foreign-origin": ("utländskt ursprung", "foreign-origin material"),
    "forged-origin": ("förfalskat ursprung", "forged origin"),
    "invalid-envelope": ("ogiltigt kuvert", "invalid envelope"),
    "held-for-review": ("hålls för uppgiftslämnarens prövning", "held for the originator's review"),
}
_PURPOSES: dict[str, tuple[str, str]] = {
    "customs": ("tullkontroll", "customs control"),
    "tax": ("skattekontroll", "tax control"),
    "benefit": ("förmånskontroll", "benefit control"),
    "benefits": ("förmånskontroll", "benefit control"),
    "enforcement": ("indrivning", "enforcement"),
    "migration": ("migrationskontroll", "migration control"),
    "economic": ("ekobrott", "economic crime"),
    "transport": ("transporttillsyn", "transport supervision"),
    "workplace": ("arbetsplatstillsyn", "workplace inspection"),
    "intelligence": ("underrättelse", "intelligence"),
}
_DECISIONS = {"allow": ("utlämnad", "disclosed"), "deny": ("nekad", "refused")}

_WORDS: dict[str, tuple[str, str]] = {
    "disclosures": ("Utlämnanden", "Disclosures"),
    "record": ("En uppgifts historia", "One record's story"),
    "integrity": ("Integritet", "Integrity"),
    "reconcile": ("Avstämning", "Reconciliation"),
    "deadletters": ("Avvisade poster", "Dead letters"),
    "policy": ("Regelverk", "Policy"),
    "exports": ("Export", "Exports"),
    "outcomes": ("Utfall", "Outcomes"),
    "lookups": ("Mina sökningar", "My lookups"),
    "person": ("Person (personnummer)", "Person (personnummer)"),
    "origin": ("Från myndighet", "From agency"),
    "recipient": ("Till myndighet", "To agency"),
    "operation": ("Insats", "Operation"),
    "region": ("Region", "Region"),
    "record_type": ("Uppgiftstyp", "Record type"),
    "rule": ("Regel", "Rule"),
    "decision": ("Beslut", "Decision"),
    "since": ("Från och med", "From"),
    "until": ("Till och med", "Until"),
    "any": ("alla", "any"),
    "search": ("Sök", "Search"),
    "clear": ("Rensa", "Clear"),
    "time": ("Tid (UTC)", "Time (UTC)"),
    "newer": ("Nyare", "Newer"),
    "older": ("Äldre", "Older"),
    "newest": ("Nyaste", "Newest"),
    "signed_in_as": ("Inloggad som", "Signed in as"),
    "language": ("Språk", "Language"),
    "legal_basis": ("Rättslig grund", "Legal basis"),
    "purpose": ("Ändamål", "Purpose"),
    "fields": ("Fält", "Fields"),
    "authority": ("Beslut som åberopas", "Authority cited"),
    "delivery": ("Leverans", "Delivery"),
    "receipt": ("Kvitto", "Receipt"),
    "trace": ("Spårning", "Trace"),
    "entries": ("poster", "entries"),
}


class Labels:
    """The words of one language; ``lang`` is ``sv`` or ``en``."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._i = LANGS.index(lang)

    def __call__(self, key: str) -> str:
        pair = _WORDS.get(key)
        return pair[self._i] if pair else key

    def agency(self, slug: str) -> str:
        pair = _AGENCIES.get(slug)
        return pair[self._i] if pair else slug

    def region(self, slug: str) -> str:
        pair = _REGIONS.get(slug)
        return pair[self._i] if pair else slug

    def decision(self, value: str) -> str:
        pair = _DECISIONS.get(value)
        return pair[self._i] if pair else value

    def rule(self, rule: str) -> str:
        """The rule in words: ``bacchus-2017/vehicle-control.customs`` -> operation, record, purpose."""
        if rule.startswith("deny."):
            pair = _DENY.get(rule[5:])
            return pair[self._i] if pair else rule
        if rule.startswith("cooption."):
            return ("adjungering ", "co-option ")[self._i] + rule[len("cooption.") :]
        op, _, cell = rule.partition("/")
        if not cell:
            return rule
        what, _, purpose = cell.rpartition(".")
        words = _PURPOSES.get(purpose.replace("-", "_").split("_")[0])
        said = words[self._i] if words else purpose
        return f"{op}: {what.replace('-', ' ')} → {said}" if what else f"{op}: {said}"
