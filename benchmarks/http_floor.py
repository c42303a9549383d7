"""The loopback HTTP floor: what one request costs with no work behind it.

A bare ASGI app under uvicorn with the settings ``ssi_model.api.serve`` uses (one worker,
httptools, uvloop, no access log) reads the request body and answers a fixed JSON body as long
as a one-profile prediction. The benchmark's client sends it the same requests as the API, so
``http_floor_p50_ms`` is the part of the API's latency that is transport (client, kernel,
uvicorn) rather than ssi-model.

    python -m benchmarks.http_floor PORT
"""

from __future__ import annotations

import sys

from starlette.types import Receive, Scope, Send

# About the size of a one-profile /v1/predict answer (model block and 16 numbers).
ANSWER = b'{"ok": true, "padding": "' + b"x" * 700 + b'"}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(ANSWER)).encode("ascii"))]})
    await send({"type": "http.response.body", "body": ANSWER})


def main() -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, http="httptools",
                loop="uvloop", log_level="warning", server_header=False, access_log=False)


if __name__ == "__main__":
    main()
