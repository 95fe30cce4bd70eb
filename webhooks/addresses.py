"""Which network addresses a webhook may reach: public ones only, unless the deployment opts in to its own network.

An endpoint URL is written by staff, but the worker is what connects, from inside the deployment's network: left
unchecked it would POST to the database's port, a neighbour's admin page or the cloud's metadata service (SSRF).
The check runs when the endpoint is saved (`url_refusal`) and again on the address each delivery connects to
(`host_resolve`), resolved once and connected to by IP, so a DNS answer that changes in between (rebinding) cannot
slip past. `allow_private` (WEBHOOK_ALLOW_PRIVATE_ADDRESSES) admits loopback, private (RFC 1918, shared 100.64/10)
and unique-local IPv6 addresses; link-local (169.254/16 with the cloud metadata service, fe80::/10), unspecified,
multicast and other reserved addresses are never reachable: no receiver lives there.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The host is, or resolves to, an address webhooks may not reach; the message says which and why."""


def address_refusal(address: IPAddress, *, allow_private: bool) -> str:
    """Why `address` may not be reached ("" when it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_global:
        return ""
    own_network = address.is_loopback or any(address in network for network in _OWN_NETWORKS)
    if own_network and allow_private:
        return ""
    if own_network:
        kind = "a loopback" if address.is_loopback else "a private"
        return f"{kind} address (WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true allows receivers on your own network)"
    return "a reserved address"


def host_resolve(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order; AddressRefused if any of them may not be reached
    (one refused answer refuses the host, whichever one a connection would pick). OSError when it does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            named = str(address) if str(address) == host else f"{host} ({address})"
            raise AddressRefused(f"{named} is {reason}")
    return addresses


def url_refusal(url: str, *, allow_private: bool) -> str:
    """Why an endpoint URL may not be saved ("" when it may). A host that does not resolve now is accepted: the
    delivery checks again, and fails with the reason if it still does not."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""  # the URL validator explains it
    if not host:
        return ""
    try:
        host_resolve(host, port, allow_private=allow_private)
    except AddressRefused as exc:
        return str(exc)
    except (OSError, UnicodeError):
        return ""
    return ""


# What WEBHOOK_ALLOW_PRIVATE_ADDRESSES admits besides loopback: RFC 1918, carrier-grade NAT, IPv6 unique-local.
_OWN_NETWORKS = [ipaddress.ip_network(network) for network in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")]
