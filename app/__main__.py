"""``python -m app`` opens the DagFlux app (same as the ``dagflux-app`` command)."""

from app.main import main

if __name__ == "__main__":
    raise SystemExit(main())
