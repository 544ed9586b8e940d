"""The part of AWS Glue's `awsglue` library a Python shell job script uses, for the workbook's local Glue runner."""
