"""The ``forwardkit`` command line (click; rich only for tables, imported when printing them)."""
