-- people.sql - a table of realistic rows for the demo and the benchmarks:
--   sqlite3 people.db < scripts/people.sql        (1,000,000 rows)
-- The row count comes from the temp table `want` if the caller made one
-- first (CREATE TEMP TABLE want(n); INSERT INTO want VALUES (10000000);).
-- Deterministic: the same rows every time.  Some names carry quotes and
-- commas; one email in fifty is NULL.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TEMP TABLE IF NOT EXISTS want(n INTEGER);
CREATE TEMP TABLE first(k INTEGER PRIMARY KEY, v TEXT);
INSERT INTO first VALUES (0,'Ada'),(1,'Grace'),(2,'Alan'),(3,'Edsger'),(4,'Barbara'),
  (5,'Donald'),(6,'Margaret'),(7,'Ken'),(8,'Dennis'),(9,'Frances'),(10,'John'),
  (11,'Radia'),(12,'Niklaus'),(13,'Sophie'),(14,'Tony'),(15,'Liskov');
CREATE TEMP TABLE last(k INTEGER PRIMARY KEY, v TEXT);
INSERT INTO last VALUES (0,'Lovelace'),(1,'Hopper'),(2,'Turing'),(3,'Dijkstra'),
  (4,'O''Brien'),(5,'Knuth'),(6,'Hamilton'),(7,'Thompson'),(8,'Ritchie'),
  (9,'Allen, Jr.'),(10,'McCarthy'),(11,'Perlman'),(12,'Wirth'),(13,'Wilson'),
  (14,'"The Hoare"'),(15,'Smith-Jones');
CREATE TABLE people(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT,
  amount REAL NOT NULL,
  created_at TEXT NOT NULL
);
WITH RECURSIVE n(i) AS (
  SELECT 1 UNION ALL SELECT i + 1 FROM n
  WHERE i < coalesce((SELECT n FROM want LIMIT 1), 1000000)
)
INSERT INTO people
SELECT i,
       f.v || ' ' || l.v,
       CASE WHEN i % 50 = 0 THEN NULL
            ELSE lower(f.v) || '.' || i || '@example.com' END,
       ((i * 7919) % 1000000) / 100.0,
       strftime('%Y-%m-%dT%H:%M:%SZ', 1600000000 + i * 37, 'unixepoch')
FROM n
JOIN first f ON f.k = (i * 7) % 16
JOIN last l ON l.k = (i * 13) % 16;
