"""Persistence: SQLModel tables, the engine, the repository and the blob store."""
