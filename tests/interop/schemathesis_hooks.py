"""Schemathesis hooks for test_schemathesis.py, loaded by `st run` through `SCHEMATHESIS_HOOKS`.

Schemathesis feeds values it saw in earlier responses (user ids and names from `GET
/api/v1/users`, token ids from `GET /api/v1/tokens`, ...) back into later requests, so it soon
targets the very principals the run authenticates as. A handful of those requests would end the
run rather than test anything: revoking every token of the fuzzing user, revoking or deleting
the fuzzing token itself, revoking the signing key that signed it (once a rotation has made
another key the signer), or deactivating the fuzzing user, demoting it, changing its password or
deleting it. In those requests only, and only when they name one of the protected principals
(`JETON_FUZZ_PROTECTED_USERS`), credentials (`JETON_FUZZ_PROTECTED_TOKENS`) or signing keys
(`JETON_FUZZ_PROTECTED_KIDS`, all given as comma-separated ids and names by the test), the name
is replaced by an id that exists nowhere:
the request is still sent, and answered "not found". The same operations on every other user and
token are fuzzed as generated; the tests in `crates/jeton-server/tests` cover them on oneself.
"""

import os
import uuid

import schemathesis


def _split(name: str) -> set[str]:
    return {value for value in os.environ.get(name, "").split(",") if value}


PROTECTED_USERS = _split("JETON_FUZZ_PROTECTED_USERS")
PROTECTED_TOKENS = _split("JETON_FUZZ_PROTECTED_TOKENS")
PROTECTED_KIDS = _split("JETON_FUZZ_PROTECTED_KIDS")

# (method, path template, path parameter): the requests that can take a principal's access away.
GUARDED = {
    ("PATCH", "/api/v1/users/{user}", "user"),
    ("DELETE", "/api/v1/users/{user}", "user"),
    ("POST", "/api/v1/users/{user}/tokens/revoke", "user"),
    ("DELETE", "/api/v1/tokens/{id}", "id"),
    ("POST", "/api/v1/tokens/revoke/{id}", "id"),
    ("POST", "/api/v1/signing-keys/{kid}/revoke", "kid"),
}

PROTECTED = {"user": PROTECTED_USERS, "id": PROTECTED_TOKENS, "kid": PROTECTED_KIDS}


def _names(value, protected: set[str]) -> bool:
    """Whether a path parameter names one of `protected`: as written, or as a UUID in any of the
    spellings the server parses (upper case, braces, `urn:uuid:`, no hyphens)."""
    text = str(value)
    if text in protected:
        return True
    try:
        return str(uuid.UUID(text.strip())) in protected
    except ValueError:
        return False


def _stand_in(value) -> str:
    """An id that names nothing, the same for the same value (the run stays reproducible)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jeton-fuzz:{value}"))


@schemathesis.hook
def map_case(context, case):
    method = case.operation.method.upper()
    for guarded_method, path, parameter in GUARDED:
        if method == guarded_method and case.operation.path == path:
            parameters = case.path_parameters or {}
            value = parameters.get(parameter)
            protected = PROTECTED[parameter]
            if value is not None and _names(value, protected):
                parameters[parameter] = _stand_in(value)
    return case
