"""Meta's webhook endpoint and the processing of what it delivers."""
