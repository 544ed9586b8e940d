"""The workbook's own test tooling: how `make test` executes notebooks (lanes, two executions each), compares
them with their committed outputs, holds them to their time budgets, and renders the README's measured table."""
