"""The command line: one module per command, the text renderer and process tuning.

May import every layer below it (``core``, ``formats``, ``net``); nothing below imports it.
"""
