-- Small and suspended when idle: it costs credits only while queries run.
CREATE WAREHOUSE IF NOT EXISTS {{ params.warehouse_name }}
  WITH WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE;
