"""``guardian publish-demo``: a synthetic serving system for the demo and the load tests."""
