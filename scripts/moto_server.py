"""Starts moto in server mode on HOST PORT, like `moto_server -H HOST -p PORT`,
with one difference: requests are handled one at a time.

moto's threaded server runs each request on its own thread without locking
its backends, so two concurrent conditional writes to one DynamoDB item can
both pass their condition. Real DynamoDB applies conditional writes to an item
atomically, and the concurrency tests depend on exactly that. Serialising the
handlers gives moto the same guarantee; connections are still accepted
concurrently, so clients really do race.
"""

import os
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

LOCK = threading.Lock()


def serialised(app):
    def wrapped(environ, start_response):
        with LOCK:
            return list(app(environ, start_response))

    return wrapped


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        serialised(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
