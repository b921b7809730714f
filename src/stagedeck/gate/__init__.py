"""The progression gate: may this run's build move on? (GO / NO-GO, criteria as code)."""
