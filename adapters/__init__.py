"""samband.adapters: the shared adapter runtime and the agencies' mappings."""

from ._errors import AdapterError, PublishFailed, RejectedRecord
from ._mapping import AgencyMapping
from ._registry import mapping_for
from ._runtime import InboxSink, PublishSummary, consume_inbox, publish_records
from ._sources import MAX_RECORD_BYTES, NativeRecord, read_jsonl

__all__ = [
    "MAX_RECORD_BYTES", "AdapterError", "AgencyMapping", "InboxSink", "NativeRecord", "PublishFailed",
    "PublishSummary", "RejectedRecord", "consume_inbox", "mapping_for", "publish_records", "read_jsonl",
]
