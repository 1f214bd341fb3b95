"""uneven.py's application behind an import that takes UF_TEST_IMPORT_DELAY seconds, as a
large Django project's can: a replacement worker is not ready for that long."""
import os
import time

time.sleep(float(os.environ.get("UF_TEST_IMPORT_DELAY", "0")))

from uneven import app  # noqa: E402,F401
