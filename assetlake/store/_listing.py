"""ListObjectsV2 pages read by a lean XML parse instead of botocore's generic one.

botocore parses a page of 1,000 names through its shape model (every element typed, every
timestamp through dateutil) in about 11 ms of CPU: a million-asset lake is 1,000 pages, so the
parse, not the 30 ms of latency, bounded the parallel listing. The request still goes through
botocore (signing, credentials, endpoint, retries, URL decoding of keys); only the body of a
successful ListObjectsV2 reply is read here, by regular expressions, into the same keys botocore's
parser gives the fields assetlake reads. Anything else, an error reply or a body this parse does
not understand, goes to botocore's parser as before.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from botocore.parsers import ResponseParserFactory, RestXMLParser

#: Top-level elements of a reply that are whole numbers, and the one that is a boolean.
_NUMBERS = ("MaxKeys", "KeyCount")
_TRUTH = "IsTruncated"


def lean_session() -> Any:
    """A botocore session (the standard AWS settings) whose S3 clients parse listing pages here,
    with the endpoint data of only the services a lake uses (:func:`_endpoints`).

    botocore also parses every 200 reply once more, only to see whether it is an error or cut
    short (then it retries); for a listing, :func:`complete` answers that from its last bytes."""
    import botocore.session
    from botocore import handlers

    session = botocore.session.get_session()
    session.register_component("response_parser_factory", LeanParserFactory())
    session.unregister("before-parse.s3.*", handlers._handle_200_error)

    def check_200(operation_model: Any, response_dict: Any, **kwargs: Any) -> None:
        if operation_model.name != "ListObjectsV2" or not response_dict:
            handlers._handle_200_error(operation_model, response_dict, **kwargs)
        elif response_dict["status_code"] == 200 and not complete(response_dict["body"]):
            response_dict["status_code"] = 500  # retried, as botocore's own check does

    session.get_component("event_emitter").register_first("before-parse.s3.*", check_200)
    session._internal_components.lazy_register_component(
        "endpoint_resolver", lambda: _endpoints(session)
    )
    return session


#: The services whose endpoint data a lake's session keeps: S3, and those that issue credentials.
_SERVICES = frozenset({"s3", "sts", "sso", "portal.sso", "sso-oidc", "oidc"})


def _endpoints(session: Any) -> Any:
    """botocore's endpoint resolver over its endpoint data for :data:`_SERVICES` only: the data
    of every AWS service holds 7 MB for the life of the process (4 MB of a 1 GiB upload's peak
    stays once trimmed here); any other service resolves by its partition's defaults."""
    from botocore.regions import EndpointResolver

    loader = session.get_component("data_loader")
    data, path = loader.load_data_with_path("endpoints")
    for partition in data.get("partitions", ()):
        services = partition.get("services", {})
        partition["services"] = {name: services[name] for name in _SERVICES & services.keys()}
    return EndpointResolver(data, uses_builtin_data=loader.is_builtin_path(path))


class LeanParserFactory(ResponseParserFactory):
    """botocore's parser factory, handing out :class:`LeanListParser` for S3's protocol."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "rest-xml":
            return LeanListParser(**self._defaults)
        return super().create_parser(protocol_name)


class LeanListParser(RestXMLParser):
    """S3's parser with a fast path for the body of a successful ListObjectsV2 reply."""

    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        if shape is not None and shape.name == "ListObjectsV2Output":
            try:
                parsed = parse_listing(response["body"])
            except (ValueError, KeyError):
                pass  # botocore's parser raises its own error for what it cannot read either
            else:
                parsed["ResponseMetadata"] = self._populate_response_metadata(response)
                return parsed
        return super()._do_parse(response, shape)


def parse_listing(body: bytes) -> dict[str, Any]:
    """A ListObjectsV2 result as botocore shapes it: ``Contents`` (Key, Size, ETag, LastModified,
    StorageClass), ``CommonPrefixes`` (Prefix), ``IsTruncated``, the continuation tokens and
    the echoed request fields. Keys stay as sent (URL-encoded if asked); botocore decodes them.

    S3 writes this document in one fixed shape, so regular expressions read it (five times
    faster than building an element tree); a body in any other shape (CDATA, comments, a
    different root) raises ValueError, and botocore's parser reads it instead."""
    text = body.decode("utf-8")
    if not complete(body) or "<![CDATA[" in text or "<!--" in text:
        raise ValueError("not a listing this parse reads")
    if "/>" in text:  # an empty element written short, as <Prefix/>
        text = _EMPTY.sub(r"<\1></\1>", text)
    parsed: dict[str, Any] = {}
    contents = [_object(block) for block in _CONTENTS.findall(text)]
    prefixes = [{"Prefix": _unescape(prefix)} for prefix in _PREFIXES.findall(text)]
    rest = _PREFIXES.sub("", _CONTENTS.sub("", text))
    for tag, value in _FIELD.findall(rest):
        if tag == _TRUTH:
            parsed[tag] = value == "true"
        elif tag in _NUMBERS:
            parsed[tag] = int(value)
        else:
            parsed[tag] = _unescape(value)
    if "<Contents>" in rest or "<CommonPrefixes>" in rest:
        raise ValueError("a listing entry in an unexpected shape")
    if contents:
        parsed["Contents"] = contents
    if prefixes:
        parsed["CommonPrefixes"] = prefixes
    parsed.setdefault(_TRUTH, False)
    return parsed


def complete(body: bytes) -> bool:
    """Whether ``body`` is a whole ListObjectsV2 result (a dropped connection cuts it short)."""
    return b"<ListBucketResult" in body[:200] and body.rstrip().endswith(b"</ListBucketResult>")


_EMPTY = re.compile(r"<(\w+)/>")
_CONTENTS = re.compile(r"<Contents>(.*?)</Contents>", re.S)
_PREFIXES = re.compile(r"<CommonPrefixes>\s*<Prefix>([^<]*)</Prefix>\s*</CommonPrefixes>")
#: An element holding only text (nested ones such as ``Owner`` yield their leaves, unused).
_FIELD = re.compile(r"<(\w+)>([^<]*)</\1>")


def _object(block: str) -> dict[str, Any]:
    fields = dict(_FIELD.findall(block))
    entry: dict[str, Any] = {"Key": _unescape(fields["Key"]), "Size": int(fields.get("Size") or 0)}
    if "ETag" in fields:
        entry["ETag"] = _unescape(fields["ETag"])
    if "LastModified" in fields:
        entry["LastModified"] = datetime.fromisoformat(fields["LastModified"])
    if "StorageClass" in fields:
        entry["StorageClass"] = fields["StorageClass"]
    return entry


def _unescape(text: str) -> str:
    """XML's character references (``&amp;``, ``&#233;``...); HTML's are a superset of them."""
    return html.unescape(text) if "&" in text else text
