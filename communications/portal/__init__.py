"""Developer portal (`/developers/`): Russian docs pages and the split OpenAPI schemas.

Pages are Django templates in `templates/developers/`; code samples shown on them live in
`communications/portal/samples/` and are executed by `communications/tests/portal/`.
"""
