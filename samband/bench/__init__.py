"""samband.bench: `samband bench` and its sub-benchmarks (ratios against baselines measured in the same run).

The verbs are in `cli`; the router as a process of its own (`python -m samband.bench._router`)
in `_router`; what it prints in `_report`. Bench-only behaviour reaches samband through public
seams (an appender passed to the router), never by overriding private methods.
"""

from .cli import commands

__all__ = ["commands"]
