"""Import contact checks: email syntax (fast path = email-validator), disposable domains, MX states."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.imports.validation import (
    DisposableDomains,
    DnsPythonResolver,
    DnsUnavailableError,
    EmailChecker,
    InvalidEmailAddress,
    MxChecker,
)


class FakeResolver:
    """Answers from a table: domain -> MX hosts (None = NXDOMAIN), addresses; 'down' raises."""

    def __init__(self, mx=None, addresses=(), down=False):
        self.mx = mx or {}
        self.addresses = set(addresses)
        self.down = down
        self.calls: list[tuple[str, str]] = []

    def mx_hosts(self, domain):
        self.calls.append(("MX", domain))
        if self.down:
            raise DnsUnavailableError("timeout")
        return self.mx.get(domain)

    def has_address(self, domain):
        self.calls.append(("A", domain))
        if self.down:
            raise DnsUnavailableError("timeout")
        return domain in self.addresses


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _reference(raw: str) -> str | None:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@pytest.mark.parametrize(
    "raw",
    [
        "Ana.Souza@Example.COM",
        " bob+tag@sub.example.co.uk ",
        "x@localhost",
        "a..b@example.com",
        ".a@example.com",
        "bob@",
        "@example.com",
        "bob@example",
        "bob@example.test",
        "bob@-bad.com",
        "a" * 65 + "@example.com",
        "ana@" + "a" * 64 + ".com",
        "ñandú@example.com",
        '"quoted"@example.com',
        "Ana <ana@example.com>",
        "ana@[127.0.0.1]",
        "ana@xn--bcher-kva.example",
        "ana@bücher.example",
        "ana@example.invalid",
        "ana@123.com",
    ],
)
def test_email_checker_agrees_with_email_validator(raw):
    checker = EmailChecker()
    expected = _reference(raw)
    if expected is None:
        with pytest.raises(InvalidEmailAddress):
            checker.check(raw)
    else:
        assert checker.check(raw) == expected


@settings(max_examples=150, deadline=None)
@given(
    local=st.from_regex(r"[A-Za-z0-9._%+'-]{1,70}", fullmatch=True),
    domain=st.from_regex(r"[A-Za-z0-9-]{1,20}(\.[A-Za-z0-9-]{1,12}){0,3}", fullmatch=True),
)
def test_email_checker_fast_path_matches_email_validator(local, domain):
    raw = f"{local}@{domain}"
    expected = _reference(raw)
    checker = EmailChecker()
    if expected is None:
        with pytest.raises(InvalidEmailAddress):
            checker.check(raw)
    else:
        assert checker.check(raw) == expected
        assert checker.check(raw) == expected  # the second answer comes from the domain cache


def test_invalid_email_message_says_why():
    with pytest.raises(InvalidEmailAddress, match="after the @-sign"):
        EmailChecker().check("bob@")


def test_disposable_domains_and_their_subdomains():
    domains = DisposableDomains()  # the package's real blocklist
    assert domains.match("mailinator.com") == "mailinator.com"
    assert domains.match("inbox.mailinator.com") == "mailinator.com"
    assert domains.match("MAILINATOR.COM") == "mailinator.com"
    assert domains.match("gmail.com") is None
    assert domains.match("example.com") is None


def test_disposable_domains_injected_blocklist():
    domains = DisposableDomains(frozenset({"temp.example"}))
    assert domains.match("a.b.temp.example") == "temp.example"
    assert domains.match("example") is None


def test_mx_states():
    resolver = FakeResolver(
        mx={"acme.io": ["mx1.acme.io."], "bare.io": [], "nullmx.io": ["."], "nohost.io": []},
        addresses={"bare.io"},
    )
    checker = MxChecker(resolver)
    assert checker.check("acme.io") == "valid"
    assert checker.check("bare.io") == "valid"  # no MX, but an address: implicit MX
    assert checker.check("nohost.io") == "no_mx"  # neither
    assert checker.check("nullmx.io") == "no_mx"  # RFC 7505 null MX
    assert checker.check("missing.io") == "no_mx"  # NXDOMAIN
    assert ("A", "missing.io") not in resolver.calls


def test_mx_answers_are_cached_per_domain_with_a_ttl():
    clock = Clock()
    resolver = FakeResolver(mx={"acme.io": ["mx.acme.io"]})
    checker = MxChecker(resolver, clock=clock, answer_ttl=100)
    for _ in range(1000):
        assert checker.check("ACME.io") == "valid"
    assert checker.lookups == 1
    clock.now += 101
    checker.check("acme.io")
    assert checker.lookups == 2


def test_dns_failures_are_unverified_and_trip_the_circuit_breaker():
    clock = Clock()
    resolver = FakeResolver(down=True)
    checker = MxChecker(resolver, clock=clock, failure_ttl=300, circuit_failures=3, circuit_open=600)
    # Given DNS that times out: the first three distinct domains are tried and come back unverified
    assert [checker.check(f"d{i}.com") for i in range(3)] == ["unverified"] * 3
    assert checker.circuit_open and checker.lookups == 3
    # When many more domains come, none is looked up while the circuit is open
    assert all(checker.check(f"other{i}.com") == "unverified" for i in range(10_000))
    assert checker.lookups == 3
    # Then after the open period DNS is tried again, and an answer closes the circuit
    clock.now += 601
    resolver.down = False
    resolver.mx["back.com"] = ["mx.back.com"]
    assert checker.check("back.com") == "valid" and not checker.circuit_open


def test_failure_cache_is_shorter_than_the_answer_cache():
    clock = Clock()
    resolver = FakeResolver(down=True)
    checker = MxChecker(resolver, clock=clock, failure_ttl=300, circuit_failures=99)
    checker.check("flaky.com")
    resolver.down = False
    resolver.mx["flaky.com"] = ["mx.flaky.com"]
    assert checker.check("flaky.com") == "unverified"  # cached failure
    clock.now += 301
    assert checker.check("flaky.com") == "valid"


class BrokenResolver:
    """A resolver whose lookups raise ``error``."""

    def __init__(self, error: Exception):
        self.error = error

    def mx_hosts(self, domain):
        raise self.error

    def has_address(self, domain):
        raise self.error


def test_dns_trouble_is_unverified_but_a_resolver_defect_is_not_hidden():
    # A socket error on the way to DNS: the row is only flagged
    assert MxChecker(BrokenResolver(OSError("network unreachable"))).check("example.com") == "unverified"
    # A defect in a resolver is not taken for DNS trouble
    with pytest.raises(TypeError):
        MxChecker(BrokenResolver(TypeError("bad call"))).check("example.com")


def test_the_dnspython_resolver_reports_socket_errors_as_dns_unavailable(monkeypatch):
    import dns.resolver

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    resolver = DnsPythonResolver(lifetime=0.5)
    monkeypatch.setattr(dns.resolver.Resolver, "resolve", refuse)
    with pytest.raises(DnsUnavailableError, match="OSError"):
        resolver.mx_hosts("example.com")


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_default_resolver_without_network_is_unverified_not_an_error():
    # Sockets are off in unit tests: the dnspython resolver fails and the checker answers unverified
    checker = MxChecker(DnsPythonResolver(lifetime=0.5), circuit_failures=1)
    assert checker.check("example.com") == "unverified"
    assert checker.check("example.org") == "unverified"
    assert checker.lookups == 1


@pytest.mark.parametrize(
    "raw",
    [
        "josé.garcía12@gmail.com",
        "ZOË.MÜLLER@Example.com",
        "chloé@acme.io",
        "maría..x@example.com",  # consecutive dots
        "ñ.@example.com",  # trailing dot
        "jose\u0301@example.com",  # not NFC: validate_email normalises, then re-checks
        "用户@example.com",
        "пример@example.com",
        "a\u200bb@example.com",  # zero-width space: refused by email-validator
        "é" * 64 + "@example.com",  # 64 characters, 128 bytes
        "é" * 120 + "@example.com",  # over 254 UTF-8 bytes
        "a\u00a0b@example.com",  # no-break space
    ],
)
def test_email_checker_fast_path_for_internationalised_local_parts(raw):
    # Given internationalised local parts (RFC 6531), which the fast path now takes
    checker = EmailChecker()
    expected = _reference(raw)
    # Then it answers exactly as validate_email does, address or refusal
    if expected is None:
        with pytest.raises(InvalidEmailAddress):
            checker.check(raw)
    else:
        assert checker.check(raw) == expected


@settings(max_examples=200, deadline=None)
@given(
    local=st.text(
        alphabet=st.characters(
            min_codepoint=0x21, max_codepoint=0x2FFF, blacklist_characters='"<>@\\()[],;:'
        ),
        min_size=1,
        max_size=30,
    ),
    domain=st.sampled_from(["example.com", "Acme.IO", "mail.example.co.uk"]),
)
def test_email_checker_matches_email_validator_on_any_local_part(local, domain):
    raw = f"{local}@{domain}"
    expected = _reference(raw)
    checker = EmailChecker()
    if expected is None:
        with pytest.raises(InvalidEmailAddress):
            checker.check(raw)
    else:
        assert checker.check(raw) == expected
