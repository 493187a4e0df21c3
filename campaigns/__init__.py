"""Campaigns, personalisation data sources, the outbound message ledger and dispatch."""
