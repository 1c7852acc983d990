"""What a scanner typed, read as a GTIN in every length it may come in."""

from __future__ import annotations

from omnistock_console.catalogue import gtin_forms, looks_like_gtin
from omnistock_console.pages_desk import pickup_code


def test_one_gtin_is_searched_in_each_length_it_may_be_stored_in() -> None:
    assert gtin_forms("2001000000012") == ["2001000000012", "02001000000012"]
    # A UPC-A is the EAN-13 with a leading zero dropped, and a GTIN-14 with two.
    assert set(gtin_forms("036000291452")) == {"036000291452", "0036000291452", "00036000291452"}
    assert set(gtin_forms("00036000291452")) == {"00036000291452", "036000291452", "0036000291452"}
    assert gtin_forms("96385074") == ["96385074", "000096385074", "0000096385074", "00000096385074"]


def test_only_digits_of_a_gtin_length_look_like_one() -> None:
    assert all(looks_like_gtin(code) for code in ("96385074", "036000291452", "2001000000012", "02001000000012"))
    assert not any(looks_like_gtin(code) for code in ("", "12345", "SOFA-VELVET-GREEN", "2001000000012x", "123456789"))


def test_pickup_codes_read_back_as_stored() -> None:
    assert pickup_code(" abc-d2f ") == "ABCD2F"
    assert pickup_code("ab c_d.2\tf") == "ABCD2F"
