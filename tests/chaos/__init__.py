"""The chaos run of issue 10: faults under load, invariants checked from the event history."""
