"""samband: the federated message bus.

The packages live in samband.schemas, .adapters, .broker_config, .router, .observability.
"""

__version__ = "0.1.0"
