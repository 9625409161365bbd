# Page floor of a schema that keeps auditkit's promises, against the hand-written table
# (issue 18). Usage: N=1000 ROUNDS=3 python3 benches/limits/page_floor.py DIR (DIR on the disk
# for fsync-bound rates, /dev/shm for page writes and CPU only). Python's per-statement cost
# is the same on both sides, which flatters the ratio; the WAL frames per commit do not depend
# on it.
import sqlite3, os, sys, time, random, json, hashlib
N = int(os.environ.get("N", "2000"))
DIR = sys.argv[1]
COLS = """seq INTEGER PRIMARY KEY, id BLOB NOT NULL, occurred_at INTEGER NOT NULL,
 recorded_at INTEGER NOT NULL, tenant TEXT, actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL,
 actor_name TEXT, action TEXT NOT NULL, target_kind TEXT, target_id TEXT, source TEXT NOT NULL,
 outcome TEXT NOT NULL, body TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL"""
HAND = f"""CREATE TABLE log ({COLS});
CREATE INDEX i1 ON log (tenant, occurred_at);
CREATE INDEX i2 ON log (tenant, actor_id, occurred_at);
CREATE INDEX i3 ON log (tenant, action, occurred_at);
CREATE INDEX i4 ON log (target_kind, target_id, occurred_at);"""
# auditkit's filters, each on an index (schema 8's nine), every derived row (targets, change
# paths, search words) deferred into one pending row, personal values apart, the head row.
MIN = f"""CREATE TABLE log ({COLS});
CREATE UNIQUE INDEX j0 ON log (id);
CREATE INDEX j1 ON log (occurred_at);
CREATE INDEX j2 ON log (tenant, occurred_at);
CREATE INDEX j3 ON log (actor_id, occurred_at);
CREATE INDEX j4 ON log (actor_kind, occurred_at);
CREATE INDEX j5 ON log (action, occurred_at);
CREATE INDEX j6 ON log (target_kind, target_id, occurred_at);
CREATE INDEX j7 ON log (source, occurred_at);
CREATE TABLE pending (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE personal (seq INTEGER NOT NULL, path TEXT NOT NULL, value TEXT NOT NULL, salt BLOB NOT NULL, PRIMARY KEY (seq, path)) WITHOUT ROWID;
CREATE TABLE head (id INTEGER PRIMARY KEY, seq INTEGER, hash BLOB);
INSERT INTO head VALUES (1, 0, x'');"""
random.seed(7)
tenants = [f"salon-{i}" for i in range(20)]
actors = [f"staff-{i}" for i in range(200)]
actions = ["booking.created", "booking.rescheduled", "booking.cancelled", "payment.refunded", "customer.updated", "auth.login"]
def event(i):
    b = {"before": {"start": "2026-03-28T10:00:00Z", "staff": "staff-3", "service": "cut"},
         "after": {"start": "2026-03-30T10:30:00Z", "staff": "staff-4", "service": "cut"},
         "context": {"reason": "customer asked to move it", "channel": "phone"},
         "changes": [{"path": "start", "old": "2026-03-28T10:00:00Z", "new": "2026-03-30T10:30:00Z"}],
         "related": [{"kind": "customer", "id": f"cust-{random.randrange(5000)}"}]}
    return (os.urandom(16), 1_700_000_000_000_000 + i * 1000, 1_700_000_000_000_000 + i * 1000,
            random.choice(tenants), "staff", random.choice(actors), "Ana Silva", random.choice(actions),
            "booking", f"bk-{random.randrange(100000)}", "web", "success", json.dumps(b))
def run(kind, path):
    for s in ("", "-wal", "-shm"):
        try: os.remove(path + s)
        except FileNotFoundError: pass
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=FULL")
    c.execute("PRAGMA wal_autocheckpoint=0")
    c.executescript(HAND if kind == "hand" else MIN)
    # warm-up log of 20k rows so b-trees have depth, then checkpoint
    c.execute("BEGIN")
    prev = b"\0" * 32
    for i in range(20000):
        ev = event(i); h = hashlib.sha256(prev + ev[-1].encode()).digest()
        c.execute("INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (i + 1,) + ev + (prev, h))
        if kind != "hand":
            c.execute("INSERT INTO personal VALUES (?,?,?,?)", (i + 1, "actor.name", '"Ana Silva"', os.urandom(16)))
        prev = h
    c.execute("COMMIT"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    evs = [event(20000 + i) for i in range(N)]
    t0 = time.perf_counter()
    for i, ev in enumerate(evs):
        seq = 20001 + i
        h = hashlib.sha256(prev + ev[-1].encode()).digest()
        c.execute("BEGIN")
        c.execute("INSERT INTO log VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (seq,) + ev + (prev, h))
        if kind != "hand":
            c.execute("INSERT INTO pending VALUES (?, ?)", (seq, "booking bk-1 customer cust-2 start reschedule moved phone Ana Silva"))
            c.execute("INSERT INTO personal VALUES (?,?,?,?)", (seq, "actor.name", '"Ana Silva"', os.urandom(16)))
            c.execute("UPDATE head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        c.execute("COMMIT")
        prev = h
    dt = time.perf_counter() - t0
    frames = (os.path.getsize(path + "-wal") - 32) / (4096 + 24)
    c.close()
    return N / dt, frames / N
res = {"hand": [], "min": []}
for r in range(int(os.environ.get("ROUNDS", "3"))):
    for k in ("hand", "min"):
        res[k].append(run(k, os.path.join(DIR, f"floor-{k}.db")))
for k, v in res.items():
    print(k, "rates", [round(x[0]) for x in v], "frames/commit", [round(x[1], 2) for x in v])
import statistics
print("ratio min/hand per round", [round(m[0] / h[0], 2) for h, m in zip(res["hand"], res["min"])])
