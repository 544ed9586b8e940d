-- Truncate and load, so a re-run does not double the rows. TRUNCATE also clears the table's load metadata, so the
-- files load again anyway; FORCE makes that reload explicit. The file format is repeated here rather than taken from the stage.
TRUNCATE TABLE {{ params.database_name }}.{{ params.schema_name }}.{{ params.table_name }};
COPY INTO {{ params.database_name }}.{{ params.schema_name }}.{{ params.table_name }}
  FROM @{{ params.database_name }}.{{ params.schema_name }}.{{ params.stage_name }}
  FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '"')
  FORCE = TRUE;
