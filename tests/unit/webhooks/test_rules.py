"""The pure rules of webhooks: reachable networks, URLs, event type patterns, retry delays and the
Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from omnistock_platform.events.catalogue import matches
from omnistock_platform.validation import Validator
from omnistock_webhooks.domain.delivery import retry_delay, signed_headers, succeeded
from omnistock_webhooks.domain.networks import AllowedNetworks
from omnistock_webhooks.domain.subscription import check_event_types, check_url, new_secret

PUBLIC_ONLY = AllowedNetworks.parse(["public"])
LOCAL_DEVELOPMENT = AllowedNetworks.parse(["public", "private", "loopback"])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "192.0.2.1",  # documentation
        "240.0.0.1",  # reserved
    ],
)
def test_nothing_but_the_public_internet_is_reachable_by_default(address: str) -> None:
    assert not PUBLIC_ONLY.allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_reachable(address: str) -> None:
    assert PUBLIC_ONLY.allows(ipaddress.ip_address(address))
    assert not AllowedNetworks.parse(["loopback"]).allows(ipaddress.ip_address(address))


def test_each_keyword_and_cidr_opens_only_its_own_networks() -> None:
    loopback = AllowedNetworks.parse(["loopback"])
    assert loopback.allows(ipaddress.ip_address("127.0.0.1")) and loopback.allows(ipaddress.ip_address("::1"))
    assert not loopback.allows(ipaddress.ip_address("10.0.0.1"))
    assert LOCAL_DEVELOPMENT.allows(ipaddress.ip_address("10.0.0.1"))
    # The cloud metadata address is link-local: no keyword opens it, only an explicit CIDR.
    assert not LOCAL_DEVELOPMENT.allows(ipaddress.ip_address("169.254.169.254"))
    erp = AllowedNetworks.parse(["public", "10.20.0.0/16"])
    assert erp.allows(ipaddress.ip_address("10.20.3.4")) and not erp.allows(ipaddress.ip_address("10.21.0.1"))
    assert not LOCAL_DEVELOPMENT.allows(ipaddress.ip_address("0.0.0.0"))
    with pytest.raises(ValueError, match="intranet"):
        AllowedNetworks.parse(["intranet"])


def url_problem(url: str, networks: AllowedNetworks = PUBLIC_ONLY, https: bool = True) -> str:
    check = Validator()
    check_url(check, "url", url, networks, https)
    return "; ".join(v.description for v in check.violations)


def test_urls() -> None:
    assert url_problem("https://erp.example.com/hooks?token=abc") == ""
    assert url_problem("https://erp.example.com:8443/hooks") == ""
    assert url_problem("https://[2606:4700:4700::1111]/x") == ""
    assert "https://" in url_problem("http://erp.example.com/hooks")
    assert url_problem("http://erp.example.com/hooks", https=False) == ""
    assert "loopback" in url_problem("https://localhost/x")
    assert "loopback" in url_problem("https://api.localhost/x")
    assert url_problem("http://localhost:8000/x", LOCAL_DEVELOPMENT, https=False) == ""
    assert "outside" in url_problem("https://[::1]/x")
    assert "outside" in url_problem("https://10.0.0.8/x")
    assert "neither" in url_problem("https://erp_example.com/x")
    assert "neither" in url_problem("https://-erp.example.com/x")
    assert "neither" in url_problem("https://1.2.3.4.5/x")
    assert "port 0" in url_problem("https://erp.example.com:0/x")


def test_patterns_match_whole_tokens() -> None:
    assert matches(">", "inventory.stock.changed")
    assert matches("inventory.>", "inventory.stock.changed")
    assert matches("*.stock.*", "inventory.stock.changed")
    assert matches("inventory.stock.changed", "inventory.stock.changed")
    assert not matches("inventory.stock", "inventory.stock.changed")
    assert not matches("inventory.stock.changed.>", "inventory.stock.changed")
    assert not matches("inventory.*", "inventory.stock.changed")
    assert not matches("inventory.stock.change", "inventory.stock.changed")


def test_event_types_are_kept_once_in_order() -> None:
    check = Validator()
    kept = check_event_types(check, "t", ["b.x.y", "a.>", "b.x.y"], ["a.b.c", "b.x.y"])
    assert kept == ["b.x.y", "a.>"] and not check.violations


def test_retry_delays_double_up_to_the_ceiling_with_bounded_jitter() -> None:
    base, ceiling = timedelta(seconds=5), timedelta(hours=1)
    rng = random.Random(7)
    for attempt, nominal in [(1, 5), (2, 10), (3, 20), (10, 2560), (11, 3600), (29, 3600), (10_000, 3600)]:
        delay = retry_delay(attempt, base, ceiling, rng).total_seconds()
        assert nominal * 0.8 <= delay <= nominal * 1.2, (attempt, delay)


def test_only_2xx_delivers() -> None:
    assert succeeded(200) and succeeded(204) and succeeded(299)
    assert not any(succeeded(code) for code in (0, 199, 301, 302, 304, 400, 401, 410, 429, 500, 503))


def test_signature_is_the_standard_webhooks_one() -> None:
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    at = datetime.fromtimestamp(1614265330, UTC)
    headers = signed_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", at, b'{"test": 2432232314}', [secret])
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330" and headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_a_receiver_verifies_by_hand_and_refuses_tampering_and_stale_timestamps() -> None:
    secret = new_secret()
    body = b'{"type":"inventory.stock.changed"}'
    now = datetime.now(UTC)
    headers = signed_headers("e1", now, body, [secret])
    # What docs/webhooks.md tells a receiver to do, without any library.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{expected}" in headers["webhook-signature"].split(" ")
    Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"changed", b"chang3d"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    stale = signed_headers("e1", now - timedelta(minutes=6), body, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, stale)


def test_secrets_are_random_and_in_the_standard_form() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
