"""Run the wealth service: `python -m services.wealth`."""

from chassis.runtime import run_service
from services.wealth.server import build_wealth_service

if __name__ == "__main__":
    run_service("wealth", build_wealth_service)
