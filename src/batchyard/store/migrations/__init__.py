"""Alembic migrations; each revision runs its dialect's SQL file from ``sql/``."""
