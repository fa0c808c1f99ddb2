"""The test stand: conformance runs of a provider configuration (docs/test-stand.md).

- payloads.py   the run's context and plan; each endpoint's body is its stand step in communications/endpoints.py;
                the attachment step (sendMessage with the stand's sample file) for configurations with attachments
- contract.py   the verdict of one call (the answer checks are the registry's)
The services (start a run — a row of the delivery engine, kind `teststand_run` — execute it, read results)
are in communications/services/teststand.py, with the other services.
"""
