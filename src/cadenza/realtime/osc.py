"""An OSC server for live control: UDP messages in, a handler called for each, on its own thread.

OSC (Open Sound Control) is how Max, Pure Data, SuperCollider, TouchOSC and most
creative-coding tools send parameters: a message is an address (``/pitch``) and
a few typed arguments, sent over UDP. :class:`OscServer` listens on
``127.0.0.1`` (only this machine; a map may name another host) and hands every
message, whatever its address, to one handler, normally
:meth:`cadenza.realtime.mapping.LiveControls.osc`, which translates and queues
it for the audio thread. Messages are handled one at a time, in arrival order,
on one thread (python-osc's ``BlockingOSCUDPServer`` run in a thread), so a
burst never spawns a thread per message and controls never arrive out of order.

``port=0`` lets the system pick a free port (tests, benchmarks); :attr:`port`
says which. A port that cannot be opened (in use, out of range, a host that is
not this machine) is one :class:`CadenzaError` line before any audio starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cadenza.errors import CadenzaError


class OscServer:
    """Listen for OSC on ``host:port`` and call ``handler(address, *args)`` for each message."""

    def __init__(self, handler: Callable[..., None], port: int = 0, host: str = "127.0.0.1"):
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        dispatcher = Dispatcher()
        dispatcher.set_default_handler(handler)  # every address: the handler decides what is bound
        try:
            self._server = BlockingOSCUDPServer((host, port), dispatcher)
        except (OSError, OverflowError) as exc:  # in use, not an address of this machine, out of range
            reason = getattr(exc, "strerror", None) or str(exc)
            raise CadenzaError(f"cannot listen for OSC on {host}:{port} ({reason})") from None
        self.host = host
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cadenza-osc", daemon=True)

    @property
    def port(self) -> int:
        """The UDP port it listens on (the one the system chose, for ``port=0``)."""
        return self._server.server_address[1]

    def start(self) -> OscServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> OscServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
