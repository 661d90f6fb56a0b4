"""Deployment configuration of the LA service: the app `attendance-core serve` runs, built from
environment variables so that an ASGI server (several uvicorn workers, or gunicorn) can import it.

This is not a second implementation: every endpoint, role and limit is
:mod:`attendance_core.service`'s. Install and run::

    pip install 'attendance-core[service,postgresql]'
    export ATTENDANCE_CORE_CASEBOOK='postgresql+psycopg://attendance@db.internal/cases'
    export ATTENDANCE_CORE_KEY_FILE=/etc/attendance-core/pseudonym.key   # optional
    uvicorn app:app --app-dir examples/la_service --host 127.0.0.1 --port 8080 --workers 4 \\
        --proxy-headers --forwarded-allow-ips 127.0.0.1

(one worker: ``attendance-core serve --casebook URL --host 127.0.0.1 --port 8080`` does the
same). The reverse proxy in ``nginx.conf`` terminates TLS in front of it;
``attendance-core.service`` is a systemd unit. Tokens: ``attendance-core token add --casebook
URL (--school ID | --la)``.

Settings (environment variables):

``ATTENDANCE_CORE_CASEBOOK``
    the casebook's SQLAlchemy URL (default ``sqlite:///cases.db``, for a trial only);
``ATTENDANCE_CORE_KEY_FILE``
    pseudonymous mode: the key file the casebook's pseudonyms are made with (kept outside the
    database, readable only by the service's user);
``ATTENDANCE_CORE_MAX_UPLOAD_MB``
    the largest export accepted, in MiB (default 64).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from attendance_core.service import create_app

URL = os.environ.get("ATTENDANCE_CORE_CASEBOOK", "sqlite:///cases.db")
KEY_FILE = os.environ.get("ATTENDANCE_CORE_KEY_FILE") or None
MAX_UPLOAD_MB = int(os.environ.get("ATTENDANCE_CORE_MAX_UPLOAD_MB", "64"))

# ids and counts only: the service never logs a pupil's name
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

app = create_app(
    URL,
    key=None if KEY_FILE is None else Path(KEY_FILE),
    max_upload_bytes=MAX_UPLOAD_MB * 1024 * 1024,
)
