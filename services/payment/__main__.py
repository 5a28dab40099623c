"""Run the payment service: `python -m services.payment`."""

from chassis.runtime import run_service
from services.payment.server import build_payment_service

if __name__ == "__main__":
    run_service("payment", build_payment_service)
