"""The server: the application layer over HTTP, for every role at once (``safepassage serve``).

``app`` (the FastAPI endpoints and who may call each), ``accounts`` (bearer tokens, stored
hashed), ``writer`` (one thread records every command, in batches), ``problems`` (RFC 9457).
"""
