"""Subcommands of ``confide``: each module has ``register(commands)`` adding its parser.

Modules import their heavy dependencies inside the handlers so `confide --help` stays fast.
"""
