"""What an independent review of the pages found, each held by a test: forms posted from
another site, tokens and numbers a form cannot read, confirmations a link could forge, a PDF
that named whatever host a request claimed."""

from __future__ import annotations

import io

import pypdf
import pytest

from safepassage.receipts.checkpoint import VerifiedCheckpoint
from safepassage.receipts.keys import PublicKeys
from safepassage.server.writer import cosign_as
from safepassage.web import publication
from tests.web.conftest import OPEN_MOVEMENT, Site, element


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "opaque-origin", "sec-fetch-site"],
)
def test_signing_in_from_another_site_is_refused_and_sets_no_cookie(
    site: Site, headers: dict[str, str]
) -> None:
    # a page elsewhere would sign the victim's browser into the attacker's account
    visitor = site.browser(None)
    answer = visitor.post(
        "/login", data={"token": site.tokens["registrar"]}, headers=headers,
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    assert "another site" in answer.text


def test_signing_in_from_this_site_works(site: Site) -> None:
    visitor = site.browser(None)
    answer = visitor.post(
        "/login",
        data={"token": site.tokens["registrar"]},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/register"


def test_a_staff_form_from_another_site_is_refused_even_with_the_token(site: Site) -> None:
    before = site.written()
    answer = site.browser("party-liaison").post(
        "/liaison/acknowledge",
        data={"csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert site.written() == before


def test_a_csrf_token_that_is_not_ascii_is_refused_not_a_crash(site: Site) -> None:
    before = site.written()
    answer = site.browser("registrar").post(
        "/boarding", data={"csrf": "é", "person": "p-abcdefgh", "movement": OPEN_MOVEMENT}
    )
    assert answer.status_code == 403
    assert "Form expired" in answer.text
    assert site.written() == before


def test_a_headcount_in_superscript_digits_is_an_error_beside_the_field(site: Site) -> None:
    before = site.written()
    answer = site.browser("party-liaison").post("/liaison/headcount", data={
        "csrf": site.csrf("party-liaison"), "movement": OPEN_MOVEMENT, "vehicle": "bus-06",
        "site": "azovstal", "headcount": "²",
    })  # fmt: skip
    assert answer.status_code == 422
    assert element(answer.text, "headcount-error").text == "must be a whole number"
    assert site.written() == before


def test_a_link_cannot_make_the_liaison_page_confirm_what_was_not_recorded(site: Site) -> None:
    liaison = site.browser("party-liaison")
    forged = liaison.get("/liaison?done=objected&movement=convoy-1&entry=0").text
    assert element(forged, "done") is None  # entry 0 opened the operation: nothing to confirm
    # another party's answer is not this party's to be told about as its own
    other = site.browser("other-liaison").post("/liaison/acknowledge", data={
        "csrf": site.csrf("other-liaison"), "movement": OPEN_MOVEMENT,
    }, follow_redirects=False)  # fmt: skip
    assert other.status_code == 303
    assert element(liaison.get(other.headers["location"]).text, "done") is None
    own = site.browser("other-liaison").get(other.headers["location"]).text
    assert "acknowledgement is recorded" in element(own, "done").text


def test_the_pdf_sitrep_names_no_host_a_request_claimed(site: Site) -> None:
    operation = site.service.state().operation
    visitor = site.browser(None)
    first = visitor.get(f"/public/{operation}/sitrep.pdf", headers={"Host": "evil.example"})
    second = visitor.get(f"/public/{operation}/sitrep.pdf", headers={"Host": "other.example"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content  # one rendering for every reader of a checkpoint
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(first.content)).pages)
    assert "evil.example" not in text
    assert f"SERVER/public/{operation}/bundle.zip" in text.replace("\n", "")


def test_a_birth_date_that_is_no_date_is_refused_beside_the_field(site: Site) -> None:
    before = site.written()
    answer = site.browser("registrar").post("/register", data={
        "csrf": site.csrf("registrar"), "household": "H-hardening", "site": "azovstal",
        "destination": "zaporizhzhia", "given_name": "Test", "family_name": "Person",
        "birth_date": "2020-99-99", "age_band": "0-4", "sex": "female",
        "submission_id": "hardening-1",
    })  # fmt: skip
    assert answer.status_code == 422
    assert element(answer.text, "birth_date-error").text == "must be a date written YYYY-MM-DD"
    assert site.written() == before


def test_the_public_page_checks_each_kept_checkpoint_once(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints kept between cosignatures (every new size a report was asked at) are
    verified once, not again for every reader; a new cosignature is published at once."""
    checked: list[int] = []
    verify = publication.verify_checkpoint

    def counting(note: str, keys: PublicKeys) -> VerifiedCheckpoint:
        checked.append(int(note.splitlines()[1]))
        return verify(note, keys)

    monkeypatch.setattr(publication, "verify_checkpoint", counting)
    op = site.service.op
    visitor = site.browser(None)
    page = f"/public/{op.state.operation}"
    published = element(visitor.get(page).text, "as-of").text
    for n in range(12):  # twelve registrations, a checkpoint kept after each, none cosigned
        answer = site.browser("registrar").post("/register", data={
            "csrf": site.csrf("registrar"), "household": "H-kept-0", "site": "azovstal",
            "destination": "zaporizhzhia", "given_name": "Kept", "family_name": f"N{n}",
            "age_band": "18-59", "sex": "male", "submission_id": f"kept-{n}",
        }, follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303, answer.text
        op.log.checkpoint()
    checked.clear()
    for _ in range(3):
        assert element(visitor.get(page).text, "as-of").text == published
    assert sorted(checked) == sorted(set(checked))  # none checked twice
    assert len(checked) >= 12
    site.service.writer.call(cosign_as, "ukraine").result()
    size = op.log.size()
    assert f"first {size} entries" in element(visitor.get(page).text, "as-of").text


def test_a_signed_out_htmx_poll_is_told_to_send_the_page_to_sign_in(site: Site) -> None:
    answer = site.browser(None).get(
        "/dashboard/live",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/dashboard"},
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/login?next=/dashboard"
