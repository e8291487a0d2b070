"""File formats: the capture file (read, write, analyse) and the exports made from it.

May import the standard library, ``chunkscope.core`` and this folder: no trio, no sockets.
"""
