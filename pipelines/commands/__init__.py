"""The ``skyhawk`` command layer: every subcommand is defined here, one module per command family.

Each module has ``register(sub)``, which adds its parsers (option groups from ``options``) and sets one
handler function per action as ``func``; the handlers parse nothing themselves and call library code below
(``skyhawk``, ``skyhawk_model``, ``components``, ``pipelines``). See docs/commands.md to add a command.
"""
