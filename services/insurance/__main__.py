"""Run the insurance service: `python -m services.insurance`."""

from chassis.bare_service import build_bare_service
from chassis.runtime import run_service

if __name__ == "__main__":
    run_service("insurance", build_bare_service)
