"""One outbound HTTP request through a `requests.Session`'s transport adapter (issue 19).

`Session.request` merges the session's settings into every request (headers, params, auth, hooks, the cookie
jar) and stores the answer's cookies: about half of requests' CPU per call, spent on settings these sessions
never change. `adapter_send` prepares the request from what the caller gives, on top of requests' default headers
(so the wire is the same), and hands it to the session's adapter, which keeps the connection pool. No cookie is
stored or sent back, and no redirect is followed: the callers share kept-alive sessions between tenants, and none
of them follows redirects.
"""

import requests

DEFAULT_HEADERS = dict(requests.utils.default_headers())  # what a requests.Session sends unless told otherwise


def adapter_send(session: requests.Session, method: str, url: str, *, headers: dict | None = None, data=None,
                 params=None, files=None, timeout=None, proxies: dict | None = None, verify=True,
                 stream: bool = False) -> requests.Response:
    """Prepare the request and send it through `session`'s adapter for `url`. Raises what requests raises."""
    request = requests.PreparedRequest()
    request.prepare(method=method.upper(), url=url, headers={**DEFAULT_HEADERS, **(headers or {})}, data=data,
                    params=params, files=files)
    return session.get_adapter(url).send(request, stream=stream, timeout=timeout, verify=verify,
                                         proxies=proxies or {})
