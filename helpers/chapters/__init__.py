"""One package per notebook chapter, named as the notebook is: `shared_vpc` (02), `deferrable_operators` (03),
`setup_teardown` (04), `snowflake` (05), `eks_least_privilege` (06). Notebooks 00, 01 and 99 need only the shared layers."""
