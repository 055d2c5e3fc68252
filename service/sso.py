"""Single sign-on with the county's OpenID Connect provider: the relying party's side.

The authorization code flow with PKCE (S256), as OpenID Connect Core 1.0 and RFC 9700 ask:

1. :meth:`SingleSignOn.begin` reads the provider's discovery document
   (``<issuer>/.well-known/openid-configuration``, its ``issuer`` must be the configured one),
   makes a fresh ``state``, ``nonce`` and code verifier (:class:`schemas.sso.SsoFlow`, kept in
   the browser by the page) and gives the authorization URL to send the browser to.
2. :meth:`SingleSignOn.identify` takes the provider's answer: ``state`` must be the flow's
   (else the answer belongs to another browser: login CSRF), an ``iss`` parameter the issuer
   (RFC 9207, mix-up), the flow at most 10 minutes old. The code is exchanged at the token
   endpoint with the verifier and the client's credentials; the ID token's signature is
   checked with the provider's JWKS (the key of its ``kid``; on an unknown one the set is
   read again, for a key rotation), its ``iss``, ``aud`` (and ``azp``), ``exp`` and ``iat``
   by PyJWT, its ``nonce`` against the flow's. Claims the ID token lacks (many providers put
   profile and group claims in the user info only) are read from the user info endpoint with
   the access token; its ``sub`` must be the ID token's.
3. :meth:`SingleSignOn.role_of` maps the groups claim to one role. No role: refused. Several
   roles: refused too (an account has one role, and the difference between ABH and KI is one
   of data protection: no precedence picks one silently).

Refusals are :class:`service.errors.SsoRefused` (German message, ``reason``); a provider
that cannot be reached or answers nonsense is :class:`ServiceUnavailable`. No claim value is
ever logged or put into an error's ``detail``: only what went wrong.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from pydantic import ValidationError

from config.settings import Settings
from schemas.accounts import Role
from schemas.inputs import forbidden_character
from schemas.sso import ProviderMetadata, SsoFlow, SsoIdentity, TokenResponse
from service.errors import Backend, ServiceUnavailable, SsoRefused

# Asymmetric signatures only: "none" never, and HS* would need the client secret as the key.
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
FLOW_LIFETIME = timedelta(minutes=10)
LEEWAY = timedelta(seconds=60)  # clock skew between the provider and this server
_METADATA_FOR = 3600.0  # seconds the discovery document and the JWKS are kept
_JWKS_RETRY = 30.0  # an unknown kid reads the JWKS again, at most this often
_TIMEOUT = 10.0
_MAX_USERNAME = 100


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 §4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _unavailable(what: str) -> ServiceUnavailable:
    return ServiceUnavailable(Backend.IDENTITY_PROVIDER, f"identity provider: {what}")


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into objects (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class SingleSignOn:
    """The relying party for one provider, as configured (``CASE_OIDC_*``)."""

    def __init__(self, settings: Settings) -> None:
        if settings.oidc_issuer is None or settings.oidc_client_id is None:
            raise ValueError("single sign-on needs CASE_OIDC_ISSUER and CASE_OIDC_CLIENT_ID")
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_secret()  # read once: a missing file fails at start
        self._scopes = settings.oidc_scopes
        self._groups_claim = settings.oidc_groups_claim
        self._username_claim = settings.oidc_username_claim
        self._role_groups = dict(settings.oidc_role_groups)
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(settings.oidc_ca_file))
            if settings.oidc_ca_file is not None
            else True
        )
        self._metadata: tuple[ProviderMetadata, float] | None = None
        self._jwks: tuple[list[Any], float] | None = None

    # ------------------------------------------------------------ provider

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=_TIMEOUT, verify=self._verify, follow_redirects=False)

    async def _json(self, request: httpx.Request) -> tuple[int, Any]:
        async with self._http() as http:
            try:
                response = await http.send(request)
            except httpx.HTTPError as error:
                what = f"{request.url.path} not reachable ({type(error).__name__})"
                raise _unavailable(what) from None
        if response.status_code >= 500:
            raise _unavailable(f"{request.url.path} answered {response.status_code}")
        try:
            return response.status_code, response.json()
        except ValueError:
            raise _unavailable(f"{request.url.path} answered no JSON") from None

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, read again after an hour."""
        if self._metadata is not None and time.monotonic() < self._metadata[1]:
            return self._metadata[0]
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, document = await self._json(httpx.Request("GET", url))
        if status != 200:
            raise _unavailable(f"discovery answered {status}")
        try:
            metadata = ProviderMetadata.model_validate(document)
        except ValidationError:
            raise _unavailable("the discovery document lacks endpoints") from None
        if metadata.issuer != self.issuer:  # OpenID Connect Discovery 1.0 §4.3
            raise _unavailable("the discovery document names another issuer")
        self._metadata = (metadata, time.monotonic() + _METADATA_FOR)
        return metadata

    async def _keys(self, *, again: bool) -> list[Any]:
        now = time.monotonic()
        if self._jwks is not None:
            cached, fetched = self._jwks
            fresh = now - fetched < _METADATA_FOR
            if (fresh and not again) or now - fetched < _JWKS_RETRY:
                return cached
        metadata = await self.metadata()
        status, document = await self._json(httpx.Request("GET", metadata.jwks_uri))
        keys = document.get("keys") if isinstance(document, dict) else None
        if status != 200 or not isinstance(keys, list):
            raise _unavailable("the JWKS could not be read")
        self._jwks = (keys, now)
        return keys

    async def _signing_key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        for again in (False, True):
            for jwk in await self._keys(again=again):
                if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                    continue
                if kid is not None and jwk.get("kid") != kid:
                    continue
                if jwk.get("alg", algorithm) != algorithm:
                    continue
                try:
                    return jwt.PyJWK(jwk, algorithm=algorithm)
                except jwt.PyJWTError:
                    continue
        raise SsoRefused("token", "no key of the provider's JWKS fits the ID token")

    # ------------------------------------------------------------ the flow

    async def begin(self, redirect_uri: str, next_path: str) -> tuple[str, SsoFlow]:
        """The URL to send the browser to, and the flow to keep in that browser."""
        metadata = await self.metadata()
        methods = metadata.code_challenge_methods_supported
        if methods is not None and "S256" not in methods:
            raise _unavailable("the provider does not offer PKCE with S256")
        flow = SsoFlow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            next_path=next_path,
            started_at=datetime.now(UTC),
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self._scopes,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": code_challenge(flow.code_verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = metadata.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", flow

    async def identify(
        self, flow: SsoFlow | None, answer: Mapping[str, str], redirect_uri: str
    ) -> SsoIdentity:
        """The person the provider's answer (the redirect's query) vouches for."""
        state = answer.get("state", "")
        if (
            flow is None
            or not secrets.compare_digest(state.encode(), flow.state.encode())
            or datetime.now(UTC) - flow.started_at > FLOW_LIFETIME
        ):
            raise SsoRefused("state", "state missing, not this browser's, or too old")
        if "iss" in answer and answer["iss"] != self.issuer:
            raise SsoRefused("token", "the answer names another issuer")
        if "error" in answer or not answer.get("code"):
            error = answer.get("error", "no code")
            raise SsoRefused("aborted", error if error.isascii() and len(error) < 64 else "?")
        metadata = await self.metadata()
        tokens = await self._exchange(metadata, answer["code"], flow, redirect_uri)
        claims = await self.verify_id_token(tokens.id_token, flow.nonce)
        needed = (self._username_claim, self._groups_claim, "name")
        if metadata.userinfo_endpoint and any(_claim(claims, c) is None for c in needed):
            info = await self._userinfo(metadata.userinfo_endpoint, tokens.access_token)
            if info.get("sub") != claims["sub"]:
                raise SsoRefused("token", "the user info is about someone else")
            claims = {**info, **claims}
        return self._identity(claims)

    async def _exchange(
        self, metadata: ProviderMetadata, code: str, flow: SsoFlow, redirect_uri: str
    ) -> TokenResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": flow.code_verifier,
        }
        headers = {"accept": "application/json"}
        methods = metadata.token_endpoint_auth_methods_supported
        if self._secret is None:
            form["client_id"] = self.client_id  # a public client: PKCE is its proof
        elif "client_secret_basic" in methods or "client_secret_post" not in methods:
            # RFC 6749 §2.3.1: both form-encoded before they are joined.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        request = httpx.Request("POST", metadata.token_endpoint, data=form, headers=headers)
        status, document = await self._json(request)
        if status != 200:
            error = document.get("error") if isinstance(document, dict) else None
            raise SsoRefused("token", f"token endpoint: {status} {error}")
        try:
            tokens = TokenResponse.model_validate(document)
        except ValidationError:
            raise SsoRefused("token", "the token answer has no ID token") from None
        if tokens.token_type.lower() != "bearer":
            raise SsoRefused("token", "the token answer is not a bearer token")
        return tokens

    async def verify_id_token(self, raw: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, times and nonce are
        right; else :class:`SsoRefused` ``token``."""
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            raise SsoRefused("token", "the ID token is no JWT") from None
        algorithm = header.get("alg")
        metadata = await self.metadata()
        if (
            not isinstance(algorithm, str)
            or algorithm not in ALGORITHMS
            or algorithm not in metadata.id_token_signing_alg_values_supported
        ):
            raise SsoRefused("token", "the ID token's algorithm is not accepted")
        key = await self._signing_key(header.get("kid"), algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                key,
                algorithms=[algorithm],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise SsoRefused("token", f"ID token: {type(error).__name__}") from None
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if (several or "azp" in claims) and claims.get("azp") != self.client_id:
            raise SsoRefused("token", "ID token: issued to another party (azp)")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not secrets.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise SsoRefused("token", "ID token: not of this login (nonce)")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
            raise SsoRefused("token", "ID token: no usable sub")
        return claims

    async def _userinfo(self, endpoint: str, access_token: str) -> dict[str, Any]:
        request = httpx.Request(
            "GET",
            endpoint,
            headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
        )
        status, document = await self._json(request)
        if status != 200 or not isinstance(document, dict):
            raise SsoRefused("token", f"user info: {status}")
        return document

    def _identity(self, claims: Mapping[str, Any]) -> SsoIdentity:
        username = _claim(claims, self._username_claim)
        if not isinstance(username, str):
            raise SsoRefused("username", f"no {self._username_claim} claim")
        username = username.strip()
        if not 0 < len(username) <= _MAX_USERNAME or forbidden_character(username) is not None:
            raise SsoRefused("username", "the username claim cannot be a username here")
        name = _claim(claims, "name")
        display_name = name.strip() if isinstance(name, str) else ""
        if not display_name or len(display_name) > 200 or forbidden_character(display_name):
            display_name = username
        groups = _claim(claims, self._groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        found = tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else ()
        return SsoIdentity(
            issuer=self.issuer,
            subject=claims["sub"],
            username=username,
            display_name=display_name,
            groups=found,
        )

    def role_of(self, identity: SsoIdentity) -> Role:
        """The one role the person's groups map to (``CASE_OIDC_ROLE_GROUPS``)."""
        roles = {self._role_groups[g] for g in identity.groups if g in self._role_groups}
        if not roles:
            raise SsoRefused("no_role", "the groups map to no role")
        if len(roles) > 1:
            raise SsoRefused("several_roles", "the groups map to several roles")
        return roles.pop()
