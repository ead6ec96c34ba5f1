"""uvicorn's httptools protocol, made to answer the requests it has read before refusing what
follows them.

httptools parses every byte of a read at once.  When a request is followed, in the same read,
by bytes that are not HTTP (a body longer than its Content-Length), uvicorn's protocol wrote
its plain-text "400 Invalid HTTP request received." and closed the connection at once: the
request before them, already running, lost its answer, and the client read a refusal that is
not the JSON one every other refusal is (subgraph/http.py).  h11, uvicorn's pure-Python
parser, answers that request first.  This protocol does the same: the refusal waits until the
requests read whole before it are answered (reading paused meanwhile), then it is sent and the
connection closed, as before; a request whose own body does not parse (a bad chunk) is refused
at once, as before.  `serve --http httptools` (and `auto`, when httptools is installed) uses it.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _UvicornHttpTools


class HttpToolsProtocol(_UvicornHttpTools):
    """uvicorn's httptools protocol; a refusal of bytes after a request waits for its answer."""

    _refusal: str | None = None

    def _answering(self) -> bool:
        """A request read before is still to be answered (running, or queued behind one)."""
        cycle = self.cycle  # the request read last
        return bool(self.pipeline) or (cycle is not None and not cycle.response_complete)

    def send_400_response(self, msg: str) -> None:
        cycle = self.cycle
        # Only bytes after a whole request wait: a request whose own body does not parse (a bad
        # chunk) would never be answered; it is refused now, as uvicorn does.
        after_a_request = cycle is not None and not cycle.more_body
        if after_a_request and self._answering() and not self.transport.is_closing():
            if self._refusal is None:  # the first refusal; the parser refuses all that follows
                self._refusal = msg
                self.flow.pause_reading()
            return
        super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        refusal = self._refusal
        if refusal is not None and not self._answering() and not self.transport.is_closing():
            self._refusal = None
            super().send_400_response(refusal)
