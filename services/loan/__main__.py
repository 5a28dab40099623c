"""Run the loan service: `python -m services.loan`."""

from chassis.bare_service import build_bare_service
from chassis.runtime import run_service

if __name__ == "__main__":
    run_service("loan", build_bare_service)
