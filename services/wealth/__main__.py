"""Run the wealth service: `python -m services.wealth`."""

from chassis.bare_service import build_bare_service
from chassis.runtime import run_service

if __name__ == "__main__":
    run_service("wealth", build_bare_service)
