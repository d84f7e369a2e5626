"""Statistics of LLM traffic (lengths, language, PII rates, refusals, n-gram drift) as streams."""
