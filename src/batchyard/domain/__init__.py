"""The engine's vocabulary: states, transitions, models and errors. No I/O here."""
