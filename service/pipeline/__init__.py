"""The consume → validate → redact → retain → detect → produce → commit pipeline."""
