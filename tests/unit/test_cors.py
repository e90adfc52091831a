"""``service.cors``: origins checked as a browser serializes them, and the headers each answer
carries (the Fetch standard's CORS protocol, https://fetch.spec.whatwg.org/#http-cors-protocol).
"""

import pytest

from service import cors

SETTING = "IMAGEGEN_ALLOWED_ORIGINS"
APP = "https://app.example.com"
OTHER = "https://other.example.com"


@pytest.mark.parametrize(
    "origin",
    [
        APP,
        "https://app.example.com:8443",
        "https://xn--bcher-kva.example",  # an IDN host, as browsers send it (punycode)
        "https://203.0.113.9",
        "https://a.com:65535",
        "http://localhost",
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "https://[::1]",
    ],
)
def test_origins_as_browsers_send_them_are_accepted(origin):
    assert cors.parse_origins([origin], SETTING) == (origin,)


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("*", "would let every website call the API"),
        ("https://app.example.com/", "without a path or a trailing slash"),
        ("https://app.example.com/app", "without a path or a trailing slash"),
        ("https://app.example.com?x=1", "is not an origin"),
        ("https://APP.example.com", "in lower case"),
        ("HTTPS://app.example.com", "in lower case"),
        ("app.example.com", "scheme://host[:port]"),
        ("ftp://app.example.com", "is not an origin"),
        ("https://*.example.com", "is not an origin"),
        ("https://user@app.example.com", "is not an origin"),
        ("https://app_1.example.com", "is not an origin"),
        ("https://app..example.com", "is not an origin"),
        ("https://app.example.com:0", "is not an origin"),
        ("https://app.example.com:08", "is not an origin"),
        ("null", "is not an origin"),  # what an opaque origin (a sandboxed frame) sends
        ("http://app.example.com", "must use https (http only for localhost)"),
        ("http://127.0.0.2", "must use https"),
        ("http://[::2]", "must use https"),
        ("https://app.example.com:443", "a port browsers never send"),
        ("http://localhost:80", "a port browsers never send"),
        ("https://app.example.com:65536", "over 65535"),
        ("https://[:::]", "not an IPv6 origin as a browser sends it"),
        ("http://[0:0:0:0:0:0:0:1]", "not an IPv6 origin as a browser sends it"),
    ],
)
def test_what_is_not_a_browser_origin_is_refused_naming_the_setting(origin, problem):
    with pytest.raises(ValueError) as refused:
        cors.parse_origins([APP, origin], SETTING)
    message = str(refused.value)
    assert message.startswith(f"{SETTING}: ")
    assert problem in message
    if origin != "*":
        assert repr(origin) in message


def test_the_setting_named_is_the_callers():
    with pytest.raises(ValueError, match=r"^imagegen:allowedOrigins: 'http://app\.example\.com'"):
        cors.parse_origins(["http://app.example.com"], "imagegen:allowedOrigins")


def test_blanks_are_skipped_items_trimmed_and_duplicates_dropped_in_order():
    items = ["", "  ", f" {OTHER} ", APP, OTHER, "\t"]
    assert cors.parse_origins(items, SETTING) == (OTHER, APP)


def test_an_empty_setting_lists_no_origin():
    assert cors.parse_origins([""], SETTING) == ()
    assert cors.parse_origins([], SETTING) == ()


def test_a_listed_origin_is_granted_with_the_headers_it_may_read():
    assert cors.response_headers(APP, (OTHER, APP)) == {
        "Vary": "Origin",
        "Access-Control-Allow-Origin": APP,
        "Access-Control-Expose-Headers": "Location, Preference-Applied, Retry-After, X-Request-Id",
    }


@pytest.mark.parametrize(
    "origin", [OTHER, None, "null", "https://app.example.com/", "https://APP.example.com"]
)
def test_any_other_origin_gets_only_vary(origin):
    assert cors.response_headers(origin, (APP,)) == {"Vary": "Origin"}


@pytest.mark.parametrize("origin", [APP, None])
def test_without_allowed_origins_nothing_is_added(origin):
    assert cors.response_headers(origin, ()) == {}


def test_a_preflight_grants_the_routes_methods_and_the_headers_asked_for():
    asked = "Content-Type, x-api-key,X-Stainless-Lang, prefer"
    assert cors.preflight_headers(("GET", "POST"), asked) == {
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "content-type, x-api-key, x-stainless-lang, prefer",
        "Access-Control-Max-Age": "7200",
    }
    assert cors.preflight_headers(["GET"], None)["Access-Control-Allow-Methods"] == "GET"


@pytest.mark.parametrize("asked", [None, "", " , ", "x-api-key, bad header", "x:y"])
def test_no_header_is_granted_when_none_or_no_header_name_is_asked_for(asked):
    assert "Access-Control-Allow-Headers" not in cors.preflight_headers(["GET"], asked)


def test_the_preflight_cache_stays_within_what_browsers_honour():
    assert cors.MAX_AGE_SECONDS <= 7200  # Chromium's cap; Firefox caps at 86400


def test_the_bucket_lets_listed_origins_read_and_upload():
    assert cors.bucket_rules((APP, OTHER)) == [
        {
            "AllowedMethods": ["GET", "HEAD", "POST"],
            "AllowedOrigins": [APP, OTHER],
            "ExposeHeaders": ["ETag", "Location"],
            "MaxAgeSeconds": 7200,
        }
    ]


def test_the_bucket_rules_allow_no_header_and_no_write_but_post():
    (rule,) = cors.bucket_rules((APP,))
    assert "AllowedHeaders" not in rule
    assert not {"PUT", "DELETE"} & set(rule["AllowedMethods"])


def test_without_origins_the_bucket_has_no_rule():
    assert cors.bucket_rules(()) == []
