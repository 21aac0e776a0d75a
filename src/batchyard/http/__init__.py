"""The HTTP faces: one router per protocol, thin translations onto the engine."""
