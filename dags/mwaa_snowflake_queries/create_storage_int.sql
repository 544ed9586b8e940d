-- IF NOT EXISTS, not OR REPLACE: a replaced integration gets a new external ID, and the IAM role's trust
-- relationship, which names that ID, would no longer let Snowflake in.
CREATE STORAGE INTEGRATION IF NOT EXISTS {{ params.storage_int_name }}
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '{{ var.value.aws_role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ var.value.destination_bucket }}/');
