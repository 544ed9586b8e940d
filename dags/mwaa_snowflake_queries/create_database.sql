CREATE DATABASE IF NOT EXISTS {{ params.database_name }};
