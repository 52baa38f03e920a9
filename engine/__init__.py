"""skusync engine: pure domain logic and storage (events, ledger, routing, rate arithmetic); no ray."""
