"""The sans-IO core: head, framing, SSE, analyzer, report types and what clients make of them.

May import only the standard library, h11 (itself sans-IO) and this folder: never trio, ssl or socket.
"""
