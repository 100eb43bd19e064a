"""samband.broker_config: agency files, credentials, the rendered nats-server config, the embedded broker."""

from ._agencies import (
    SENDABLE_RECORD_TYPES,
    Agency,
    ReviewMarks,
    builtin_agencies,
    load_agency_dir,
    load_agency_file,
    mapping_path,
)
from ._connect import connect_identity
from ._creds import ADMIN, AUDIT_ADMIN, AUDITOR, ROUTER, SSO, STEWARD, Credentials
from ._deployment import (
    AGENCY_STREAMS,
    DEADLETTER_STREAM,
    INBOX_STREAM,
    ROUTER_STREAMS,
    Deployment,
    provision_agency,
    provision_streams,
)
from ._errors import (
    AgencyFileError,
    BrokerConfigError,
    BrokerNotFound,
    BrokerReloadError,
    BrokerStartError,
    BrokerUnavailable,
    DeploymentInUse,
    OnboardingError,
    PortInUse,
)
from ._lock import StateLock
from ._onboarding import Onboarded, adapter_command, offboard, onboard, register, registration_subject
from ._permissions import AGENCY_CONSUMER_API, agency_steward
from ._production import ClusterLayout, provision_cluster, render_cluster
from ._quotas import (
    DECISIONS_BYTES,
    MAX_COSIGNATURE_BYTES,
    WITNESS_BYTES,
    WITNESS_KEPT,
    AgencyLimits,
    agency_streams,
    ingest_stream_config,
)
from ._registry import announce
from ._render import JS_DENY_DESTRUCTIVE, ROUTER_ACCOUNT, SSO_ACCOUNT, SYSTEM_ACCOUNT, render_server_config
from ._server import NatsServer, check_config, find_nats_server, free_port, reload_server
from ._tls import client_tls, is_loopback

__all__ = [
    "ADMIN",
    "AGENCY_CONSUMER_API",
    "AGENCY_STREAMS",
    "AUDITOR",
    "AUDIT_ADMIN",
    "DEADLETTER_STREAM",
    "DECISIONS_BYTES",
    "INBOX_STREAM",
    "JS_DENY_DESTRUCTIVE",
    "MAX_COSIGNATURE_BYTES",
    "ROUTER",
    "ROUTER_ACCOUNT",
    "ROUTER_STREAMS",
    "SENDABLE_RECORD_TYPES",
    "SSO",
    "SSO_ACCOUNT",
    "STEWARD",
    "SYSTEM_ACCOUNT",
    "WITNESS_BYTES",
    "WITNESS_KEPT",
    "Agency",
    "AgencyFileError",
    "AgencyLimits",
    "BrokerConfigError",
    "BrokerNotFound",
    "BrokerReloadError",
    "BrokerStartError",
    "BrokerUnavailable",
    "ClusterLayout",
    "Credentials",
    "Deployment",
    "DeploymentInUse",
    "NatsServer",
    "Onboarded",
    "OnboardingError",
    "PortInUse",
    "ReviewMarks",
    "StateLock",
    "adapter_command",
    "agency_steward",
    "agency_streams",
    "announce",
    "builtin_agencies",
    "check_config",
    "client_tls",
    "connect_identity",
    "find_nats_server",
    "free_port",
    "ingest_stream_config",
    "is_loopback",
    "load_agency_dir",
    "load_agency_file",
    "mapping_path",
    "offboard",
    "onboard",
    "provision_agency",
    "provision_cluster",
    "provision_streams",
    "register",
    "registration_subject",
    "reload_server",
    "render_cluster",
    "render_server_config",
]
