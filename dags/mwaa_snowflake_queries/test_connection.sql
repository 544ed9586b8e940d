-- DAG 1: a round trip to Snowflake with the connection from Secrets Manager.
SELECT CURRENT_VERSION() AS snowflake_version;
