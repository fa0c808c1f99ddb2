"""config/http.adapter_send, which provider calls and Telegram sends go through, against a real local server."""

import requests

from config.http import adapter_send
from config.testing.fake_provider import Reaction


def test_a_redirect_is_returned_not_followed_and_a_cookie_is_never_sent_back(fake_provider):
    session = requests.Session()
    # given: the server redirects the first request and sets a cookie on the second
    fake_provider.redirect_next(f"{fake_provider.url}/elsewhere")
    fake_provider.script(Reaction(headers={"Set-Cookie": "session=a; Path=/"}))
    # when
    first = adapter_send(session, "post", f"{fake_provider.url}/sendMessage", data=b"{}", timeout=5)
    second = adapter_send(session, "post", f"{fake_provider.url}/sendMessage", data=b"{}", timeout=5)
    third = adapter_send(session, "get", f"{fake_provider.url}/getMe", params={"a": "1"}, timeout=5)
    # then: the redirect came back as it was, nothing followed it
    assert first.status_code == 302 and first.headers["Location"].endswith("/elsewhere")
    assert [r.path for r in fake_provider.requests] == ["/sendMessage", "/sendMessage", "/getMe?a=1"]
    # and the cookie of the second answer did not ride along with the third request
    assert second.headers["Set-Cookie"].startswith("session=a") and "cookie" not in fake_provider.requests[2].headers
    assert third.status_code == 200 and not session.cookies
    # and requests' default headers went out, as a Session would send them
    assert fake_provider.requests[0].headers["user-agent"].startswith("python-requests/")
