"""Online detectors (drift, fairness), their registry and state."""
