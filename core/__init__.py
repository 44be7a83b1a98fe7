"""The veilig engine: verification, encryption, conversations and delivery.

Imports neither Textual nor SQL (a test checks ``sys.modules``). Storage reaches the
core only through the small interfaces in :mod:`core.ports`.
"""
