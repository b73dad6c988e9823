"""moto's S3 server answering one request at a time.

moto_server runs werkzeug threaded, and moto's conditional put checks for
the object and then stores it without a lock: of several racing
`If-None-Match: *` creates more than one can succeed (libcommit's probe
catches it). Real S3 decides such a race atomically; served one request
at a time, moto does too. Otherwise this is moto_server's main.
"""

import argparse

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
