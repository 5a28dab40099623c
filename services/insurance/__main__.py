"""Run the insurance service: `python -m services.insurance`."""

from chassis.runtime import run_service
from services.insurance.server import build_insurance_service

if __name__ == "__main__":
    run_service("insurance", build_insurance_service)
