"""Lambda functions of the scenarios: each module is deployed as-is (as `lambda_function.py`) and unit-tested here."""
