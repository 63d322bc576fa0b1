"""Command families. Importing this package registers every command."""

from importlib import import_module

# One module per family; each registers its commands in REGISTRY when imported.
FAMILIES = (
    "connection",
    "strings",
    "keys",
    "server",
    "client",
    "config",
    "transactions",
    "introspection",
    "persistence",
    "lists",
    "lists_blocking",
    "hashes",
    "sets",
    "zsets",
    "zsets_blocking",
    "bitmaps",
    "hyperloglog",
    "dump",
    "geo",
    "sort",
    "memory",
    "pubsub",
    "replication",
    "cluster",
    "scripting",
    "functions",
    "streams",
    "streams_groups",
    "streams_blocking",
)

for _family in FAMILIES:
    try:
        import_module(f"cairn.commands.{_family}")
    except ModuleNotFoundError as exc:  # a family not written yet
        if exc.name != f"cairn.commands.{_family}":
            raise
