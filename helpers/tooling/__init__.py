"""The workbook's machinery: `workbook.start` (every notebook's setup call), `charts`, `versions`, headless runs
(`runner`, `notebooks`), `benchmark` and `lock`."""
