"""The official MCP Python SDK's client, as tests drive it: token storage, the person at the browser, a loop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio
import requests
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

from tests.people import answer_consent, log_in


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Person:
    """The browser part: logs in and allows the app, then hands the redirect's parameters to the SDK."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url, self.email, self.password = base_url, email, password
        self.browser = requests.Session()
        self.authorization_urls: list[str] = []
        self.callback: dict[str, str] = {}

    def _authorize(self, url: str) -> None:
        self.authorization_urls.append(url)
        log_in(self.browser, self.base_url, self.email, self.password)
        self.callback = answer_consent(self.browser, url)

    async def redirect_handler(self, url: str) -> None:
        await anyio.to_thread.run_sync(self._authorize, url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=self.callback["code"], state=self.callback.get("state"), iss=self.callback.get("iss")
        )


def run(function, *args):
    """anyio.run in a thread of its own: Playwright's sync API may hold this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(anyio.run, function, *args).result()
