"""The registration lifecycle as partners see it: pure, no I/O."""
