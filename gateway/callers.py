"""Who may post aggregator callbacks: an optional allow-list of client networks.

The address checked is `request.remote_addr`. Behind a load balancer that is the balancer's own
address unless `create_app` wrapped the app in werkzeug's `ProxyFix` with `TRUSTED_PROXY_COUNT`
proxies: then it is the address the outermost trusted proxy saw, and an `X-Forwarded-For` the
client wrote itself is ignored. Without a trusted-proxy count no forwarded header is believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The networks of `cidrs` (`196.201.214.0/24`, `2001:db8::/32`, or one address); ValueError
    naming the first that is not one."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"AT_ALLOWED_NETWORKS: {cidr!r} is not a network (e.g. 196.201.214.0/24)"
            ) from None
    return tuple(networks)


class CallerNetworks:
    """The client networks an aggregator calls from; with none configured, every address is allowed."""

    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        self.networks = parse_networks(cidrs)

    def allows(self, address: str | None) -> bool:
        """Whether a callback from `address` may be acted on (an unreadable address never may,
        once networks are configured)."""
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)
