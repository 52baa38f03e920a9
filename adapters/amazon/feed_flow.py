"""The steps of one ``JSON_LISTINGS_FEED`` after ``createFeedDocument`` answered (``feed``).

The channel actor sends one request per push and hands its answer to ``follow`` (the hook of
channels that answer a push later), so the push's request is ``createFeedDocument`` and the rest
happens here: upload the document to the presigned url (no LWA token: the url is the credential,
and its signature covers the content type declared, so the PUT sends exactly that), ``createFeed``,
``getFeed`` every ``poll_s`` until the feed is DONE, FATAL or CANCELLED, then ``getFeedDocument``
and the report's download. Whatever step ends the flow, its answer is what ``parse`` judges
(``feed.classify``). A feed still unfinished after ``timeout_s`` is cancelled where Amazon still
can (``cancelFeed``: only IN_QUEUE feeds), so its old quantities cannot land after the SKUs were
sent again; one already IN_PROGRESS may still land (reconciliation's listed-quantity compare
corrects that). 429, 5xx and transport errors while polling wait ``Retry-After`` or a backoff; a
403 drops the token and the next call fetches a new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from adapters.amazon.feed import API, BODY, CONTENT_TYPE, DONE, FEED_TYPE, FeedBudget, stage_of, staged
from adapters.amazon.lwa import HEADER, LwaTokens
from adapters.http_retry import backoff, retry_after

Sleep = Callable[[float], Awaitable[None]]
RESULT_ATTEMPTS = 6


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


class FeedFlow:
    """One feed's remaining steps for one channel (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        marketplace: str,
        tokens: LwaTokens,
        *,
        poll_s: float,
        timeout_s: float,
        sleep: Sleep,
        clock: Callable[[], float],
        budget: FeedBudget | None = None,
    ) -> None:
        self.client, self.api, self.marketplace, self.tokens = (
            client,
            f"{base_url.rstrip('/')}{API}",
            marketplace,
            tokens,
        )
        self.poll_s, self.timeout_s, self.sleep, self.clock, self.budget = (
            poll_s,
            timeout_s,
            sleep,
            clock,
            budget,
        )

    async def call(self, method: str, url: str, stage: str, body: Any = None) -> httpx.Response:
        token = await self.tokens.ensure(self.client)
        headers = {HEADER: token, "Accept": "application/json"}
        content = None if body is None else orjson.dumps(body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.send(
            staged(httpx.Request(method, url, content=content, headers=headers), stage)
        )
        if response.status_code == 403:
            self.tokens.forget(token)
        return response

    async def run(self, submitted: httpx.Response) -> httpx.Response:
        if stage_of(submitted.request) != "document" or submitted.status_code != 201:
            return submitted
        made, body = _object(submitted), submitted.request.extensions.get(BODY)
        doc_id, url = made.get("feedDocumentId"), made.get("url")
        if not isinstance(doc_id, str) or not isinstance(url, str) or not isinstance(body, bytes):
            return submitted
        put = httpx.Request("PUT", url, content=body, headers={"Content-Type": CONTENT_TYPE})
        uploaded = await self.client.send(staged(put, "upload"))
        if uploaded.status_code != 200:
            return uploaded
        spec = {"feedType": FEED_TYPE, "marketplaceIds": [self.marketplace], "inputFeedDocumentId": doc_id}
        created = await self.call("POST", f"{self.api}/feeds", "create", spec)
        if created.status_code == 429 and self.budget is not None:
            self.budget.spent()
        feed_id = _object(created).get("feedId")
        if created.status_code != 202 or not isinstance(feed_id, str):
            return created
        final = await self.poll(feed_id)
        feed = _object(final)
        result = feed.get("resultFeedDocumentId")
        if final.status_code != 200 or feed.get("processingStatus") not in ("DONE", "FATAL") or not result:
            return final
        return await self.report(str(result), str(feed["processingStatus"]))

    async def poll(self, feed_id: str) -> httpx.Response:
        url, start, attempt = f"{self.api}/feeds/{quote(feed_id, safe='')}", self.clock(), 0
        last: httpx.Response | None = None
        while self.clock() - start < self.timeout_s:
            await self.sleep(self.poll_s)
            try:
                answer = await self.call("GET", url, "status")
            except httpx.TransportError:
                await self.sleep(backoff(attempt))
                attempt += 1
                continue
            if answer.status_code == 429 or answer.status_code >= 500 or answer.status_code == 403:
                await self.sleep(retry_after(answer) or backoff(attempt))
                attempt += 1
                continue
            last = answer
            if answer.status_code != 200 or _object(answer).get("processingStatus") in DONE:
                return answer
        with contextlib.suppress(httpx.HTTPError):  # best effort: only an IN_QUEUE feed can be cancelled
            await self.call("DELETE", url, "cancel")
        return last or httpx.Response(504, request=staged(httpx.Request("GET", url), "status"))

    async def report(self, result_id: str, status: str) -> httpx.Response:
        url = f"{self.api}/documents/{quote(result_id, safe='')}"
        answer = await self.call("GET", url, "result")
        for attempt in range(RESULT_ATTEMPTS - 1):
            if answer.status_code not in (403, 429) and answer.status_code < 500:
                break
            await self.sleep(retry_after(answer) or backoff(attempt))
            answer = await self.call("GET", url, "result")
        found = _object(answer)
        if answer.status_code != 200 or not isinstance(found.get("url"), str):
            return answer
        download = staged(httpx.Request("GET", found["url"]), "report")
        download.extensions["processing_status"] = status
        download.extensions["compression"] = found.get("compressionAlgorithm")
        return await self.client.send(download)
