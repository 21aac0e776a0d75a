"""Key-space leases (seeds/000): N machines each hold one key k of 0…N-1."""
