"""The test stand: conformance runs of a provider configuration (docs/test-stand.md).

- payloads.py   the documented request bodies, in the order the stand calls the endpoints
- contract.py   what a conformant answer looks like, and the verdict of one call
- services.py   start a run (a row of the delivery engine, kind `teststand_run`), execute it, read results
"""
