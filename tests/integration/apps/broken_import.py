"""An application module that fails while being imported (`broken_import:app`)."""

raise RuntimeError("broken-import-sentinel")

app = None  # never reached
