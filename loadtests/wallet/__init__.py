"""The simulated wallet population of the Locust load tests (loadtests/locustfile.py).

- ``people``: unique phones and valid resident ids for the people a run registers.
- ``outcomes``: how an answer counts — done, a business refusal (counted apart), or an error.
- ``journal``: every money movement that got a 2xx, written down for the check after the run.
- ``users``: the wallet holders, merchants and the operator, and what each does how often.
- ``shapes``: a steady day, Double 11 and payday, as Locust load shapes.
"""
