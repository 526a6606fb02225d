-- pg-fixtures.sql - test data for `plumb export` from PostgreSQL.
--
-- Load into a server started by postgres.sh:
--     tests/services/postgres.sh fixtures DIR
-- (or: psql -X -v ON_ERROR_STOP=1 -f tests/services/pg-fixtures.sql).
-- Re-loading is safe: every object is dropped first.
--
-- Every table has an `id` column: ORDER BY id gives a stable order that
-- expected outputs can rely on.  Every value is deterministic (no random(),
-- no now()), so an expected export can be written down once.  Non-ASCII
-- text is written with escapes (E'\u00e9', E'\U0001F600') so that this file
-- is plain ASCII and its bytes do not depend on an editor; the comments
-- name each character.  The server must use UTF8 (postgres.sh does) and
-- TimeZone UTC, as postgres.sh sets it: timestamptz values are printed in
-- the session's time zone.
--
-- Tables (one per family of types), rows counted:
--   t_int        8   smallint, integer, bigint at and near their limits
--   t_float     16   real, double precision: 0.1, 1e300, -0.0, NaN, +-Infinity,
--                    subnormals, limits
--   t_numeric   12   numeric: huge and tiny exact values, trailing zeros,
--                    NaN, +-Infinity; numeric(12,2)
--   t_bool       3   boolean true/false/NULL
--   t_text      40   text that breaks CSV/JSON/TSV writers: quotes, commas,
--                    newlines, CR, tabs, backslashes, control characters,
--                    multi-byte UTF-8, emoji, combining marks, '' vs NULL
--   t_bytea      7   bytea: empty, NUL, all 256 byte values, 64 KiB
--   t_json      12   json and jsonb side by side
--   t_datetime  10   date, timestamp, timestamptz, time, timetz, interval,
--                    including infinity and BC
--   t_uuid       4   uuid
--   t_array     10   int[], text[], bigint[], numeric[], 2-D arrays, NULL elements
--   t_other     3    types a writer may only print as text: char(n),
--                    varchar(n), inet, cidr, macaddr, money, bit varying,
--                    int4range, an enum, a domain, a composite, point, oid
--   t_colnames   2   column names that need quoting in a CSV header or JSON key
--   t_empty      0   no rows at all: header only
--   t_allnull    3   every column NULL
--   people   10000   (id, name, email, amount numeric(12,2), created_at
--                    timestamptz): a realistic table; some names hold quotes
--                    and commas, some emails are NULL
--   t_wide       100 rows of 50 columns (export of many columns)

SET client_min_messages = warning;
SET TimeZone = 'UTC';

DROP TABLE IF EXISTS t_int, t_float, t_numeric, t_bool, t_text, t_bytea,
    t_json, t_datetime, t_uuid, t_array, t_other, t_colnames, t_empty,
    t_allnull, people, t_wide CASCADE;
DROP TYPE IF EXISTS fx_mood CASCADE;
DROP TYPE IF EXISTS fx_pair CASCADE;
DROP DOMAIN IF EXISTS fx_posint CASCADE;

-- t_int: integer types at their limits.  Row 1 is all minima, row 2 all
-- maxima; 2^53 +- 1 (the end of exactly representable integers in a double:
-- a JSON writer must not go through a double), zero, -1 and NULLs.
CREATE TABLE t_int (
    id  integer PRIMARY KEY,
    i2  smallint,
    i4  integer,
    i8  bigint
);
INSERT INTO t_int VALUES
    (1, -32768, -2147483648, -9223372036854775808),
    (2, 32767, 2147483647, 9223372036854775807),
    (3, 0, 0, 0),
    (4, -1, -1, -1),
    (5, 1, 1, 9007199254740993),        -- 2^53 + 1: not a double
    (6, 255, 65536, 9007199254740992),  -- 2^53
    (7, NULL, NULL, NULL),
    (8, 12345, -123456789, -9223372036854775807);

