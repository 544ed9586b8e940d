CREATE SCHEMA IF NOT EXISTS {{ params.database_name }}.{{ params.schema_name }};
