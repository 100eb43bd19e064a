"""samband.observability.bus: publishing to and pulling from JetStream.

One publish pipeline for the adapters and the router (`AckPipeline`: a batch framed into one
write, one reply subscription for every PubAck, nothing sent while disconnected), a continuous
pull from a durable consumer (`Puller`) or fairly from several (`FairPuller`), a bulk range read
of a stream (`read_range`), direct gets (`direct_get`), a backoff helper, the protocol's publish
commands as pure functions, and the errors, nats-py's translated at this boundary. The one shim
over nats-py's internals is `_shim`.
"""

from inspect import isfunction

from msgspec import Struct

from ._backoff import Backoff
from ._direct import StoredMsg, direct_get
from ._errors import (
    ApiError,
    BusError,
    ConnectionClosed,
    NoAnswer,
    NoStream,
    NotConnected,
    NotSendable,
    PublishError,
    PublishRefused,
    ReadError,
    StreamGap,
)
from ._fair import FairPuller
from ._framing import ack_pending, ack_position, header_block, hpub_cmd, pub_cmd
from ._pipeline import AckPipeline, Item, PubAck, PublishBatch
from ._pull import Puller
from ._reader import fetch_seqs, read_range

__all__ = [
    "AckPipeline",
    "ApiError",
    "Backoff",
    "BusError",
    "ConnectionClosed",
    "FairPuller",
    "Item",
    "NoAnswer",
    "NoStream",
    "NotConnected",
    "NotSendable",
    "PubAck",
    "PublishBatch",
    "PublishError",
    "PublishRefused",
    "Puller",
    "ReadError",
    "StoredMsg",
    "StreamGap",
    "ack_pending",
    "ack_position",
    "direct_get",
    "fetch_seqs",
    "header_block",
    "hpub_cmd",
    "pub_cmd",
    "read_range",
]

# Tracebacks and reprs name the package, not the private module (httpx's habit). Not msgspec Structs:
# msgspec resolves their annotations in the module that `__module__` names.
for _obj in [globals()[n] for n in __all__]:
    if isfunction(_obj) or (isinstance(_obj, type) and not issubclass(_obj, Struct)):
        _obj.__module__ = __name__
