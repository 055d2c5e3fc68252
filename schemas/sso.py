"""Single sign-on with the county's OpenID Connect provider: what one login carries between
its start and the provider's answer (:class:`SsoFlow`), and whom the provider vouched for
(:class:`SsoIdentity`). See :mod:`service.sso` and docs/accounts.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.inputs import Line

# What secrets.token_urlsafe makes: the only characters a flow's random values have.
_Random = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]


class SsoFlow(BaseModel):
    """One login begun in one browser: kept there (an HttpOnly cookie) until the provider
    sends the browser back. ``state`` ties the answer to this browser, ``nonce`` the ID token
    to this login, ``code_verifier`` the code to this client (PKCE, S256)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: _Random = Field(min_length=32, max_length=128)
    nonce: _Random = Field(min_length=32, max_length=128)
    code_verifier: _Random = Field(min_length=43, max_length=128)  # RFC 7636 §4.1
    next_path: Line = Field(max_length=2000)  # a path of this site (web.common.local_path)
    started_at: datetime


class SsoIdentity(BaseModel):
    """A person as the provider's verified ID token (and user info) names them."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    subject: str = Field(min_length=1, max_length=255)
    username: str
    display_name: str
    groups: tuple[str, ...]


class ProviderMetadata(BaseModel):
    """The parts of the provider's discovery document (``/.well-known/openid-configuration``,
    OpenID Connect Discovery 1.0) a login needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    # RFC 8414's default when the document says nothing.
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    code_challenge_methods_supported: tuple[str, ...] | None = None


class TokenResponse(BaseModel):
    """The token endpoint's answer to the authorization code."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id_token: str = Field(min_length=1)
    access_token: str = Field(min_length=1)
    token_type: str
