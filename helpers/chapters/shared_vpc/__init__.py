"""Notebook 02: `scenario` (the restricted VPC, the endpoint-automation function's deployment and IAM) and
`mwaa_endpoint_automation`, that Lambda function's source (deployed as is, as `lambda_function.py`)."""
