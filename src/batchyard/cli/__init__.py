"""The ``batchyard`` command."""
