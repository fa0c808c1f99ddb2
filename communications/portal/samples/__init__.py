"""Code samples shown verbatim on the developer portal and executed by communications/tests/portal/."""
