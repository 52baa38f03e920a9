"""skusync engine: pure domain logic (events, ledger, routing, rate arithmetic) and storage; never imports ray."""
