SELECT end_station_name AS station_name, COUNT(*) AS rides
FROM {{ params.database_name }}.{{ params.schema_name }}.{{ params.view_name }}
WHERE end_station_name IS NOT NULL
GROUP BY end_station_name
ORDER BY rides DESC, station_name
LIMIT {{ params.top_n }};
