"""safepassage: a verifiable, shared record of humanitarian evacuations.

The package's public modules are named for what they hold; ``safepassage.ledger`` is the
append-only Merkle-tree log every figure rests on.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
