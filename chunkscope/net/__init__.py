"""The trio layer: TLS over memory BIOs, the capture client, the recorder, replay servers and faults.

It moves and timestamps bytes and leaves their meaning to ``chunkscope.core``; may import
``chunkscope.core``, ``chunkscope.formats`` and this folder, never ``chunkscope.cli``.
"""
