"""samband.console: the security chiefs' web console (`samband console`), one audit identity at a time.

Here, in the composing package beside the CLI, because it shows what four packages hold: the audit
log (samband.observability.audit), an agency's dead letters and outcomes (samband.adapters), the
councils' decisions (samband.router) and the credentials (samband.broker_config). See docs/console.md.
"""

from ._app import ConsoleConfig, create_app
from ._errors import BrokerGone, ConsoleError, NotRecorded, Refused
from ._labels import Labels

__all__ = ["BrokerGone", "ConsoleConfig", "ConsoleError", "Labels", "NotRecorded", "Refused", "create_app"]
