"""attendance-core: who is missing school in England, how badly, and what should happen next."""
