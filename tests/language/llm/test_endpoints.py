"""Which endpoints a server may call for a visitor (:mod:`lafg.language.llm.endpoints`), and the backend's own checks."""

import time

import pytest

from lafg.errors import BackendError, InputError
from lafg.language.llm import create_llm
from lafg.language.llm.endpoints import REFUSED, check_public_url, is_public_address
from tests.language.llm.test_openai_backend import _no_proxy, _Server  # noqa: F401 (fixture)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                                     "0.0.0.0", "::1", "::ffff:127.0.0.1", "fe80::1", "fc00::1", "224.0.0.1", "240.0.0.1", "nonsense"])
def test_special_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_are_public(address):
    assert is_public_address(address)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/v1", "http://localhost/v1", "http://127.1/v1", "http://2130706433/v1",
                                 "http://[::1]/v1", "http://0/v1", "http://no-such-host.invalid/v1", "ftp://8.8.8.8/", "http:///v1"])
def test_urls_of_special_or_unknown_hosts_are_refused_with_one_message(url):
    with pytest.raises(InputError) as err:
        check_public_url(url)
    assert str(err.value) == REFUSED


def test_a_public_ip_url_passes_without_a_lookup():
    check_public_url("https://8.8.8.8/v1")


def test_public_only_refuses_the_connection_itself():
    """What name resolution alone cannot give (a name that later resolves to 127.0.0.1): the connected peer
    is checked before a byte is sent."""
    with _Server() as server:
        llm = create_llm("openai", base_url=server.url, model="m", api_key="sk-x", public_only=True, retries=0)
        with pytest.raises(BackendError, match="not reachable"):
            llm.generate("hi", 8)
        create_llm("openai", base_url=server.url, model="m", retries=0).generate("hi", 8)  # the same server, allowed
    assert len(server.requests) == 1 and server.requests[0]["auth"] is None


def test_until_ends_every_call_at_one_moment():
    with _Server() as server:
        llm = create_llm("openai", base_url=server.url, model="m", until=time.monotonic() - 1, retries=0)
        with pytest.raises(BackendError, match="within"):
            llm.generate("hi", 8)
    assert server.requests == []
