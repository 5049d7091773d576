"""Account overlap without exposure (issue 16): the keyed hashes and the comparison, pure."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from conflict_resolver.domain.overlap import (
    MAX_REPORTED_ERRORS,
    Comparison,
    Consent,
    OverlapAccount,
    Upload,
    compare,
    derive_partner_key,
    report,
    seconds_until_next_upload,
    upload_errors,
)
from schemas.account_overlap import OVERLAP_HASH_FORMAT, hash_account_list, overlap_hash

KEY = "ovk_" + "1" * 64
OTHER_KEY = "ovk_" + "2" * 64
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_a_hash_is_hmac_sha256_of_the_registrable_domain_under_the_key() -> None:
    expected = hmac.new(KEY.encode(), b"acme.co.uk", hashlib.sha256).hexdigest()
    assert overlap_hash(KEY, "acme.co.uk") == expected
    assert OVERLAP_HASH_FORMAT.fullmatch(expected)


def test_every_spelling_of_one_account_gives_one_hash() -> None:
    spellings = [
        "acme.co.uk",
        "ACME.co.uk",
        "www.acme.co.uk",
        "https://sales.acme.co.uk/contact",
        "dana.lee@acme.co.uk",
    ]
    assert {overlap_hash(KEY, raw) for raw in spellings} == {overlap_hash(KEY, "acme.co.uk")}
    assert hash_account_list(KEY, spellings) == [overlap_hash(KEY, "acme.co.uk")]


def test_addresses_that_identify_no_account_are_left_out() -> None:
    for raw in ("gmail.com", "bob@gmail.com", "acme.sharepoint.com", "localhost", "10.0.0.1"):
        assert overlap_hash(KEY, raw) is None
    assert hash_account_list(KEY, ["gmail.com", "acme.com"]) == [overlap_hash(KEY, "acme.com")]


def test_hashes_under_two_partners_keys_cannot_be_compared() -> None:
    assert overlap_hash(KEY, "acme.com") != overlap_hash(OTHER_KEY, "acme.com")
    first = derive_partner_key(b"secret" * 6, partner_id="p-a", version=1)
    assert first != derive_partner_key(b"secret" * 6, partner_id="p-b", version=1)
    assert first != derive_partner_key(b"secret" * 6, partner_id="p-a", version=2)
    assert first == derive_partner_key(b"secret" * 6, partner_id="p-a", version=1)
    assert first != derive_partner_key(b"other!" * 6, partner_id="p-a", version=1)


def test_the_comparison_counts_both_sides_and_keeps_only_the_overlap() -> None:
    partner = hash_account_list(KEY, ["acme.com", "globex.com", "initech.com"])
    vendor = ["acme.com", "initech.com", "umbrella.com", "hooli.com", "gmail.com"]
    result = compare(key=KEY, partner_hashes=partner, vendor_domains=vendor)
    assert result.partner_accounts == 3
    assert result.vendor_accounts == 4  # gmail.com is no account
    assert result.overlapping == (
        OverlapAccount("acme.com", overlap_hash(KEY, "acme.com") or ""),
        OverlapAccount("initech.com", overlap_hash(KEY, "initech.com") or ""),
    )


def test_hashes_under_another_key_overlap_nothing() -> None:
    partner = hash_account_list(OTHER_KEY, ["acme.com", "initech.com"])
    result = compare(key=KEY, partner_hashes=partner, vendor_domains=["acme.com", "initech.com"])
    assert result.overlapping == ()


def test_an_upload_must_be_well_formed_unique_and_within_the_limit() -> None:
    good = hash_account_list(KEY, ["acme.com", "globex.com"])
    assert upload_errors(good, limit=2) == []
    too_many = upload_errors(good, limit=1)
    assert [(e.field, "at most 1" in e.message) for e in too_many] == [("hashes", True)]
    bad = upload_errors(
        [good[0], "ACME.COM", good[0].upper(), good[0][:-1], good[1], good[0]], limit=10
    )
    assert [error.field for error in bad] == ["hashes.1", "hashes.2", "hashes.3", "hashes.5"]
    assert bad[-1].message == "repeats hashes.0"
    assert "acme" not in " ".join(error.message for error in bad).lower()


def test_a_very_bad_list_gets_an_answer_of_readable_size() -> None:
    assert len(upload_errors(["x"] * 500, limit=1000)) == MAX_REPORTED_ERRORS


def _comparison() -> Comparison:
    return compare(
        key=KEY,
        partner_hashes=hash_account_list(KEY, ["acme.com", "globex.com"]),
        vendor_domains=["acme.com", "umbrella.com"],
    )


def test_counts_are_shown_at_once_and_the_accounts_only_after_both_opt_ins() -> None:
    upload = Upload(key_version=1, uploaded_at=NOW, accounts=2)
    for consent in (Consent(), Consent(partner_opted_in_at=NOW), Consent(vendor_opted_in_at=NOW)):
        shown = report(
            partner_id="p", key_version=1, upload=upload, consent=consent, comparison=_comparison()
        )
        assert (shown.partner_accounts, shown.vendor_accounts, shown.overlapping) == (2, 2, 1)
        assert shown.accounts is None
    both = Consent(partner_opted_in_at=NOW, vendor_opted_in_at=NOW)
    shown = report(
        partner_id="p", key_version=1, upload=upload, consent=both, comparison=_comparison()
    )
    assert [account.domain for account in shown.accounts or ()] == ["acme.com"]


def test_a_list_under_a_rotated_key_counts_nothing_until_uploaded_again() -> None:
    upload = Upload(key_version=1, uploaded_at=NOW, accounts=2)
    both = Consent(partner_opted_in_at=NOW, vendor_opted_in_at=NOW)
    shown = report(
        partner_id="p", key_version=2, upload=upload, consent=both, comparison=_comparison()
    )
    assert shown.stale
    assert (shown.partner_accounts, shown.overlapping, shown.accounts) == (None, None, None)


def test_lists_are_spaced_so_counts_cannot_test_domains_one_by_one() -> None:
    hour = timedelta(hours=1)
    assert seconds_until_next_upload(None, now=NOW, min_interval=hour) == 0
    assert seconds_until_next_upload(NOW, now=NOW, min_interval=hour) == 3600
    later = NOW + timedelta(minutes=59, seconds=59, milliseconds=500)
    assert seconds_until_next_upload(NOW, now=later, min_interval=hour) == 1
    assert seconds_until_next_upload(NOW, now=NOW + hour, min_interval=hour) == 0
    assert seconds_until_next_upload(NOW, now=NOW, min_interval=timedelta(0)) == 0
