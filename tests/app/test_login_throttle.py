"""Repeated wrong passwords wait (issue 18 item 9): per user name and per client address, exponential and capped;
end to end against the launched app's login route."""

from __future__ import annotations

import requests

from lafg.app.login_throttle import LoginThrottle
from tests.app.test_hostile import FromAddress, Launched, services


def test_the_wait_doubles_per_failure_after_the_free_ones_and_a_success_clears_the_user():
    now = [1000.0]
    t = LoginThrottle(free_per_user=3, free_per_address=5, base_s=1.0, cap_s=8.0, clock=lambda: now[0])
    waits = []
    for _ in range(8):
        waits.append(t.wait_s("alice", "1.2.3.4"))
        t.failed("alice", "1.2.3.4")
    assert waits == [0, 0, 0, 1.0, 2.0, 4.0, 8.0, 8.0]  # no time passes: each failure counts, the wait is capped
    assert t.wait_s("bob", "5.6.7.8") == 0  # another user from another address is not held up
    assert t.wait_s("bob", "1.2.3.4") == 8.0  # the address itself passed its (larger) allowance
    now[0] += 8.0
    assert t.wait_s("alice", "9.9.9.9") == 0
    t.succeeded("alice")
    assert t.wait_s("alice", "9.9.9.9") == 0 and len(t._fails) == 1


def test_the_counts_are_bounded():
    t = LoginThrottle(max_keys=10)
    for i in range(100):
        t.failed(f"user{i}", "1.2.3.4")
    assert len(t._fails) == 10


def login(http: requests.Session, url: str, user: str, password: str) -> int:
    return http.post(url + "login", data={"username": user, "password": password}, timeout=30).status_code


def test_wrong_passwords_are_slowed_down_per_user_and_per_address(tmp_path):
    with Launched(services(tmp_path), auth=[("alice", "pw-a"), ("bob", "pw-b")]) as app:
        mallory, other = requests.Session(), requests.Session()
        mallory.trust_env = other.trust_env = False
        other.mount("http://", FromAddress())  # 127.0.0.2
        codes = [login(mallory, app.url, "alice", f"guess{i}") for i in range(60)]
        assert codes[:5] == [400] * 5 and set(codes[5:]) == {429}  # 55 of 60 guesses never reach the check
        assert login(mallory, app.url, "alice", "pw-a") == 429  # even the right one waits its turn
        assert login(other, app.url, "bob", "pw-b") == 200  # other users and addresses are not held up
        assert login(mallory, app.url, "bob", "pw-b") == 200  # the address allows more failures than one user
