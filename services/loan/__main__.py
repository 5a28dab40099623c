"""Run the loan service: `python -m services.loan`."""

from chassis.runtime import run_service
from services.loan.server import build_loan_service

if __name__ == "__main__":
    run_service("loan", build_loan_service)
