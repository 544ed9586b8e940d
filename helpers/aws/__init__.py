"""The client side of AWS: `cloud` makes every boto3 client (the one place that knows the target), the other modules
are what the workbook does with a service (S3, IAM, the network, EventBridge, CloudFormation, Lambda, MWAA, tags, clean-up)."""
