"""Which addresses a delivery may reach: the guard against server-side request forgery.

A subscription's URL is chosen by whoever may create subscriptions, and the service sends requests
to it from inside the retailer's network. Left unguarded, a URL naming 169.254.169.254 (a cloud's
metadata service), 127.0.0.1:5432 or an intranet host would make the service a proxy into places
its callers cannot reach. Only the networks an operator allows are reachable (by default the public
internet), and the check is made on the address actually connected to, after DNS resolution.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
KEYWORDS = ("public", "private", "loopback")


@dataclass(frozen=True)
class AllowedNetworks:
    public: bool = True
    private: bool = False
    loopback: bool = False
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowedNetworks:
        """From OMNISTOCK_WEBHOOK_ALLOWED_NETWORKS: keywords and CIDRs; ValueError names a bad entry."""
        words: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            value = entry.strip().lower()
            if value in KEYWORDS:
                words.add(value)
                continue
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError as error:
                raise ValueError(
                    f"webhook_allowed_networks: {entry!r} is neither {', '.join(KEYWORDS)} nor a CIDR"
                ) from error
        return cls("public" in words, "private" in words, "loopback" in words, tuple(networks))

    def allows(self, address: Address) -> bool:
        for candidate in _embedded(address):
            if candidate.is_multicast or candidate.is_unspecified:
                return False
            if not self._allows_one(candidate):
                return False
        return True

    def _allows_one(self, address: Address) -> bool:
        if any(address in network for network in self.networks if network.version == address.version):
            return True
        if address.is_loopback:
            return self.loopback
        if any(address in network for network in PRIVATE_NETWORKS if network.version == address.version):
            return self.private
        return self.public and address.is_global

    def describe(self) -> str:
        parts = [word for word in KEYWORDS if getattr(self, word)] + [str(network) for network in self.networks]
        return ", ".join(parts) or "nothing"


def _embedded(address: Address) -> list[Address]:
    """The address and every IPv4 address an IPv6 one carries (mapped, 6to4, NAT64): each must pass,
    so that ::ffff:127.0.0.1 is as loopback as 127.0.0.1."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def literal_address(host: str) -> Address | None:
    """The address when `host` is an IP literal (brackets already removed), else None."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
