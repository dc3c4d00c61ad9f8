"""Contact checks for imports: email syntax, disposable domains, MX records, phone numbers.

- Email syntax: email-validator (``check_deliverability=False``) is the authority. For the common
  shape (dot-atom local part, ASCII or internationalised (RFC 6531) in NFC form, ASCII host name)
  :class:`EmailChecker` calls email-validator's own syntax steps directly, the local part per address and
  the domain once per distinct domain (cached), which gives the same answer as ``validate_email`` (tests
  compare them) about 10x faster; any other shape goes through ``validate_email`` itself. Results are lower-cased like
  ``leadtide.capture.identity.normalize_email``.
- Disposable domains: the ``disposable-email-domains`` package's blocklist (a set of ~10k domains), the
  domain and each parent domain (``a.b.mailinator.com`` -> ``b.mailinator.com`` -> ``mailinator.com``).
- MX: :class:`MxChecker` (RFC 5321 section 5.1: a domain without MX records receives mail at its A/AAAA
  address; RFC 7505: a "null MX" ``.`` refuses all mail).
- Phone: ``leadtide.capture.identity.normalize_phone`` (strict, E.164) with the import's default region.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from leadtide.capture.identity import normalize_email

MxStatus = Literal["valid", "no_mx", "unverified"]

ANSWER_TTL_SECONDS = 24 * 3600
FAILURE_TTL_SECONDS = 5 * 60
CIRCUIT_FAILURES = 3
CIRCUIT_OPEN_SECONDS = 10 * 60
DNS_TIMEOUT_SECONDS = 2.0

# The common address shape: dot-atom local part of RFC 5322 atext (plus non-ASCII characters, RFC 6531,
# which email-validator's local-part step then judges), ASCII LDH host name with a TLD.
_SIMPLE_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010FFFF-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010FFFF-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62})$"
)
_MAX_EMAIL_LENGTH = 254


class InvalidEmailAddress(ValueError):
    """Not a valid email address; the message says why (from email-validator)."""


class EmailChecker:
    """Email syntax with email-validator as the authority, fast for the common shape (module docstring).

    ``check(raw)`` returns the normalised lower-case address or raises :class:`InvalidEmailAddress`.
    """

    def __init__(self) -> None:
        self._domains: dict[str, str | Exception] = {}
        try:
            from email_validator.syntax import validate_email_domain_name, validate_email_local_part

            self._local_part: Callable[..., Any] | None = validate_email_local_part
            self._domain_name: Callable[..., dict[str, str]] | None = validate_email_domain_name  # type: ignore[assignment]
        except ImportError:  # a future email-validator without these steps: use the full path only
            self._local_part = self._domain_name = None

    def check(self, raw: str) -> str:
        """Normalised address (lower-case). Raises InvalidEmailAddress naming the reason."""
        text = raw.strip()
        match = _SIMPLE_EMAIL.match(text) if len(text) <= _MAX_EMAIL_LENGTH else None
        if match is None or self._local_part is None:
            return self._full(text)
        local = text[: match.start(1) - 1]
        if not local.isascii() and (
            # validate_email re-checks a local part after NFC normalisation and limits the UTF-8 length
            len(text.encode()) > _MAX_EMAIL_LENGTH or not unicodedata.is_normalized("NFC", local)
        ):
            return self._full(text)
        from email_validator import EmailNotValidError

        try:
            info = self._local_part(
                local, allow_smtputf8=True, allow_empty_local=False, quoted_local_part=False
            )
        except EmailNotValidError:
            return self._full(text)  # let the full path word the error exactly
        domain = self._domain(match.group(1))
        if isinstance(domain, Exception):
            return self._full(text)
        return (str(info["local_part"]) + "@" + domain).lower()

    def _domain(self, raw_domain: str) -> str | Exception:
        key = raw_domain.lower()
        cached = self._domains.get(key)
        if cached is None:
            from email_validator import EmailNotValidError

            try:
                cached = self._domain_name(raw_domain, test_environment=False, globally_deliverable=True)[  # type: ignore[misc]
                    "domain"
                ]
            except EmailNotValidError as err:
                cached = err
            if len(self._domains) < 100_000:
                self._domains[key] = cached
        return cached

    @staticmethod
    def _full(text: str) -> str:
        from leadtide.models.errors import UnprocessableError

        try:
            return normalize_email(text)
        except UnprocessableError as err:
            reason = err.message.split(": ", 1)[-1] if ": " in err.message else err.message
            raise InvalidEmailAddress(reason) from None


def email_domain(address: str) -> str:
    """The domain of a normalised address (``ana@mail.example.com`` -> ``mail.example.com``)."""
    return address.rsplit("@", 1)[-1]


class DisposableDomains:
    """Disposable (throw-away) email domains: the ``disposable-email-domains`` blocklist, parents included.

    ``blocklist`` may be injected (tests); by default the package's set is loaded on first use.
    """

    def __init__(self, blocklist: frozenset[str] | set[str] | None = None):
        self._blocklist = blocklist
        self._cache: dict[str, str | None] = {}

    def match(self, domain: str) -> str | None:
        """The blocklisted domain ``domain`` is or belongs to, or None."""
        domain = domain.lower().rstrip(".")
        if domain in self._cache:
            return self._cache[domain]
        if self._blocklist is None:
            from disposable_email_domains import blocklist

            self._blocklist = frozenset(blocklist)
        found = None
        parts = domain.split(".")
        for i in range(len(parts) - 1):
            candidate = ".".join(parts[i:])
            if candidate in self._blocklist:
                found = candidate
                break
        if len(self._cache) < 100_000:
            self._cache[domain] = found
        return found


class DnsUnavailableError(Exception):
    """The DNS could not answer (timeout, no nameservers, no resolver configuration)."""


class DnsResolver(Protocol):
    """What :class:`MxChecker` needs from DNS. Both methods raise :class:`DnsUnavailableError` when DNS
    cannot answer; a domain that does not exist (NXDOMAIN) or has no such records is an answer."""

    def mx_hosts(self, domain: str) -> list[str] | None:
        """MX exchange host names (``"."`` for a null MX), ``[]`` when none, None when the domain does
        not exist (NXDOMAIN)."""
        ...

    def has_address(self, domain: str) -> bool:
        """True when the domain has an A or AAAA record."""
        ...


class DnsPythonResolver:
    """:class:`DnsResolver` over dnspython with a short timeout per lookup (``lifetime`` seconds)."""

    def __init__(self, lifetime: float = DNS_TIMEOUT_SECONDS):
        self._lifetime = lifetime
        self._resolver: object | None = None

    def _get(self):  # type: ignore[no-untyped-def]
        import dns.exception
        import dns.resolver

        if self._resolver is None:
            try:
                self._resolver = dns.resolver.Resolver()
            except (dns.exception.DNSException, OSError) as err:  # NoResolverConfiguration, no resolv.conf
                raise DnsUnavailableError(f"no DNS resolver: {type(err).__name__}") from None
        return self._resolver

    def _query(self, domain: str, rdtype: str) -> list[str] | None:
        import dns.exception
        import dns.resolver

        resolver = self._get()
        try:
            answer = resolver.resolve(domain, rdtype, lifetime=self._lifetime)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoAnswer:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as err:
            raise DnsUnavailableError(type(err).__name__) from None
        except (dns.exception.DNSException, OSError) as err:  # any other DNS failure, a socket error
            raise DnsUnavailableError(type(err).__name__) from None
        if rdtype == "MX":
            return [str(r.exchange) for r in answer]
        return [str(r) for r in answer]

    def mx_hosts(self, domain: str) -> list[str] | None:
        return self._query(domain, "MX")

    def has_address(self, domain: str) -> bool:
        return bool(self._query(domain, "A")) or bool(self._query(domain, "AAAA"))


@dataclass
class _Entry:
    status: MxStatus
    expires: float


class MxChecker:
    """Whether an email domain can receive mail, one lookup per distinct domain, cached, never blocking.

    ``check(domain)`` returns:

    - ``valid``: MX records, or none but an A/AAAA address (implicit MX, RFC 5321 5.1);
    - ``no_mx``: the domain does not exist, has a null MX (RFC 7505), or has neither MX nor address:
      mail cannot be delivered (imports reject the row);
    - ``unverified``: DNS could not answer (imports keep the row and flag it).

    Answers are cached ``answer_ttl`` seconds, failures ``failure_ttl``. After ``circuit_failures``
    consecutive failures the checker stops asking for ``circuit_open`` seconds and answers
    ``unverified`` at once, so a file of 100k rows never waits for 100k timeouts.
    ``resolver`` defaults to :class:`DnsPythonResolver`; ``clock`` to ``time.monotonic``.
    """

    def __init__(
        self,
        resolver: DnsResolver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        answer_ttl: float = ANSWER_TTL_SECONDS,
        failure_ttl: float = FAILURE_TTL_SECONDS,
        circuit_failures: int = CIRCUIT_FAILURES,
        circuit_open: float = CIRCUIT_OPEN_SECONDS,
    ):
        self._resolver = resolver
        self._clock = clock
        self._answer_ttl = answer_ttl
        self._failure_ttl = failure_ttl
        self._circuit_failures = circuit_failures
        self._circuit_open = circuit_open
        self._cache: dict[str, _Entry] = {}
        self._failures = 0
        self._open_until = 0.0
        self.lookups = 0
        """Number of domains actually looked up (for tests and metrics)."""

    @property
    def circuit_open(self) -> bool:
        """True while DNS is considered unreachable."""
        return self._clock() < self._open_until

    def check(self, domain: str) -> MxStatus:
        """The deliverability status of ``domain`` (see the class docstring). Never raises for DNS trouble."""
        domain = domain.lower().rstrip(".")
        now = self._clock()
        entry = self._cache.get(domain)
        if entry is not None and entry.expires > now:
            return entry.status
        if now < self._open_until:
            return "unverified"
        if self._resolver is None:
            self._resolver = DnsPythonResolver()
        self.lookups += 1
        try:
            status = self._lookup(domain)
        except (DnsUnavailableError, OSError):  # DNS trouble never blocks the import: the row is flagged
            self._failures += 1
            if self._failures >= self._circuit_failures:
                self._open_until = now + self._circuit_open
            self._cache[domain] = _Entry("unverified", now + self._failure_ttl)
            return "unverified"
        self._failures = 0
        self._cache[domain] = _Entry(status, now + self._answer_ttl)
        return status

    def _lookup(self, domain: str) -> MxStatus:
        assert self._resolver is not None
        hosts = self._resolver.mx_hosts(domain)
        if hosts is None:
            return "no_mx"
        real = [h for h in hosts if h.strip().rstrip(".")]
        if real:
            return "valid"
        if hosts:  # only a null MX "."
            return "no_mx"
        return "valid" if self._resolver.has_address(domain) else "no_mx"
