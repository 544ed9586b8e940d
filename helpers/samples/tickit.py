"""A generated subset of TICKIT, the Amazon Redshift sample database (ticket sales for sports, shows and concerts).

The seven tables and their columns are TICKIT's (users, venue, category, date, event, listing, sales), and the files
are written as Redshift's tutorial ships them: pipe-delimited text, no header, an empty field for NULL, one file per
table (`allusers_pipe.txt` and so on; the real `sales_tab.txt` is tab-delimited, here every file uses `|` so one
parser reads them all). The categories and the 2008 calendar are TICKIT's own; users, venues, events, listings and
sales are drawn from a fixed seed, a few hundred rows instead of TICKIT's 170,000 sales, and are the same on every run.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta

SEED = 8
FILES = {"users": "allusers_pipe.txt", "venue": "venue_pipe.txt", "category": "category_pipe.txt",
         "date": "date2008_pipe.txt", "event": "allevents_pipe.txt", "listing": "listings_pipe.txt",
         "sales": "sales_pipe.txt"}
COLUMNS = {
    "users": ["userid", "username", "firstname", "lastname", "city", "state", "email", "phone", "likesports",
              "liketheatre", "likeconcerts", "likejazz", "likeclassical", "likeopera", "likerock", "likevegas",
              "likebroadway", "likemusicals"],
    "venue": ["venueid", "venuename", "venuecity", "venuestate", "venueseats"],
    "category": ["catid", "catgroup", "catname", "catdesc"],
    "date": ["dateid", "caldate", "day", "week", "month", "qtr", "year", "holiday"],
    "event": ["eventid", "venueid", "catid", "dateid", "eventname", "starttime"],
    "listing": ["listid", "sellerid", "eventid", "dateid", "numtickets", "priceperticket", "totalprice", "listtime"],
    "sales": ["salesid", "listid", "sellerid", "buyerid", "eventid", "dateid", "qtysold", "pricepaid", "commission",
              "saletime"],
}
CATEGORIES = [
    (1, "Sports", "MLB", "Major League Baseball"), (2, "Sports", "NHL", "National Hockey League"),
    (3, "Sports", "NFL", "National Football League"), (4, "Sports", "NBA", "National Basketball Association"),
    (5, "Sports", "MLS", "Major League Soccer"), (6, "Shows", "Musicals", "Musical theatre"),
    (7, "Shows", "Plays", "All non-musical theatre"), (8, "Shows", "Opera", "All opera and light opera"),
    (9, "Concerts", "Pop", "All rock and pop music concerts"), (10, "Concerts", "Jazz", "All jazz singers and bands"),
    (11, "Concerts", "Classical", "All symphony, concerto, and choir concerts"),
]
FIRST_DATEID = 1827  # TICKIT's dateid of 2008-01-01
HOLIDAYS = {date(2008, 1, 1), date(2008, 1, 21), date(2008, 2, 18), date(2008, 5, 26), date(2008, 7, 4),
            date(2008, 9, 1), date(2008, 10, 13), date(2008, 11, 11), date(2008, 11, 27), date(2008, 12, 25)}
_CITIES = [("New York", "NY"), ("Chicago", "IL"), ("San Francisco", "CA"), ("Boston", "MA"), ("Seattle", "WA"),
           ("Denver", "CO"), ("Austin", "TX"), ("Miami", "FL"), ("Nashville", "TN"), ("Las Vegas", "NV")]
_FIRST = ["Rafael", "Vladimir", "Lars", "Barry", "Reagan", "Victor", "Tamekah", "Colton", "Mufutau", "Naida",
          "Lenore", "Blythe", "Kadeem", "Zena", "Amery", "Lael", "Wyatt", "Hedda", "Iola", "Xanthus"]
_LAST = ["Taylor", "Humphrey", "Ratliff", "Roy", "Hodge", "Richardson", "Juarez", "Roberson", "Trevino", "Dunlap",
         "Zamora", "Meyer", "Nieves", "Mcmillan", "Wolfe", "Hart", "Sykes", "Bright", "Cross", "Gaines"]
_VENUES = ["Hall", "Arena", "Stadium", "Theatre", "Center", "Park", "Field", "Opera House", "Garden", "Amphitheatre"]
_TITLES = {"Sports": ["{city} vs. {other}"], "Shows": ["Mamma Mia!", "Wicked", "The Phantom of the Opera",
                                                      "La Boheme", "Hamlet", "Macbeth", "Tosca", "Grease"],
           "Concerts": ["Linkin Park", "Diana Krall", "The Police", "Beck", "Yo-Yo Ma", "Norah Jones",
                        "Wynton Marsalis", "Coldplay"]}
_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def generate(users: int = 60, venues: int = 12, events: int = 40, listings: int = 120, sales: int = 200) -> dict[str, list[tuple]]:
    """Rows per table, as tuples in `COLUMNS` order (None for NULL). The same arguments give the same rows."""
    rng = random.Random(SEED)
    tables: dict[str, list[tuple]] = {"category": list(CATEGORIES), "date": _calendar()}
    tables["users"] = [_user(rng, userid) for userid in range(1, users + 1)]
    tables["venue"] = []
    for venueid in range(1, venues + 1):
        city, state = _CITIES[(venueid - 1) % len(_CITIES)]
        seats = None if venueid % 4 == 0 else rng.choice([0, 2200, 18000, 41000, 68000])  # TICKIT has NULL seats too
        tables["venue"].append((venueid, f"{city} {_VENUES[(venueid - 1) % len(_VENUES)]}", city, state, seats))
    tables["event"] = []
    for eventid in range(1, events + 1):
        venueid, catid = rng.randint(1, venues), rng.randint(1, len(CATEGORIES))
        group = CATEGORIES[catid - 1][1]
        day = date(2008, 1, 1) + timedelta(days=rng.randint(61, 365))  # listed up to 60 days before: in 2008
        home, other = rng.sample([c for c, _ in _CITIES], 2)
        name = rng.choice(_TITLES[group]).format(city=home, other=other)
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.choice([14, 19, 20]), minutes=30)
        tables["event"].append((eventid, venueid, catid, _dateid(day), name, start.isoformat(sep=" ")))
    tables["listing"] = []
    for listid in range(1, listings + 1):
        event = tables["event"][rng.randrange(events)]
        listed = datetime.fromisoformat(event[5]) - timedelta(days=rng.randint(5, 60), hours=rng.randint(0, 23))
        tickets, price = rng.randint(1, 30), rng.choice([20, 35, 48, 65, 89, 120, 175, 250])
        tables["listing"].append((listid, rng.randint(1, users), event[0], _dateid(listed.date()), tickets,
                                  f"{price:.2f}", f"{tickets * price:.2f}", listed.isoformat(sep=" ")))
    tables["sales"] = []
    for salesid in range(1, sales + 1):
        listing = tables["listing"][rng.randrange(listings)]
        sold = datetime.fromisoformat(listing[7]) + timedelta(days=rng.randint(0, 4), minutes=rng.randint(0, 1439))
        qty = rng.randint(1, min(4, listing[4]))
        paid = qty * float(listing[5])
        buyer = rng.choice([u for u in range(1, users + 1) if u != listing[1]])
        tables["sales"].append((salesid, listing[0], listing[1], buyer, listing[2], _dateid(sold.date()), qty,
                                f"{paid:.2f}", f"{paid * 0.15:.2f}", sold.isoformat(sep=" ")))
    return {table: tables[table] for table in COLUMNS}


def _user(rng: random.Random, userid: int) -> tuple:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, state = rng.choice(_CITIES)
    likes = [rng.choice([True, False, None]) for _ in range(10)]  # TICKIT leaves many preferences NULL
    return (userid, f"{first[:3]}{last[:2]}{userid:03d}".upper(), first, last, city, state,
            f"{first.lower()}.{last.lower()}@example.com", f"({rng.randint(200, 989)}) {rng.randint(200, 989)}-{rng.randint(1000, 9999)}",
            *likes)


def _dateid(day: date) -> int:
    return FIRST_DATEID + (day - date(2008, 1, 1)).days


def _calendar() -> list[tuple]:
    days = []
    for offset in range(366):  # 2008 was a leap year
        day = date(2008, 1, 1) + timedelta(days=offset)
        days.append((FIRST_DATEID + offset, day.isoformat(), _DAYS[day.weekday()], day.isocalendar()[1],
                     _MONTHS[day.month - 1], str((day.month - 1) // 3 + 1), day.year, day in HOLIDAYS))
    return days


def to_text(rows: list[tuple]) -> str:
    """A table's rows as TICKIT's files hold them: `|` between fields, empty for NULL, booleans as `t`/`f`."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="|", lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else ("t" if v is True else "f" if v is False else v) for v in row])
    return out.getvalue()


def upload(s3_client, bucket: str, prefix: str = "tickit", **sizes) -> dict[str, int]:
    """Write each table's file to `s3://bucket/prefix/<table>/<file>`; the rows written per table."""
    written = {}
    for table, rows in generate(**sizes).items():
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{table}/{FILES[table]}", Body=to_text(rows).encode())
        written[table] = len(rows)
    return written
