-- Typed columns over the text table. NULLIF: a ride that ended away from a dock has an empty end station.
CREATE OR REPLACE VIEW {{ params.database_name }}.{{ params.schema_name }}.{{ params.view_name }} AS
SELECT
  ride_id,
  rideable_type,
  TO_TIMESTAMP_NTZ(started_at) AS started_at,
  TO_TIMESTAMP_NTZ(ended_at) AS ended_at,
  NULLIF(start_station_name, '') AS start_station_name,
  NULLIF(start_station_id, '') AS start_station_id,
  NULLIF(end_station_name, '') AS end_station_name,
  NULLIF(end_station_id, '') AS end_station_id,
  CAST(NULLIF(start_lat, '') AS FLOAT) AS start_lat,
  CAST(NULLIF(start_lng, '') AS FLOAT) AS start_lng,
  CAST(NULLIF(end_lat, '') AS FLOAT) AS end_lat,
  CAST(NULLIF(end_lng, '') AS FLOAT) AS end_lng,
  member_casual
FROM {{ params.database_name }}.{{ params.schema_name }}.{{ params.table_name }};