-- t_float: binary floating point.  PostgreSQL (extra_float_digits = 1, the
-- default since 12) prints the shortest text that reads back to the same
-- value: 0.1 prints as 0.1, not 0.10000000000000001.  -0 prints as "-0".
-- NaN and +-Infinity print as NaN, Infinity, -Infinity: JSON has no
-- spelling for them (a JSON writer must choose null or a string).
CREATE TABLE t_float (
    id  integer PRIMARY KEY,
    f4  real,
    f8  double precision,
    note text
);
INSERT INTO t_float VALUES
    (1, 0.1, 0.1, '0.1 is not exact in binary'),
    (2, 1e30, 1e300, 'large'),
    (3, -1e30, -1e300, 'large negative'),
    (4, '-0', '-0', 'negative zero'),
    (5, 0, 0, 'zero'),
    (6, 'NaN', 'NaN', 'not a number'),
    (7, 'Infinity', 'Infinity', 'infinity'),
    (8, '-Infinity', '-Infinity', 'negative infinity'),
    (9, 3.4028235e38, 1.7976931348623157e308, 'largest finite'),
    (10, 1.1754944e-38, 2.2250738585072014e-308, 'smallest normal'),
    (11, 1e-45, 5e-324, 'smallest subnormal'),
    (12, 1.5, 123456789.123456789, 'more digits than a double holds'),
    (13, 16777217, 9007199254740993, 'integers past the mantissa'),
    (14, 1e-7, 1e-7, 'small: printed with an exponent'),
    (15, 100000, 1e15, 'real 1e5 prints plain, double 1e15 with an exponent'),
    (16, NULL, NULL, NULL);

-- t_numeric: arbitrary precision decimals; must be exported digit for digit
-- (never through a double).  Trailing zeros are significant in PostgreSQL
-- ('1.500' stays 1.500).  numeric has NaN and (since 14) +-Infinity.
CREATE TABLE t_numeric (
    id  integer PRIMARY KEY,
    n   numeric,
    n12_2 numeric(12,2)
);
INSERT INTO t_numeric VALUES
    (1, 0, 0),
    (2, '12345678901234567890123456789012345678901234567890.123456789012345678901234567890', 9999999999.99),
    (3, '-0.000000000000000000000000000001', -9999999999.99),
    (4, '1.500', 1.5),
    (5, '0.1', 0.10),
    (6, '1e-100', 0.01),
    (7, '1e100', -0.01),
    (8, 'NaN', NULL),
    (9, 'Infinity', 1234.5),
    (10, '-Infinity', 0.005),   -- rounds to 0.01
    (11, '-123.456', -123.456), -- n12_2 rounds to -123.46
    (12, NULL, NULL);

-- t_bool
CREATE TABLE t_bool (
    id  integer PRIMARY KEY,
    b   boolean
);
INSERT INTO t_bool VALUES (1, true), (2, false), (3, NULL);

