"""The protocol faces: each a package ``faces/<name>/`` over the engine, listed in :mod:`.registry`.

A face package holds its model (records and rules), its service (use-cases over the
:class:`~batchyard.service.engine.Engine` only), its HTTP routes (``http.py``), its CLI commands
(``cli.py``) and its client operations (``client.py``). Nothing outside a face imports it by
name except the registry; the app factory, the CLI entry point and the client iterate
:data:`~batchyard.faces.registry.FACES`.
"""
