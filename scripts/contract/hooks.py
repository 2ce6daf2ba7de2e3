"""Serializers for the directory's media types that schemathesis does not know: an OCSP request
is DER bytes, an entity configuration a compact JWS (text)."""

import schemathesis

schemathesis.serializer.alias(["application/ocsp-request"], "application/octet-stream")
schemathesis.serializer.alias(["application/entity-statement+jwt"], "text/plain")
