"""The workbook's machinery: `workbook.start` (every notebook's setup call), `charts`, headless runs
(`runner`, `notebooks`), `benchmark` and `lock`."""
