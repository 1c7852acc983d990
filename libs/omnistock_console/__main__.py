"""`python -m omnistock_console`: serve the staff console (see omnistock_console.server)."""

from omnistock_console.server import serve
from omnistock_platform.logging import configure_logging
from omnistock_platform.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    serve(settings)


if __name__ == "__main__":
    main()
