"""bmsgateway: a battery management system gateway daemon.

Data flows one way: hardware driver -> acquisition -> estimation / protection -> one immutable
``PackState`` snapshot per cycle -> adapters (Modbus, ...). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
