"""Run the credit service: `python -m services.credit`."""

from chassis.bare_service import build_bare_service
from chassis.runtime import run_service

if __name__ == "__main__":
    run_service("credit", build_bare_service)
