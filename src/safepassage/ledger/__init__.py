"""The operation log: RFC 9162 Merkle math, C2SP signed notes and checkpoints, durable storage.

``merkle``, ``note`` and ``checkpoint`` are pure (no I/O); ``store`` defines the storage
interface and ``sqlite`` implements it; ``log`` ties a store to its signing key.
"""