-- t_text: strings that writers must quote or escape.  `label` names the
-- case (plain ASCII), `v` holds the value.  '' (row 2) and NULL (row 1)
-- must stay distinguishable where the format allows.  PostgreSQL text can
-- not hold NUL (U+0000); every other character is here somewhere.
CREATE TABLE t_text (
    id    integer PRIMARY KEY,
    label text NOT NULL,
    v     text
);
INSERT INTO t_text VALUES
    (1, 'null', NULL),
    (2, 'empty string', ''),
    (3, 'plain', 'hello'),
    (4, 'single quote', 'O''Brien'),
    (5, 'double quotes', 'say "hi"'),
    (6, 'only a double quote', '"'),
    (7, 'comma', 'a,b'),
    (8, 'comma and quotes', '"Smith, John", Jr.'),
    (9, 'newline LF', E'line1\nline2'),
    (10, 'CRLF', E'line1\r\nline2'),
    (11, 'lone CR', E'line1\rline2'),
    (12, 'trailing newline', E'ends with newline\n'),
    (13, 'tab', E'col1\tcol2'),
    (14, 'backslash', E'C:\\temp\\new'),      -- C:\temp\new
    (15, 'backslash N', E'\\N'),               -- the two characters \N (COPY's NULL)
    (16, 'the word NULL', 'NULL'),
    (17, 'leading and trailing spaces', '  padded  '),
    (18, 'only spaces', '   '),
    (19, 'control characters', E'\x01\x02\x07\x08\x0b\x0c\x1b\x1f'),  -- SOH STX BEL BS VT FF ESC US
    (20, 'DEL', E'a\x7fb'),
    (21, 'latin-1 range', E'na\u00efve caf\u00e9 \u00fc\u00df'),        -- naive cafe with diaeresis/acute, u-umlaut, sharp s
    (22, 'CJK', E'\u65e5\u672c\u8a9e'),                                 -- Japanese "nihongo" (3 bytes each)
    (23, 'emoji', E'\U0001F600'),                                       -- grinning face (4 bytes, surrogate pair in UTF-16/JSON)
    (24, 'flag', E'\U0001F1EB\U0001F1F7'),                             -- regional indicators F R (flag of France)
    (25, 'ZWJ sequence', E'\U0001F469\u200D\U0001F469\u200D\U0001F467'), -- woman ZWJ woman ZWJ girl
    (26, 'combining accent', E'e\u0301'),                               -- e + combining acute (looks like one character)
    (27, 'right to left', E'\u05e9\u05dc\u05d5\u05dd'),                -- Hebrew "shalom"
    (28, 'BOM', E'\ufeffstarts with a byte order mark'),
    (29, 'line and paragraph separators', E'a\u2028b\u2029c'),        -- U+2028/2029: invalid raw in JS strings
    (30, 'C1 control', E'a\u0085b'),                                    -- NEL, a newline to some readers
    (31, 'non-breaking space', E'a\u00a0b'),
    (32, 'highest code point', E'\U0010FFFF'),
    (33, 'all the specials', E'"\t,\n\r\\''; |'),
    (34, 'pipe and semicolon', 'a|b;c'),
    (35, 'HTML-ish', '<a href="x">&amp;</a>'),
    (36, 'JSON-ish', '{"k": [1, "two"]}'),
    (37, 'spreadsheet formula', '=1+2'),
    (38, 'long', repeat('0123456789abcdef', 8192)),                     -- 128 KiB in one value
    (39, 'long multi-byte', repeat(E'\u00e9\U0001F600', 10000)),       -- 60000 bytes
    (40, 'quote at the end', 'trailing"');

-- t_bytea: binary data.  PostgreSQL prints bytea as \x followed by hex
-- (bytea_output = hex).  Row 4 holds the 256 byte values 00..ff in order.
CREATE TABLE t_bytea (
    id  integer PRIMARY KEY,
    label text NOT NULL,
    b   bytea
);
INSERT INTO t_bytea VALUES
    (1, 'null', NULL),
    (2, 'empty', ''::bytea),
    (3, 'one NUL', '\x00'::bytea),
    (4, 'all 256 byte values',
        (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex')
           FROM generate_series(0, 255) AS i)),
    (5, 'ASCII text as bytes', convert_to('hello, "world"', 'UTF8')),
    (6, 'UTF-8 text as bytes', convert_to(E'\U0001F600', 'UTF8')),   -- f0 9f 98 80
    (7, '64 KiB: sha256 chain',
        (SELECT string_agg(sha256(int4send(i)), ''::bytea ORDER BY i)
           FROM generate_series(1, 2048) AS i));

-- t_json: json keeps its input text as is (whitespace, key order, duplicate
-- keys); jsonb normalises it (sorted keys by length then bytes, last
-- duplicate wins, canonical spacing).  j and jb hold the same input.  Row 1
-- is SQL NULL; row 2 is the JSON literal null.
CREATE TABLE t_json (
    id  integer PRIMARY KEY,
    j   json,
    jb  jsonb
);
INSERT INTO t_json (id, j) VALUES
    (1, NULL),
    (2, 'null'),
    (3, '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}'),
    (4, '[]'),
    (5, '{}'),
    (6, '  {"spaced" :   "out" }  '),
    (7, '{"dup": 1, "dup": 2}'),
    (8, '{"big": 123456789012345678901234567890, "small": 1e-400, "neg": -0.0}'),
    (9, '"just a string with \"quotes\", \\ and \n escapes"'),
    (10, ('{"unicode": "\u00e9\ud83d\ude00", "raw": "' || E'\u00e9\U0001F600' || '"}')::json),
    (11, '{"z": 1, "a": 2, "mm": 3}'),
    (12, '[1, "two", 3.0, {"four": [4]}]');
UPDATE t_json SET jb = j::jsonb;

-- t_datetime: dates and times.  Timestamps with a time zone are stored as
-- UTC and printed in the session TimeZone (UTC here); ts holds microseconds
-- on some rows.  Row 9 holds infinities, row 8 years BC, row 10 NULLs.
CREATE TABLE t_datetime (
    id    integer PRIMARY KEY,
    d     date,
    ts    timestamp,
    tstz  timestamptz,
    t     time,
    ttz   timetz,
    iv    interval
);
INSERT INTO t_datetime VALUES
    (1, '2024-01-15', '2024-01-15 10:30:00', '2024-01-15 10:30:00+00', '10:30:00', '10:30:00+00', '1 day'),
    (2, '2000-02-29', '2000-02-29 23:59:59.999999', '2000-02-29 23:59:59.999999-08', '23:59:59.999999', '23:59:59.999999-08', '1 year 2 mons 3 days 04:05:06.789'),
    (3, '1970-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '00:00:00', '00:00:00+14', '0'),
    (4, '1969-12-31', '1969-12-31 23:59:59.5', '1969-12-31 23:59:59.5+00', '12:00:00.5', '12:00:00-12', '-1 day -00:00:01'),
    (5, '2038-01-19', '2038-01-19 03:14:08', '2038-01-19 03:14:08+05:30', '24:00:00', '24:00:00+00', '-1 year'),
    (6, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59+00', '00:00:00.000001', '00:00:00.000001+00', '178000000 years'),
    (7, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '01:02:03', '01:02:03+01:30', '00:00:00.000001'),
    (8, '0044-03-15 BC', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC', '12:00:00', '12:00:00+00', '1 mon -1 day'),
    (9, 'infinity', 'infinity', '-infinity', '00:00:00', '00:00:00+00', '100 days 23:00:00'),
    (10, NULL, NULL, NULL, NULL, NULL, NULL);

-- t_uuid
CREATE TABLE t_uuid (
    id  integer PRIMARY KEY,
    u   uuid
);
INSERT INTO t_uuid VALUES
    (1, '00000000-0000-0000-0000-000000000000'),
    (2, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
    (3, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),  -- prints in lower case
    (4, NULL);

-- t_array: PostgreSQL arrays print as {a,b}; elements with commas, quotes,
-- braces, spaces or backslashes, empty strings and the word NULL are
-- double-quoted inside; a NULL element prints as NULL (unquoted).
CREATE TABLE t_array (
    id   integer PRIMARY KEY,
    ia   int[],
    ta   text[],
    ba   bigint[],
    na   numeric[]
);
INSERT INTO t_array VALUES
    (1, '{1,2,3}', '{a,b,c}', '{9223372036854775807}', '{1.50,-0.001}'),
    (2, '{}', '{}', '{}', '{}'),
    (3, '{NULL,1}', ARRAY[NULL, 'x'], ARRAY[NULL]::bigint[], ARRAY[NULL]::numeric[]),
    (4, NULL, NULL, NULL, NULL),
    (5, '{{1,2},{3,4}}', '{{a,b},{c,d}}', '{{1},{2}}', '{{1.0}}'),
    (6, '{-2147483648,2147483647}', ARRAY['with,comma', 'with "quote"', 'with\backslash', '{braces}'], '{0}', '{NaN}'),
    (7, '{0}', ARRAY['', ' ', 'NULL', 'null'], '{-1}', '{0}'),
    (8, '{1}', ARRAY[E'new\nline', E'tab\there', E'\u00e9\U0001F600'], '{1}', '{1e20}'),
    (9, '[0:2]={7,8,9}', '{single}', '{1,2}', '{2}'),   -- lower bound 0: prints with [0:2]=
    (10, '{5}', ARRAY['O''Brien', '"', ','], '{3}', '{3}');

-- t_other: types that a writer may not know and should print as
-- PostgreSQL's text output.  char(5) pads with spaces ('ab' -> 'ab   ').
CREATE TYPE fx_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE fx_pair AS (x integer, y text);
CREATE DOMAIN fx_posint AS integer CHECK (VALUE > 0);
CREATE TABLE t_other (
    id     integer PRIMARY KEY,
    c5     char(5),
    vc     varchar(10),
    ip     inet,
    net    cidr,
    mac    macaddr,
    cash   money,
    bits   bit varying(16),
    r      int4range,
    mood   fx_mood,
    pos    fx_posint,
    pair   fx_pair,
    pt     point,
    o      oid
);
INSERT INTO t_other VALUES
    (1, 'ab', 'abc', '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, B'1010', '[1,10)', 'happy', 1, ROW(1, 'a,"b"'), '(1.5,-2)', 4294967295),
    (2, 'abcde', '', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', -0.01, B'', 'empty', 'sad', 2147483647, ROW(NULL, NULL), '(0,0)', 0),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- t_colnames: column names that must be quoted or escaped in a CSV header
-- or used as JSON keys as they are.
CREATE TABLE t_colnames (
    id          integer PRIMARY KEY,
    "Mixed Case" integer,
    "with,comma" integer,
    "with ""quote""" integer,
    "select"    integer,              -- a reserved word
    "na\u00efve" integer,               -- literally a backslash-u name: not an escape here
    U&"caf\00e9" integer,              -- cafe with e-acute, as a UTF-8 name
    "new
line"       integer                  -- a newline inside the name
);
INSERT INTO t_colnames VALUES (1, 1, 2, 3, 4, 5, 6, 7), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- t_empty: no rows; an export writes only its header (or nothing).
CREATE TABLE t_empty (
    id  integer PRIMARY KEY,
    name text,
    amount numeric(12,2)
);

-- t_allnull: a row of NULLs in every type above.
CREATE TABLE t_allnull (
    id  integer PRIMARY KEY,
    i   integer, f double precision, n numeric, b boolean, t text, by bytea,
    j   json, jb jsonb, d date, ts timestamptz, u uuid, ia int[]
);
INSERT INTO t_allnull (id) VALUES (1), (2), (3);

-- people: 10,000 rows of a realistic shape.  Deterministic from id:
--   name:  'Person N'; every 7th id "O'Brien N" (apostrophe); every 11th
--          'Smith, N' (comma); every 13th 'Jo "JJ" N' (double quotes); every
--          17th 'Ren\u00e9e N' (e-acute); every 1000th has a newline
--          (the first matching rule wins, in that order: 1000, 7, 11, 13, 17)
--   email: 'personN@example.com', NULL for every 101st id
--   amount: (id * 7919 mod 1000000) / 100, negated for every 5th id:
--          from -9999.99 to 9999.99 with two decimals
--   created_at: 2024-01-01 00:00:00 UTC + id * 17 min 3.5 s
CREATE TABLE people (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    amount      numeric(12,2) NOT NULL,
    created_at  timestamptz NOT NULL
);
INSERT INTO people
SELECT i,
       CASE WHEN i % 1000 = 0 THEN E'Multi\nLine ' || i
            WHEN i % 7 = 0 THEN 'O''Brien ' || i
            WHEN i % 11 = 0 THEN 'Smith, ' || i
            WHEN i % 13 = 0 THEN 'Jo "JJ" ' || i
            WHEN i % 17 = 0 THEN E'Ren\u00e9e ' || i
            ELSE 'Person ' || i END,
       CASE WHEN i % 101 = 0 THEN NULL ELSE 'person' || i || '@example.com' END,
       ((i * 7919) % 1000000) / 100.0 * CASE WHEN i % 5 = 0 THEN -1 ELSE 1 END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3.5 seconds'
  FROM generate_series(1, 10000) AS i;

-- t_wide: 50 columns (c01..c50) over 100 rows: c01..c25 integers
-- (id * column number), c26..c50 text ('rN-cM').
DO $$
DECLARE
    cols text := '';
    vals text := '';
BEGIN
    FOR c IN 1..50 LOOP
        cols := cols || format(', c%s %s', lpad(c::text, 2, '0'),
                               CASE WHEN c <= 25 THEN 'integer' ELSE 'text' END);
        vals := vals || CASE WHEN c <= 25 THEN format(', i * %s', c)
                             ELSE format(', ''r'' || i || ''-c%s''', c) END;
    END LOOP;
    EXECUTE 'CREATE TABLE t_wide (id integer PRIMARY KEY' || cols || ')';
    EXECUTE 'INSERT INTO t_wide SELECT i' || vals || ' FROM generate_series(1, 100) AS i';
END
$$;

ANALYZE;
