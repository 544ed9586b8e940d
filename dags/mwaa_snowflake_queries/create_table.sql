-- The files as they are, all text (the view types them): the 13 columns of the trip data since 2021.
CREATE TABLE IF NOT EXISTS {{ params.database_name }}.{{ params.schema_name }}.{{ params.table_name }} (
  ride_id TEXT, rideable_type TEXT, started_at TEXT, ended_at TEXT,
  start_station_name TEXT, start_station_id TEXT, end_station_name TEXT, end_station_id TEXT,
  start_lat TEXT, start_lng TEXT, end_lat TEXT, end_lng TEXT, member_casual TEXT
);
