"""samband.adapters: the shared adapter runtime and the agencies' mappings."""

from ._deadletter import DEAD_LETTER, DeadLetter, RawRef, list_dead_letters
from ._errors import REJECT_KINDS, AdapterError, MappingFileError, PublishFailed, RejectedRecord, SourceError
from ._formats import MAX_RECORD_BYTES, Csv, FixedWidth, JsonDocument, JsonLines, NativeFormat, Xml
from ._inbound import RECEIPT_SUBJECT, InboxSink, consume_inbox
from ._mapping import AgencyMapping, native_format
from ._registry import CORE_AGENCIES, mapping_for, write_export
from ._runtime import PublishSummary, map_record, publish_records
from ._sources import Checkpoint, NativeRecord, read_file, read_jsonl, read_source
from ._state import Position, Positions
from ._transforms import FieldError

__all__ = [
    "CORE_AGENCIES",
    "DEAD_LETTER",
    "MAX_RECORD_BYTES",
    "RECEIPT_SUBJECT",
    "REJECT_KINDS",
    "AdapterError",
    "AgencyMapping",
    "Checkpoint",
    "Csv",
    "DeadLetter",
    "FieldError",
    "FixedWidth",
    "InboxSink",
    "JsonDocument",
    "JsonLines",
    "MappingFileError",
    "NativeFormat",
    "NativeRecord",
    "Position",
    "Positions",
    "PublishFailed",
    "PublishSummary",
    "RawRef",
    "RejectedRecord",
    "SourceError",
    "Xml",
    "consume_inbox",
    "list_dead_letters",
    "map_record",
    "mapping_for",
    "native_format",
    "publish_records",
    "read_file",
    "read_jsonl",
    "read_source",
    "write_export",
]
