"""Model performance without labels (CBPE) and with them, per model version."""
