"""AWS Glue Python shell job: denormalize the crawled legislators dataset into Parquet tables.

Job arguments: --database (where the crawler catalogued persons_json, memberships_json, organizations_json)
and --output_path (s3://bucket/prefix/). Writes, as Parquet datasets registered in the same database:

- legislator_history: one row per membership, with the person, the chamber and the party, partitioned by chamber;
- current_members: the memberships that have not ended (a filtered table).

Written for Glue Python shell (Python 3.9, `library-set: analytics`, which provides awswrangler and pandas);
it overwrites its outputs, so a re-run replaces rather than appends.
"""

import sys

import awswrangler as wr
from awsglue.utils import getResolvedOptions

HISTORY_COLUMNS = ["person_id", "name", "gender", "birth_date", "party", "state", "legislative_period_id",
                   "start_date", "end_date", "chamber"]


def read_table(database, table):
    return wr.s3.read_json(wr.catalog.get_table_location(database, table), lines=True)


def denormalize(persons, memberships, organizations):
    chambers = organizations[organizations.classification == "legislature"][["id", "name"]]
    parties = organizations[organizations.classification == "party"][["id", "name"]]
    history = (memberships
               .merge(persons[["id", "name", "gender", "birth_date"]].rename(columns={"id": "person_id"}), on="person_id")
               .merge(chambers.rename(columns={"id": "organization_id", "name": "chamber"}), on="organization_id")
               .merge(parties.rename(columns={"id": "on_behalf_of_id", "name": "party"}), on="on_behalf_of_id", how="left"))
    history["state"] = history.area_id.str.rsplit(":", n=1).str[-1].str.upper()
    history["end_date"] = history.end_date.where(history.end_date.notna(), None)
    return history[HISTORY_COLUMNS].sort_values(["person_id", "start_date"]).reset_index(drop=True)


def main(argv):
    args = getResolvedOptions(argv, ["database", "output_path"])
    database, output = args["database"], args["output_path"].rstrip("/") + "/"
    history = denormalize(read_table(database, "persons_json"), read_table(database, "memberships_json"),
                          read_table(database, "organizations_json"))
    current = history[history.end_date.isna()].drop(columns=["end_date"])
    wr.s3.to_parquet(history, path=output + "legislator_history/", dataset=True, mode="overwrite", database=database,
                     table="legislator_history", partition_cols=["chamber"])
    wr.s3.to_parquet(current, path=output + "current_members/", dataset=True, mode="overwrite", database=database,
                     table="current_members")
    print(f"legislator_history: {len(history)} rows, partitions {sorted(history.chamber.unique())}")
    print(f"current_members: {len(current)} rows")


if __name__ == "__main__":
    main(sys.argv)
