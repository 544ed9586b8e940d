-- The stage sees only the unzipped CSV parts: a non-CSV file under its URL would break COPY INTO.
CREATE OR REPLACE STAGE {{ params.database_name }}.{{ params.schema_name }}.{{ params.stage_name }}
  URL = 's3://{{ var.value.destination_bucket }}/{{ params.stage_prefix }}'
  STORAGE_INTEGRATION = {{ params.storage_int_name }}
  FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '"');
