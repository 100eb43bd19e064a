"""samband.adapters: the shared adapter runtime and the agencies' mappings."""

from ._chart import CHART_SUFFIXES, write_chart
from ._deadletter import DEAD_LETTER, DeadLetter, RawRef, list_dead_letters
from ._derive import DERIVED_CATEGORIES, derive_outcome
from ._dryrun import check_mapping
from ._errors import (
    REJECT_KINDS,
    AdapterError,
    MappingFileError,
    PublishFailed,
    RejectedRecord,
    ReportError,
    SourceError,
    UnknownAgency,
)
from ._figures import FIGURES, FigureLine, FigureSet, figure_events
from ._formats import MAX_RECORD_BYTES, Csv, FixedWidth, JsonDocument, JsonLines, NativeFormat, Xml
from ._inbound import RECEIPT_SUBJECT, InboxSink, consume_inbox
from ._mapping import AgencyMapping, native_format
from ._metrics import instrument_adapter
from ._outcomes import (
    OutcomeLine,
    OutcomeReport,
    Subtotal,
    aggregate,
    outcomes_report,
    read_received_outcomes,
    report_csv,
    report_json,
    sek,
)
from ._outcomes_view import report_table, report_title
from ._registry import CORE_AGENCIES, mapping_for, write_export
from ._runtime import PublishSummary, map_record, publish_records
from ._sources import IDLE, Checkpoint, Idle, NativeRecord, read_file, read_jsonl, read_source
from ._state import Position, Positions
from ._transforms import FieldError
from ._utfall import OUTCOME_EXPORT_COLUMNS, OutcomeExport, outcome_row

__all__ = [
    "CHART_SUFFIXES",
    "CORE_AGENCIES",
    "DEAD_LETTER",
    "DERIVED_CATEGORIES",
    "FIGURES",
    "IDLE",
    "MAX_RECORD_BYTES",
    "OUTCOME_EXPORT_COLUMNS",
    "RECEIPT_SUBJECT",
    "REJECT_KINDS",
    "AdapterError",
    "AgencyMapping",
    "Checkpoint",
    "Csv",
    "DeadLetter",
    "FieldError",
    "FigureLine",
    "FigureSet",
    "FixedWidth",
    "Idle",
    "InboxSink",
    "JsonDocument",
    "JsonLines",
    "MappingFileError",
    "NativeFormat",
    "NativeRecord",
    "OutcomeExport",
    "OutcomeLine",
    "OutcomeReport",
    "Position",
    "Positions",
    "PublishFailed",
    "PublishSummary",
    "RawRef",
    "RejectedRecord",
    "ReportError",
    "SourceError",
    "Subtotal",
    "UnknownAgency",
    "Xml",
    "aggregate",
    "check_mapping",
    "consume_inbox",
    "derive_outcome",
    "figure_events",
    "instrument_adapter",
    "list_dead_letters",
    "map_record",
    "mapping_for",
    "native_format",
    "outcome_row",
    "outcomes_report",
    "publish_records",
    "read_file",
    "read_jsonl",
    "read_received_outcomes",
    "read_source",
    "report_csv",
    "report_json",
    "report_table",
    "report_title",
    "sek",
    "write_chart",
    "write_export",
]
